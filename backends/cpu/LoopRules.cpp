// Index-expression rules of the loop kernels: each gives an op's element at an index of its
// result from its operands' elements, computed exactly as the reference interpreter computes it
// (backends/interpreter: the same formulas, the same NaN handling, the C maths library where
// LLVM has no intrinsic), so that the differential tests can hold tolerances tight.
#include <algorithm>
#include <array>
#include <numbers>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/LoopEmitter.h"

namespace kiln::cpu::loops {

namespace {
using llvm::ArrayRef;
using IRValue = llvm::Value;

DType dtypeOf(const Value *value) { return value->type().dtype; }

// --- Elementwise: operands read at the (broadcast) index of the result. ---

IRValue *operandAt(ElementEmitter &emitter, const Operation &op, size_t operand, ArrayRef<IRValue *> index) {
  const Value *value = op.operand(operand);
  return emitter.element(value, emitter.broadcastIndex(value->type().shape, op.result()->type().shape, index));
}

IRValue *unary(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  IRValue *x = operandAt(emitter, op, 0, index);
  DType dtype = dtypeOf(op.result());
  bool floating = isFloat(dtype);
  IRValue *zero = emitter.constant(dtype, 0), *one = emitter.constant(dtype, 1);
  switch (op.kind()) {
  case OpKind::Neg: return floating ? builder.CreateFNeg(x) : builder.CreateSub(zero, x);
  case OpKind::Abs:
    return floating ? emitter.intrinsic(llvm::Intrinsic::fabs, {x})
                    : builder.CreateSelect(builder.CreateICmpSLT(x, zero), builder.CreateSub(zero, x), x);
  case OpKind::Sign: {
    if (!floating)
      return builder.CreateSub(builder.CreateZExt(builder.CreateICmpSGT(x, zero), x->getType()),
                               builder.CreateZExt(builder.CreateICmpSLT(x, zero), x->getType()));
    IRValue *sign = builder.CreateFSub(builder.CreateUIToFP(builder.CreateFCmpOGT(x, zero), x->getType()),
                                       builder.CreateUIToFP(builder.CreateFCmpOLT(x, zero), x->getType()));
    return builder.CreateSelect(builder.CreateFCmpUNO(x, x), x, sign);
  }
  case OpKind::Square: return floating ? builder.CreateFMul(x, x) : builder.CreateMul(x, x);
  case OpKind::Relu:
    return builder.CreateSelect(floating ? builder.CreateFCmpOLT(x, zero) : builder.CreateICmpSLT(x, zero), zero, x);
  case OpKind::LeakyRelu: {
    IRValue *alpha = emitter.constant(dtype, op.attributes().getFloat("alpha"));
    return builder.CreateSelect(builder.CreateFCmpOGT(x, zero), x, builder.CreateFMul(alpha, x));
  }
  case OpKind::Exp: return emitter.intrinsic(llvm::Intrinsic::exp, {x});
  case OpKind::Log: return emitter.intrinsic(llvm::Intrinsic::log, {x});
  case OpKind::Log1p: return emitter.libm("log1p", x);
  case OpKind::Sqrt: return emitter.intrinsic(llvm::Intrinsic::sqrt, {x});
  case OpKind::Rsqrt: return builder.CreateFDiv(one, emitter.intrinsic(llvm::Intrinsic::sqrt, {x}));
  case OpKind::Reciprocal: return builder.CreateFDiv(one, x);
  case OpKind::Tanh: return emitter.libm("tanh", x);
  case OpKind::Sigmoid: {
    // x >= 0: 1 / (1 + e^-x); else e^x / (1 + e^x): the exponent is never positive.
    IRValue *nonNegative = builder.CreateFCmpOGE(x, zero);
    IRValue *e = emitter.intrinsic(llvm::Intrinsic::exp, {builder.CreateSelect(nonNegative, builder.CreateFNeg(x), x)});
    IRValue *denominator = builder.CreateFAdd(one, e);
    return builder.CreateFDiv(builder.CreateSelect(nonNegative, one, e), denominator);
  }
  case OpKind::Gelu: {
    // x/2 * (1 + erf(x / sqrt(2))), with sqrt(2) rounded to the dtype as the interpreter's is.
    double root2 = dtype == DType::F32 ? double{std::numbers::sqrt2_v<float>} : std::numbers::sqrt2;
    IRValue *scaled = builder.CreateFDiv(x, emitter.constant(dtype, root2));
    IRValue *half = builder.CreateFMul(emitter.constant(dtype, 0.5), x);
    return builder.CreateFMul(half, builder.CreateFAdd(one, emitter.libm("erf", scaled)));
  }
  case OpKind::Erf: return emitter.libm("erf", x);
  case OpKind::Sin: return emitter.intrinsic(llvm::Intrinsic::sin, {x});
  case OpKind::Cos: return emitter.intrinsic(llvm::Intrinsic::cos, {x});
  default: llvm_unreachable("not a unary elementwise op");
  }
}

IRValue *binary(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  IRValue *a = operandAt(emitter, op, 0, index), *b = operandAt(emitter, op, 1, index);
  DType dtype = dtypeOf(op.operand(0));
  bool floating = isFloat(dtype);
  switch (op.kind()) {
  case OpKind::Add: return floating ? builder.CreateFAdd(a, b) : builder.CreateAdd(a, b);
  case OpKind::Sub: return floating ? builder.CreateFSub(a, b) : builder.CreateSub(a, b);
  case OpKind::Mul: return floating ? builder.CreateFMul(a, b) : builder.CreateMul(a, b);
  case OpKind::Div: {
    if (floating) return builder.CreateFDiv(a, b);
    // min / -1 wraps to -min, as the interpreter's; a zero divisor (which the interpreter refuses)
    // divides by one instead of trapping.
    IRValue *minusOne = emitter.constant(dtype, -1), *zero = emitter.constant(dtype, 0);
    IRValue *byMinusOne = builder.CreateICmpEQ(b, minusOne);
    IRValue *safe = builder.CreateSelect(builder.CreateOr(byMinusOne, builder.CreateICmpEQ(b, zero)),
                                         emitter.constant(dtype, 1), b);
    return builder.CreateSelect(byMinusOne, builder.CreateSub(zero, a), builder.CreateSDiv(a, safe));
  }
  case OpKind::Pow: return emitter.intrinsic(llvm::Intrinsic::pow, {a, b});
  case OpKind::Maximum:
  case OpKind::Minimum: {
    bool maximum = op.kind() == OpKind::Maximum;
    // a < b ? b : a (maximum), b < a ? b : a (minimum); NaN in either wins.
    IRValue *takeB = floating             ? (maximum ? builder.CreateFCmpOLT(a, b) : builder.CreateFCmpOLT(b, a))
                     : dtype == DType::I1 ? (maximum ? builder.CreateICmpULT(a, b) : builder.CreateICmpULT(b, a))
                                          : (maximum ? builder.CreateICmpSLT(a, b) : builder.CreateICmpSLT(b, a));
    IRValue *chosen = builder.CreateSelect(takeB, b, a);
    if (!floating) return chosen;
    return builder.CreateSelect(builder.CreateFCmpUNO(a, b), llvm::ConstantFP::getNaN(a->getType()), chosen);
  }
  default: break;
  }
  static constexpr std::array<std::array<llvm::CmpInst::Predicate, 3>, 6> kPredicates{{
      // float, signed integer, i1
      {llvm::CmpInst::FCMP_OEQ, llvm::CmpInst::ICMP_EQ, llvm::CmpInst::ICMP_EQ},
      {llvm::CmpInst::FCMP_UNE, llvm::CmpInst::ICMP_NE, llvm::CmpInst::ICMP_NE},
      {llvm::CmpInst::FCMP_OLT, llvm::CmpInst::ICMP_SLT, llvm::CmpInst::ICMP_ULT},
      {llvm::CmpInst::FCMP_OLE, llvm::CmpInst::ICMP_SLE, llvm::CmpInst::ICMP_ULE},
      {llvm::CmpInst::FCMP_OGT, llvm::CmpInst::ICMP_SGT, llvm::CmpInst::ICMP_UGT},
      {llvm::CmpInst::FCMP_OGE, llvm::CmpInst::ICMP_SGE, llvm::CmpInst::ICMP_UGE},
  }};
  size_t row = static_cast<size_t>(op.kind()) - static_cast<size_t>(OpKind::Eq);
  size_t column = floating ? 0 : dtype == DType::I1 ? 2 : 1;
  return builder.CreateCmp(kPredicates[row][column], a, b);
}

IRValue *select(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  return emitter.builder.CreateSelect(operandAt(emitter, op, 0, index), operandAt(emitter, op, 1, index),
                                      operandAt(emitter, op, 2, index));
}

IRValue *cast(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  return emitter.convert(operandAt(emitter, op, 0, index), dtypeOf(op.operand(0)), dtypeOf(op.result()));
}

// result[i..., k] = (indices[i...] == k)
IRValue *oneHot(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  IRValue *position = emitter.element(op.operand(0), index.drop_back());
  position = emitter.builder.CreateSExt(position, emitter.builder.getInt64Ty());
  return emitter.convert(emitter.builder.CreateICmpEQ(position, index.back()), DType::I1, dtypeOf(op.result()));
}

// --- Creation. ---

IRValue *constant(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  DType dtype = dtypeOf(op.result());
  const AttrValue *value = op.attributes().find("value");
  std::vector<double> elements;
  if (const auto *floats = std::get_if<Floats>(value))
    elements = *floats;
  else
    for (int64_t integer : std::get<Ints>(*value)) elements.push_back(static_cast<double>(integer));
  if (elements.size() == 1) return emitter.constant(dtype, elements[0]);
  // Dense: a private constant array, read at the index's row-major offset.
  std::vector<llvm::Constant *> constants;
  llvm::Type *memory = emitter.memoryType(dtype);
  for (size_t i = 0; i < elements.size(); ++i) {
    if (isFloat(dtype))
      constants.push_back(llvm::ConstantFP::get(memory, elements[i]));
    else if (const auto *integers = std::get_if<Ints>(value))
      constants.push_back(llvm::ConstantInt::get(memory, static_cast<uint64_t>((*integers)[i]), true));
    else
      constants.push_back(llvm::ConstantInt::get(memory, static_cast<uint64_t>(static_cast<int64_t>(elements[i]))));
  }
  auto *arrayType = llvm::ArrayType::get(memory, constants.size());
  auto *global = new llvm::GlobalVariable(emitter.module, arrayType, true, llvm::GlobalValue::PrivateLinkage,
                                          llvm::ConstantArray::get(arrayType, constants), "constant");
  global->setAlignment(llvm::Align(64));
  llvm::Value *offset = emitter.linearOffset(op.result()->type().shape, index);
  IRValue *loaded = emitter.builder.CreateLoad(memory, emitter.builder.CreateInBoundsGEP(memory, global, {offset}));
  return dtype == DType::I1 ? emitter.builder.CreateTrunc(loaded, emitter.builder.getInt1Ty()) : loaded;
}

IRValue *iota(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  return emitter.convert(index[op.attributes().getInt("axis")], DType::I64, dtypeOf(op.result()));
}

// --- Index maps: the operand's element at an index computed from the result's. ---

IRValue *broadcast(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  return operandAt(emitter, op, 0, index);
}

// The result's row-major offset, split into the operand's axes. A row-major argument is read at
// that offset itself; otherwise leading and trailing axes the reshape leaves alone map straight
// through and only the axes between are split, so that the innermost loop divides nothing when
// the last axis is kept.
IRValue *reshape(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  const Value *operand = op.operand(0);
  const Shape &from = operand->type().shape, &to = op.result()->type().shape;
  if (operand->isArgument()) return emitter.loadArgument(operand, emitter.linearOffset(to, index));
  size_t leading = 0, trailing = 0;
  while (leading < from.size() && leading < to.size() && from[leading] == to[leading]) ++leading;
  while (leading + trailing < from.size() && leading + trailing < to.size() &&
         from[from.size() - 1 - trailing] == to[to.size() - 1 - trailing])
    ++trailing;
  Shape fromMiddle(from.begin() + leading, from.end() - trailing), toMiddle(to.begin() + leading, to.end() - trailing);
  IRValue *offset = emitter.linearOffset(toMiddle, index.slice(leading, toMiddle.size()));
  Index middle = emitter.delinearize(offset, fromMiddle);
  Index operandIndex(index.begin(), index.begin() + leading);
  operandIndex.append(middle.begin(), middle.end());
  operandIndex.append(index.end() - trailing, index.end());
  return emitter.element(operand, operandIndex);
}

IRValue *transpose(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  const Ints &perm = op.attributes().getInts("perm");
  Index operandIndex(perm.size());
  for (size_t axis = 0; axis < perm.size(); ++axis) operandIndex[perm[axis]] = index[axis];
  return emitter.element(op.operand(0), operandIndex);
}

IRValue *slice(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  const Ints &start = op.attributes().getInts("start");
  const Ints &stride = op.attributes().getInts("stride");
  Index operandIndex;
  for (size_t axis = 0; axis < index.size(); ++axis) {
    int64_t step = stride.empty() ? 1 : stride[axis];
    operandIndex.push_back(emitter.builder.CreateAdd(emitter.index(start[axis]),
                                                     emitter.builder.CreateMul(index[axis], emitter.index(step))));
  }
  return emitter.element(op.operand(0), operandIndex);
}

// min(max(value, low), high) on i64.
IRValue *clamp(ElementEmitter &emitter, IRValue *value, int64_t low, int64_t high) {
  llvm::IRBuilder<> &builder = emitter.builder;
  value = builder.CreateSelect(builder.CreateICmpSLT(value, emitter.index(low)), emitter.index(low), value);
  return builder.CreateSelect(builder.CreateICmpSGT(value, emitter.index(high)), emitter.index(high), value);
}

// `index` shifted down by `offset`, keeping a known range known.
IRValue *shifted(ElementEmitter &emitter, IRValue *index, int64_t offset) {
  IRValue *position = emitter.builder.CreateSub(index, emitter.index(offset));
  if (auto range = emitter.rangeOf(index))
    emitter.knownRanges[position] = {range->first - offset, range->second - offset};
  return position;
}

// Every operand is read at its clamped position (so every load stays in bounds and the loop
// needs no branch) and the one whose range holds the index is selected; when the index's known
// range lies in one operand's, that operand alone is read.
IRValue *concat(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  size_t axis = static_cast<size_t>(op.attributes().getInt("axis"));
  if (auto range = emitter.rangeOf(index[axis])) {
    int64_t offset = 0;
    for (const Value *operand : op.operands()) {
      int64_t extent = operand->type().shape[axis];
      if (range->first >= offset && range->second < offset + extent) {
        Index operandIndex(index.begin(), index.end());
        operandIndex[axis] = shifted(emitter, index[axis], offset);
        return emitter.element(operand, operandIndex);
      }
      offset += extent;
    }
  }
  IRValue *chosen = nullptr;
  int64_t offset = 0;
  for (const Value *operand : op.operands()) {
    int64_t extent = operand->type().shape[axis];
    if (extent == 0) continue;
    Index operandIndex(index.begin(), index.end());
    operandIndex[axis] = clamp(emitter, emitter.builder.CreateSub(index[axis], emitter.index(offset)), 0, extent - 1);
    IRValue *element = emitter.element(operand, operandIndex);
    chosen = chosen ? emitter.builder.CreateSelect(emitter.builder.CreateICmpSGE(index[axis], emitter.index(offset)),
                                                   element, chosen)
                    : element;
    offset += extent;
  }
  return chosen;
}

IRValue *pad(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Ints &low = op.attributes().getInts("low");
  const Shape &from = op.operand(0)->type().shape;
  DType dtype = dtypeOf(op.result());
  IRValue *padding = emitter.constant(dtype, op.attributes().getFloat("value"));
  if (std::count(from.begin(), from.end(), 0) > 0) return padding;
  // An axis the pad leaves alone needs no check; one whose index has a known range is wholly
  // inside (read unchecked) or wholly outside (the element is padding, whatever the other axes).
  IRValue *inside = builder.getTrue();
  Index operandIndex;
  const Shape &to = op.result()->type().shape;
  for (size_t axis = 0; axis < from.size(); ++axis) {
    if (low[axis] == 0 && from[axis] == to[axis]) {
      operandIndex.push_back(index[axis]);
      continue;
    }
    if (auto range = emitter.rangeOf(index[axis])) {
      int64_t first = range->first - low[axis], last = range->second - low[axis];
      if (last < 0 || first >= from[axis]) return padding;
      if (first >= 0 && last < from[axis]) {
        operandIndex.push_back(shifted(emitter, index[axis], low[axis]));
        continue;
      }
    }
    IRValue *position = builder.CreateSub(index[axis], emitter.index(low[axis]));
    inside = builder.CreateAnd(inside, builder.CreateICmpULT(position, emitter.index(from[axis])));
    operandIndex.push_back(clamp(emitter, position, 0, from[axis] - 1));
  }
  IRValue *element = emitter.element(op.operand(0), operandIndex);
  return llvm::isa<llvm::ConstantInt>(inside) ? element : builder.CreateSelect(inside, element, padding);
}

LoopRule elementwiseRule(OpKind kind) {
  switch (kind) {
  case OpKind::Neg:
  case OpKind::Abs:
  case OpKind::Sign:
  case OpKind::Square:
  case OpKind::Relu:
  case OpKind::LeakyRelu:
  case OpKind::Exp:
  case OpKind::Log:
  case OpKind::Log1p:
  case OpKind::Sqrt:
  case OpKind::Rsqrt:
  case OpKind::Reciprocal:
  case OpKind::Tanh:
  case OpKind::Sigmoid:
  case OpKind::Gelu:
  case OpKind::Erf:
  case OpKind::Sin:
  case OpKind::Cos: return unary;
  case OpKind::Add:
  case OpKind::Sub:
  case OpKind::Mul:
  case OpKind::Div:
  case OpKind::Pow:
  case OpKind::Maximum:
  case OpKind::Minimum:
  case OpKind::Eq:
  case OpKind::Ne:
  case OpKind::Lt:
  case OpKind::Le:
  case OpKind::Gt:
  case OpKind::Ge: return binary;
  case OpKind::Select: return select;
  case OpKind::Cast: return cast;
  case OpKind::OneHot: return oneHot;
  case OpKind::Constant: return constant;
  case OpKind::Iota: return iota;
  case OpKind::Broadcast: return broadcast;
  case OpKind::Reshape: return reshape;
  case OpKind::Transpose: return transpose;
  case OpKind::Slice: return slice;
  case OpKind::Concat: return concat;
  case OpKind::Pad: return pad;
  default: return nullptr;
  }
}
}  // namespace

LoopRule reductionRule(OpKind kind);  // LoopReductions.cpp
LoopRule indexRule(OpKind kind);      // LoopRulesIndex.cpp
LoopRule windowRule(OpKind kind);     // WindowRules.cpp

LoopRule loopRule(OpKind kind) {
  if (LoopRule rule = elementwiseRule(kind)) return rule;
  if (LoopRule rule = indexRule(kind)) return rule;
  if (LoopRule rule = windowRule(kind)) return rule;
  return reductionRule(kind);
}

}  // namespace kiln::cpu::loops
