// Evaluation of expressions during lowering: numbers are computed, tensors
// become IR ops through the op table, loops unroll and `if` picks its branch.
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <llvm/Support/CheckedArithmetic.h>

#include "frontend/Lowering.h"

namespace kiln::lang {

std::string describe(const Object &object) {
  switch (object.kind) {
  case Object::Kind::Poison: return "an erroneous value";
  case Object::Kind::Int: return "the int " + std::to_string(object.integer);
  case Object::Kind::Float: return "the float " + formatFloat(object.number);
  case Object::Kind::Bool: return object.integer ? "the bool true" : "the bool false";
  case Object::Kind::String: return "a string";
  case Object::Kind::DType: return fmt::format("the dtype {}", dtypeName(object.dtype));
  case Object::Kind::Tensor: return "a tensor " + toString(object.tensor->type());
  case Object::Kind::List: return fmt::format("a list of {}", object.elements->size());
  case Object::Kind::Tuple: return fmt::format("a tuple of {}", object.elements->size());
  case Object::Kind::Component: return fmt::format("the {} {}", object.component->keyword(), object.component->name);
  case Object::Kind::Instance: return fmt::format("an instance of {}", object.instance->decl->name);
  case Object::Kind::Function:
    return fmt::format("the function {}", object.function->name.empty() ? "<call>" : object.function->name);
  case Object::Kind::Builtin: return fmt::format("the built-in {}", object.text);
  case Object::Kind::Parameter: return "a parameter";
  case Object::Kind::None: return "none";
  }
  return "a value";
}

void Lowerer::setLocation(llvm::SMRange where) {
  if (!builder_ || !where.isValid()) return;
  llvm::SourceMgr &sources = diagnostics_.sources();
  unsigned buffer = sources.FindBufferContainingLoc(where.Start);
  if (buffer == 0) return;
  auto [line, column] = sources.getLineAndColumn(where.Start, buffer);
  builder_->setLocation(Location{sources.getMemoryBuffer(buffer)->getBufferIdentifier().str(), line, column});
}

bool Lowerer::checkElementCount(const Shape &shape, llvm::SMRange where) {
  int64_t count = 1;
  for (int64_t extent : shape) {
    if (extent < 0) {
      diagnostics_.error(where, fmt::format("negative dimension in {}", toString(shape)));
      return false;
    }
    std::optional<int64_t> product = llvm::checkedMul(count, extent);
    if (!product || *product > kMaxElementCount) {
      diagnostics_.error(where,
                         fmt::format("the shape {} has more elements than Kiln supports (2^40)", toString(shape)));
      return false;
    }
    count = *product;
  }
  return true;
}

// Turns a number into a constant of `dtype` (rank 0) so that it broadcasts against a tensor.
kiln::Value *Lowerer::asTensor(const Object &object, std::optional<DType> dtype, llvm::SMRange where) {
  if (object.kind == Object::Kind::Tensor) return object.tensor;
  if (object.kind == Object::Kind::Parameter) {
    Object tensor = parameterTensor(object, where);
    return tensor.isPoison() ? nullptr : tensor.tensor;
  }
  if (!builder_) {
    diagnostics_.error(where, "tensors exist only inside functions");
    return nullptr;
  }
  if (!object.isNumber()) {
    if (!object.isPoison())
      diagnostics_.error(where, fmt::format("expected a tensor or a number, found {}", describe(object)));
    return nullptr;
  }
  DType type = dtype                               ? *dtype
               : object.kind == Object::Kind::Int  ? DType::I64
               : object.kind == Object::Kind::Bool ? DType::I1
                                                   : DType::F32;
  if (object.kind == Object::Kind::Float && !isFloat(type)) {
    diagnostics_.error(where, fmt::format("the float {} cannot be used with an {} tensor", formatFloat(object.number),
                                          dtypeName(type)));
    return nullptr;
  }
  AttrValue value = isFloat(type) ? AttrValue(Floats{object.asDouble()}) : AttrValue(Ints{object.integer});
  // Through the type rule, which rejects what the dtype cannot hold (2 as an i1).
  Object constant = createOp(OpKind::Constant, {}, {{"value", std::move(value)}}, TensorType{type, {}}, where);
  return constant.isPoison() ? nullptr : constant.tensor;
}

void Lowerer::noteDeclarations(const std::vector<kiln::Value *> &operands) {
  for (kiln::Value *operand : operands)
    if (auto it = declaredAt_.find(operand); it != declaredAt_.end())
      diagnostics_.note(it->second,
                        fmt::format("'{}' is {}, declared here", operand->name(), toString(operand->type())));
}

Object Lowerer::createOp(OpKind kind, std::vector<kiln::Value *> operands, std::vector<NamedAttribute> attributes,
                         std::optional<TensorType> declared, llvm::SMRange where) {
  if (!builder_) {
    diagnostics_.error(where, fmt::format("'{}' computes a tensor, which only a function can do", opName(kind)));
    return Object::poison();
  }
  setLocation(where);
  auto result = builder_->tryCreate(kind, operands, attributes, std::move(declared));
  if (!result) {
    diagnostics_.error(where, fmt::format("{}: {}", opName(kind), llvm::toString(result.takeError())));
    noteDeclarations(operands);
    return Object::poison();
  }
  if (!checkElementCount((*result)->type().shape, where)) return Object::poison();
  return Object::ofTensor(*result);
}

Object Lowerer::parameterTensor(const Object &parameter, llvm::SMRange where) {
  if (initializing || static_cast<size_t>(parameter.integer) >= parameterValues_.size()) {
    diagnostics_.error(where, "parameters are not available here: initializers and layer members are computed "
                              "before any parameter exists");
    return Object::poison();
  }
  if (!parameterValues_[parameter.integer]) {
    diagnostics_.error(where, fmt::format("buffer '{}' is the model's, not the optimizer's: an update cannot read it",
                                          parameters_[parameter.integer].path));
    return Object::poison();
  }
  return Object::ofTensor(parameterValues_[parameter.integer]);
}

bool Lowerer::countStep(llvm::SMRange where) {
  if (++unrolledSteps_ <= kMaxUnrolledSteps) return true;
  if (unrolledSteps_ == kMaxUnrolledSteps + 1)
    diagnostics_.error(where, fmt::format("compile-time loops ran more than {} steps in total", kMaxUnrolledSteps));
  return false;
}

bool Lowerer::chargeWork(int64_t units, llvm::SMRange where) {
  if (evaluationWork_ > kMaxEvaluationWork) return false;
  evaluationWork_ += units;
  if (evaluationWork_ <= kMaxEvaluationWork) return true;
  diagnostics_.error(where, fmt::format("compile-time evaluation is too large: it exceeded its budget of {} steps "
                                        "(each expression evaluated and each list element built is a step)",
                                        kMaxEvaluationWork));
  return false;
}

// Called before a list or tuple of `length` is built: charges its elements and refuses one
// longer than any loop could walk.
bool Lowerer::admitList(int64_t length, llvm::SMRange where) {
  if (length > kMaxListLength) {
    diagnostics_.error(where, fmt::format("a list of {} elements is longer than the {} a compile-time list may hold",
                                          length, kMaxListLength));
    return false;
  }
  return chargeWork(length, where);
}

Object Lowerer::evaluate(const Expr &expr, Scope &scope) {
  if (diagnostics_.tooManyErrors() || !chargeWork(1, expr.range)) return Object::poison();
  // Nesting inside one expression is bounded by the parser, but calls multiply it.
  if (evaluationDepth_ >= kMaxEvaluationDepth) {
    diagnostics_.error(expr.range, "expressions and calls nest too deeply to evaluate");
    return Object::poison();
  }
  ++evaluationDepth_;
  Object result = evaluateUnguarded(expr, scope);
  --evaluationDepth_;
  return result;
}

Object Lowerer::evaluateUnguarded(const Expr &expr, Scope &scope) {
  switch (expr.kind) {
  case ExprKind::Integer: return Object::ofInt(llvm::cast<IntegerExpr>(expr).value);
  case ExprKind::Float: return Object::ofFloat(llvm::cast<FloatExpr>(expr).value);
  case ExprKind::Bool: return Object::ofBool(llvm::cast<BoolExpr>(expr).value);
  case ExprKind::String: return Object::ofString(llvm::cast<StringExpr>(expr).value);
  case ExprKind::Name: return evaluateName(llvm::cast<NameExpr>(expr), scope);
  case ExprKind::Member: return evaluateMember(llvm::cast<MemberExpr>(expr), scope);
  case ExprKind::Call: return call(llvm::cast<CallExpr>(expr), scope);
  case ExprKind::Index: return evaluateIndex(llvm::cast<IndexExpr>(expr), scope);
  case ExprKind::Unary: return evaluateUnary(llvm::cast<UnaryExpr>(expr), scope);
  case ExprKind::Binary: return evaluateBinary(llvm::cast<BinaryExpr>(expr), scope);
  case ExprKind::If: return evaluateIf(llvm::cast<IfExpr>(expr), scope);
  case ExprKind::Comprehension: return evaluateComprehension(llvm::cast<ComprehensionExpr>(expr), scope);
  case ExprKind::Range: return evaluateSequenceOf(expr, scope);
  case ExprKind::List:
  case ExprKind::Tuple: {
    const auto &elements =
        expr.kind == ExprKind::List ? llvm::cast<ListExpr>(expr).elements : llvm::cast<TupleExpr>(expr).elements;
    std::vector<Object> values;
    for (size_t i = 0; i < elements.size(); ++i) {
      if (creatingInstances) instancePath.push_back(std::to_string(i));
      values.push_back(evaluate(*elements[i], scope));
      if (creatingInstances) instancePath.pop_back();
    }
    return Object::ofSequence(expr.kind == ExprKind::List ? Object::Kind::List : Object::Kind::Tuple,
                              std::move(values));
  }
  }
  return Object::poison();
}

Object Lowerer::evaluateName(const NameExpr &expr, Scope &scope) {
  if (Binding *binding = scope.find(expr.name)) {
    binding->used = true;
    if (binding->value.kind == Object::Kind::Parameter) return parameterTensor(binding->value, expr.range);
    return binding->value;
  }
  if (std::optional<DType> dtype = parseDType(expr.name == "bool" ? "i1" : expr.name)) {
    Object object;
    object.kind = Object::Kind::DType;
    object.dtype = *dtype;
    return object;
  }
  if (isBuiltin(expr.name)) return Object::ofBuiltin(expr.name);
  if (expr.name == "inf") return Object::ofFloat(std::numeric_limits<double>::infinity());
  if (expr.name == "none") {
    Object none;
    none.kind = Object::Kind::None;
    return none;
  }
  diagnostics_.error(expr.range, fmt::format("unknown name '{}'", expr.name));
  return Object::poison();
}

Object Lowerer::evaluateMember(const MemberExpr &expr, Scope &scope) {
  Object base = evaluate(*expr.base, scope);
  if (base.isPoison()) return base;
  if (base.kind == Object::Kind::Instance) {
    if (const FnDecl *method = base.instance->decl->findMethod(expr.member)) {
      Object function;
      function.kind = Object::Kind::Function;
      function.function = method;
      function.instance = base.instance;
      function.definingScope = base.instance->scope.get();
      return function;
    }
    if (Binding *binding = base.instance->scope->findHere(expr.member)) {
      binding->used = true;
      if (binding->value.kind == Object::Kind::Parameter) return parameterTensor(binding->value, expr.range);
      return binding->value;
    }
    diagnostics_.error(expr.memberRange, fmt::format("{} has no member '{}'", base.instance->decl->name, expr.member));
    return Object::poison();
  }
  if (base.kind == Object::Kind::Tensor) {
    const TensorType &type = base.tensor->type();
    if (expr.member == "shape") {
      std::vector<Object> extents;
      for (int64_t extent : type.shape) extents.push_back(Object::ofInt(extent));
      return Object::ofSequence(Object::Kind::List, std::move(extents));
    }
    if (expr.member == "rank") return Object::ofInt(type.rank());
    // x.T reverses the axes, as NumPy's and PyTorch's .T: the transpose of a matrix.
    if (expr.member == "T") {
      Ints perm;
      for (int64_t axis = type.rank() - 1; axis >= 0; --axis) perm.push_back(axis);
      return createOp(OpKind::Transpose, {base.tensor}, {{"perm", perm}}, std::nullopt, expr.range);
    }
    if (expr.member == "dtype") {
      Object dtype;
      dtype.kind = Object::Kind::DType;
      dtype.dtype = type.dtype;
      return dtype;
    }
  }
  diagnostics_.error(expr.memberRange, fmt::format("{} has no member '{}'", describe(base), expr.member));
  return Object::poison();
}

Object Lowerer::evaluateUnary(const UnaryExpr &expr, Scope &scope) {
  Object operand = evaluate(*expr.operand, scope);
  if (operand.isPoison()) return operand;
  if (expr.op == UnaryOp::Not) {
    if (operand.kind == Object::Kind::Bool) return Object::ofBool(!operand.integer);
    diagnostics_.error(expr.range, fmt::format("'not' needs a compile-time bool, found {}", describe(operand)));
    return Object::poison();
  }
  if (operand.kind == Object::Kind::Int) {
    if (operand.integer == INT64_MIN) {
      diagnostics_.error(expr.range, "integer overflow");
      return Object::poison();
    }
    return Object::ofInt(-operand.integer);
  }
  if (operand.kind == Object::Kind::Float) return Object::ofFloat(-operand.number);
  if (operand.kind == Object::Kind::Tensor)
    return createOp(OpKind::Neg, {operand.tensor}, {}, std::nullopt, expr.range);
  diagnostics_.error(expr.range, fmt::format("cannot negate {}", describe(operand)));
  return Object::poison();
}

namespace {
OpKind tensorOpOf(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add: return OpKind::Add;
  case BinaryOp::Sub: return OpKind::Sub;
  case BinaryOp::Mul: return OpKind::Mul;
  case BinaryOp::Div: return OpKind::Div;
  case BinaryOp::MatMul: return OpKind::Matmul;
  case BinaryOp::Power: return OpKind::Pow;
  case BinaryOp::Equal: return OpKind::Eq;
  case BinaryOp::NotEqual: return OpKind::Ne;
  case BinaryOp::Less: return OpKind::Lt;
  case BinaryOp::LessEqual: return OpKind::Le;
  case BinaryOp::Greater: return OpKind::Gt;
  case BinaryOp::GreaterEqual: return OpKind::Ge;
  default: return OpKind::Add;
  }
}

bool hasTensorOp(BinaryOp op) { return op != BinaryOp::Mod && op != BinaryOp::And && op != BinaryOp::Or; }
}  // namespace

Object Lowerer::evaluateBinary(const BinaryExpr &expr, Scope &scope) {
  Object lhs = evaluate(*expr.lhs, scope);
  // `and` and `or` decide at compile time and skip the right side when the left one settles it.
  if ((expr.op == BinaryOp::And || expr.op == BinaryOp::Or) && lhs.kind == Object::Kind::Bool &&
      static_cast<bool>(lhs.integer) == (expr.op == BinaryOp::Or))
    return lhs;
  Object rhs = evaluate(*expr.rhs, scope);
  if (lhs.isPoison() || rhs.isPoison()) return Object::poison();
  if (lhs.isNumber() && rhs.isNumber()) return binaryOnNumbers(expr, lhs, rhs);
  if (expr.op == BinaryOp::Add && lhs.kind == Object::Kind::List && rhs.kind == Object::Kind::List) {
    if (!admitList(static_cast<int64_t>(lhs.elements->size() + rhs.elements->size()), expr.operatorRange))
      return Object::poison();
    std::vector<Object> joined = *lhs.elements;
    joined.insert(joined.end(), rhs.elements->begin(), rhs.elements->end());
    return Object::ofSequence(Object::Kind::List, std::move(joined));
  }
  if ((expr.op == BinaryOp::Equal || expr.op == BinaryOp::NotEqual) && lhs.kind == Object::Kind::String &&
      rhs.kind == Object::Kind::String)
    return Object::ofBool((lhs.text == rhs.text) == (expr.op == BinaryOp::Equal));
  if ((expr.op == BinaryOp::Equal || expr.op == BinaryOp::NotEqual) && lhs.kind == Object::Kind::DType &&
      rhs.kind == Object::Kind::DType)
    return Object::ofBool((lhs.dtype == rhs.dtype) == (expr.op == BinaryOp::Equal));
  // `x == none` asks whether an optional argument was given; any value but `none` differs from it.
  if ((expr.op == BinaryOp::Equal || expr.op == BinaryOp::NotEqual) &&
      (lhs.kind == Object::Kind::None || rhs.kind == Object::Kind::None))
    return Object::ofBool((lhs.kind == rhs.kind) == (expr.op == BinaryOp::Equal));
  bool tensorOperands =
      (lhs.kind == Object::Kind::Tensor || lhs.isNumber()) && (rhs.kind == Object::Kind::Tensor || rhs.isNumber());
  if (!tensorOperands || !hasTensorOp(expr.op)) {
    diagnostics_.error(expr.operatorRange, fmt::format("'{}' does not apply to {} and {}", spelling(expr.op),
                                                       describe(lhs), describe(rhs)));
    return Object::poison();
  }
  std::optional<DType> dtype = lhs.kind == Object::Kind::Tensor ? lhs.tensor->type().dtype : rhs.tensor->type().dtype;
  // x ** 2 is square(x): exact, and defined for a negative x, whose log pow's rule would take.
  if (expr.op == BinaryOp::Power && lhs.kind == Object::Kind::Tensor && rhs.isNumber() && rhs.asDouble() == 2)
    return createOp(OpKind::Square, {lhs.tensor}, {}, std::nullopt, expr.operatorRange);
  kiln::Value *left = asTensor(lhs, dtype, expr.lhs->range);
  kiln::Value *right = asTensor(rhs, dtype, expr.rhs->range);
  if (!left || !right) return Object::poison();
  return createOp(tensorOpOf(expr.op), {left, right}, {}, std::nullopt, expr.operatorRange);
}

// Compile-time arithmetic: ints stay ints (checked for overflow; `/` is exact or gives a
// float), anything with a float gives a float, comparisons give bools.
Object Lowerer::binaryOnNumbers(const BinaryExpr &expr, const Object &lhs, const Object &rhs) {
  auto overflow = [&] {
    diagnostics_.error(expr.operatorRange,
                       fmt::format("integer overflow in {} {} {}", lhs.integer, spelling(expr.op), rhs.integer));
    return Object::poison();
  };
  bool integers = lhs.kind != Object::Kind::Float && rhs.kind != Object::Kind::Float;
  double a = lhs.asDouble(), b = rhs.asDouble();
  switch (expr.op) {
  case BinaryOp::And:
  case BinaryOp::Or:
    if (lhs.kind != Object::Kind::Bool || rhs.kind != Object::Kind::Bool) break;
    return Object::ofBool(expr.op == BinaryOp::And ? (lhs.integer && rhs.integer) : (lhs.integer || rhs.integer));
  case BinaryOp::Equal: return Object::ofBool(a == b);
  case BinaryOp::NotEqual: return Object::ofBool(a != b);
  case BinaryOp::Less: return Object::ofBool(a < b);
  case BinaryOp::LessEqual: return Object::ofBool(a <= b);
  case BinaryOp::Greater: return Object::ofBool(a > b);
  case BinaryOp::GreaterEqual: return Object::ofBool(a >= b);
  case BinaryOp::Add:
    if (!integers) return Object::ofFloat(a + b);
    if (auto sum = llvm::checkedAdd(lhs.integer, rhs.integer)) return Object::ofInt(*sum);
    return overflow();
  case BinaryOp::Sub:
    if (!integers) return Object::ofFloat(a - b);
    if (auto difference = llvm::checkedSub(lhs.integer, rhs.integer)) return Object::ofInt(*difference);
    return overflow();
  case BinaryOp::Mul:
    if (!integers) return Object::ofFloat(a * b);
    if (auto product = llvm::checkedMul(lhs.integer, rhs.integer)) return Object::ofInt(*product);
    return overflow();
  case BinaryOp::Div:
  case BinaryOp::Mod:
    if (b == 0) {
      diagnostics_.error(expr.operatorRange, "division by zero");
      return Object::poison();
    }
    if (expr.op == BinaryOp::Mod) {
      if (!integers) return Object::ofFloat(std::fmod(a, b));
      if (lhs.integer == INT64_MIN && rhs.integer == -1) return overflow();
      return Object::ofInt(lhs.integer % rhs.integer);
    }
    if (integers && !(lhs.integer == INT64_MIN && rhs.integer == -1) && lhs.integer % rhs.integer == 0)
      return Object::ofInt(lhs.integer / rhs.integer);
    return Object::ofFloat(a / b);
  case BinaryOp::Power: {
    // An int to a non-negative int power stays an int, checked for overflow.
    // A base of magnitude 2 or more overflows within 63 multiplications.
    if (integers && rhs.integer >= 0) {
      if (rhs.integer == 0) return Object::ofInt(1);
      if (lhs.integer == 0 || lhs.integer == 1) return Object::ofInt(lhs.integer);
      if (lhs.integer == -1) return Object::ofInt(rhs.integer % 2 == 0 ? 1 : -1);
      int64_t result = 1;
      for (int64_t i = 0; i < rhs.integer; ++i) {
        std::optional<int64_t> product = llvm::checkedMul(result, lhs.integer);
        if (!product) return overflow();
        result = *product;
      }
      return Object::ofInt(result);
    }
    double result = std::pow(a, b);
    if (!std::isfinite(result)) {
      diagnostics_.error(expr.operatorRange,
                         fmt::format("{} ** {} is not a finite number", formatFloat(a), formatFloat(b)));
      return Object::poison();
    }
    return Object::ofFloat(result);
  }
  case BinaryOp::MatMul: break;
  }
  diagnostics_.error(expr.operatorRange,
                     fmt::format("'{}' does not apply to {} and {}", spelling(expr.op), describe(lhs), describe(rhs)));
  return Object::poison();
}

Object Lowerer::evaluateIf(const IfExpr &expr, Scope &scope) {
  Object condition = evaluate(*expr.condition, scope);
  if (condition.isPoison()) return condition;
  if (condition.kind != Object::Kind::Bool) {
    diagnostics_.error(expr.condition->range,
                       fmt::format("the condition of 'if' must be a compile-time bool, found {} (for tensors use "
                                   "select(condition, a, b))",
                                   describe(condition)));
    return Object::poison();
  }
  if (condition.integer) return evaluateBlock(expr.thenBlock, scope);
  if (expr.elseBlock) return evaluateBlock(*expr.elseBlock, scope);
  return Object::ofSequence(Object::Kind::Tuple, {});
}

// The elements a `for` or comprehension walks: a range, a list or a tuple.
Object Lowerer::evaluateSequenceOf(const Expr &iterable, Scope &scope) {
  if (const auto *range = llvm::dyn_cast<RangeExpr>(&iterable)) {
    std::optional<int64_t> start = evaluateSize(*range->start, scope);
    std::optional<int64_t> stop = evaluateSize(*range->stop, scope);
    if (!start || !stop) return Object::poison();
    if (*stop > *start && *stop - *start > kMaxUnrolledSteps) {
      diagnostics_.error(range->range, fmt::format("the range {}..{} is too long to unroll", *start, *stop));
      return Object::poison();
    }
    if (!chargeWork(std::max<int64_t>(*stop - *start, 0), range->range)) return Object::poison();
    std::vector<Object> values;
    for (int64_t i = *start; i < *stop; ++i) values.push_back(Object::ofInt(i));
    return Object::ofSequence(Object::Kind::List, std::move(values));
  }
  Object sequence = evaluate(iterable, scope);
  if (sequence.isPoison() || sequence.isSequence()) return sequence;
  diagnostics_.error(iterable.range,
                     fmt::format("expected a range or a list to iterate over, found {}", describe(sequence)));
  return Object::poison();
}

Object Lowerer::evaluateComprehension(const ComprehensionExpr &expr, Scope &scope) {
  Object sequence = evaluateSequenceOf(*expr.iterable, scope);
  if (sequence.isPoison()) return sequence;
  std::vector<Object> values;
  for (size_t i = 0; i < sequence.elements->size(); ++i) {
    if (!countStep(expr.range)) return Object::poison();
    Scope iteration(&scope);
    iteration.define(expr.variable, Binding{(*sequence.elements)[i], expr.variableRange, true});
    if (creatingInstances) instancePath.push_back(std::to_string(i));
    values.push_back(evaluate(*expr.element, iteration));
    if (creatingInstances) instancePath.pop_back();
  }
  return Object::ofSequence(Object::Kind::List, std::move(values));
}

std::optional<int64_t> Lowerer::evaluateSize(const Expr &expr, Scope &scope) {
  Object value = evaluate(expr, scope);
  if (value.isPoison()) return std::nullopt;
  if (value.kind == Object::Kind::Int) return value.integer;
  diagnostics_.error(expr.range, fmt::format("expected a compile-time int, found {}", describe(value)));
  return std::nullopt;
}

}  // namespace kiln::lang
