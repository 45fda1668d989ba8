// Calls during lowering: functions and methods are inlined into the function being built,
// layers are instantiated, and arguments are checked against their type annotations, which
// binds symbolic dimensions (`B`, `T`) by unification with the argument's shape.
#include <fmt/format.h>

#include "frontend/Lowering.h"

namespace kiln::lang {

Object Lowerer::call(const CallExpr &expr, Scope &scope) {
  Object callee = evaluate(*expr.callee, scope);
  Arguments arguments;
  for (const Argument &argument : expr.arguments) {
    llvm::SMRange range = argument.name.empty() ? argument.value->range
                                                : llvm::SMRange(argument.nameRange.Start, argument.value->range.End);
    arguments.entries.push_back({argument.name, range, evaluate(*argument.value, scope)});
  }
  if (callee.isPoison() || arguments.hasPoison()) return Object::poison();
  // A problem inside library code is reported at the user's call that reached it.
  bool fromUserFile =
      userBuffer_ != 0 && diagnostics_.sources().FindBufferContainingLoc(expr.range.Start) == userBuffer_;
  if (fromUserFile) diagnostics_.pushCallSite(expr.range);
  Object result = callObject(callee, std::move(arguments), expr.range);
  if (fromUserFile) diagnostics_.popCallSite();
  return result;
}

Object Lowerer::callObject(const Object &callee, Arguments arguments, llvm::SMRange where) {
  switch (callee.kind) {
  case Object::Kind::Builtin: return callBuiltin(callee.text, arguments, where);
  case Object::Kind::Component: return instantiate(*callee.component, std::move(arguments), where);
  case Object::Kind::Function:
    return callFunction(*callee.function, *callee.definingScope, callee.instance, std::move(arguments), where);
  case Object::Kind::Instance: {
    const FnDecl *method = callee.instance->decl->findMethod("");
    if (!method) {
      diagnostics_.error(where, fmt::format("{} has no call method `fn (...)`", callee.instance->decl->name));
      return Object::poison();
    }
    return callFunction(*method, *callee.instance->scope, callee.instance, std::move(arguments), where);
  }
  default: diagnostics_.error(where, fmt::format("{} is not callable", describe(callee))); return Object::poison();
  }
}

bool Lowerer::bindArguments(const std::vector<Parameter> &parameters, Arguments &arguments, Scope &calleeScope,
                            llvm::SMRange where, std::string_view calleeName, bool warnUnused) {
  std::vector<const Arguments::Entry *> assigned(parameters.size(), nullptr);
  size_t nextPositional = 0;
  bool ok = true;
  for (const Arguments::Entry &entry : arguments.entries) {
    size_t slot = parameters.size();
    if (entry.name.empty()) {
      slot = nextPositional++;
      if (slot >= parameters.size()) {
        diagnostics_.error(entry.range, fmt::format("'{}' takes {} argument{}, but more are given", calleeName,
                                                    parameters.size(), parameters.size() == 1 ? "" : "s"));
        return false;
      }
    } else {
      for (size_t i = 0; i < parameters.size(); ++i)
        if (parameters[i].name == entry.name) slot = i;
      if (slot == parameters.size()) {
        std::vector<std::string_view> names;
        for (const Parameter &parameter : parameters) names.push_back(parameter.name);
        diagnostics_.error(entry.range,
                           fmt::format("'{}' has no parameter '{}' (it has: {})", calleeName, entry.name,
                                       names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
        ok = false;
        continue;
      }
    }
    if (assigned[slot]) {
      diagnostics_.error(entry.range,
                         fmt::format("argument '{}' of '{}' is given twice", parameters[slot].name, calleeName));
      ok = false;
      continue;
    }
    assigned[slot] = &entry;
  }
  if (!ok) return false;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Parameter &parameter = parameters[i];
    Object value;
    llvm::SMRange valueRange = where;
    if (assigned[i]) {
      value = assigned[i]->value;
      valueRange = assigned[i]->range;
    } else if (parameter.defaultValue) {
      value = evaluate(*parameter.defaultValue, calleeScope);
      valueRange = parameter.defaultValue->range;
    } else {
      diagnostics_.error(where, fmt::format("missing argument '{}' of '{}'", parameter.name, calleeName));
      diagnostics_.note(parameter.nameRange, "declared here");
      ok = false;
      continue;
    }
    if (value.isPoison()) {
      ok = false;
      continue;
    }
    if (parameter.type && !checkType(*parameter.type, value, calleeScope, valueRange,
                                     fmt::format("argument '{}' of '{}'", parameter.name, calleeName)))
      ok = false;
    calleeScope.define(parameter.name, Binding{value, parameter.nameRange, false, true, warnUnused, "parameter"});
    calleeScope.namesInOrder.push_back(parameter.name);
  }
  return ok;
}

Object Lowerer::callFunction(const FnDecl &fn, Scope &definingScope, const std::shared_ptr<Instance> &instance,
                             Arguments arguments, llvm::SMRange where) {
  std::string name = fn.name.empty() ? (instance ? instance->decl->name : std::string("<call>")) : fn.name;
  if (callDepth >= kMaxCallDepth) {
    diagnostics_.error(where, fmt::format("calls nest more than {} deep: is '{}' recursive?", kMaxCallDepth, name));
    return Object::poison();
  }
  ++callDepth;
  Scope calleeScope(&definingScope);
  Object result = Object::poison();
  if (bindArguments(fn.parameters, arguments, calleeScope, where, name, true)) {
    result = evaluateBlock(fn.body, calleeScope);
    if (!result.isPoison() && fn.result &&
        !checkType(*fn.result, result, calleeScope, fn.body.range, fmt::format("the result of '{}'", name)))
      result = Object::poison();
  } else {
    // The body never ran: whether a parameter is used is unknown.
    for (auto &entry : calleeScope.names()) entry.second.used = true;
  }
  finishScope(calleeScope);
  --callDepth;
  return result;
}

Object Lowerer::instantiate(const ComponentDecl &decl, Arguments arguments, llvm::SMRange where) {
  if (!creatingInstances) {
    diagnostics_.error(where, fmt::format("layers are created as members of a layer or model, not here: move "
                                          "'{}(...)' into a member like `name = {}(...)`",
                                          decl.name, decl.name));
    return Object::poison();
  }
  if (decl.isOptimizer != creatingOptimizer_) {
    diagnostics_.error(where, decl.isOptimizer
                                  ? fmt::format("'{}' is an optimizer: a train block creates it, `optimizer = {}(...)`",
                                                decl.name, decl.name)
                                  : fmt::format("'{}' is a {}, not an optimizer", decl.name, decl.keyword()));
    return Object::poison();
  }
  if (decl.isModel && !instancePath.empty()) {
    diagnostics_.error(where, fmt::format("'{}' is a model; only layers can be members", decl.name));
    return Object::poison();
  }
  if (callDepth >= kMaxCallDepth) {
    diagnostics_.error(
        where, fmt::format("layers nest more than {} deep: does '{}' contain itself?", kMaxCallDepth, decl.name));
    return Object::poison();
  }
  ++callDepth;
  auto instance = std::make_shared<Instance>();
  instance->decl = &decl;
  for (const std::string &part : instancePath) instance->path += (instance->path.empty() ? "" : ".") + part;
  instance->scope = std::make_unique<Scope>(&globals_);
  Scope &scope = *instance->scope;
  bool ok = bindArguments(decl.hyperParameters, arguments, scope, where, decl.name, false);
  std::vector<std::string> savedPath = std::move(instancePath);
  for (const MemberDecl &member : decl.members) {
    if (!ok) break;
    instancePath = savedPath;
    instancePath.push_back(member.name);
    Object value = evaluate(*member.value, scope);
    if (scope.findHere(member.name)) {
      diagnostics_.error(member.nameRange, fmt::format("'{}' is already defined in {}", member.name, decl.name));
      ok = false;
    }
    scope.define(member.name, Binding{value, member.nameRange, true});
  }
  instancePath = savedPath;
  for (const ParamDecl &param : decl.params) {
    if (!ok) break;
    std::string path = instance->path.empty() ? param.name : instance->path + "." + param.name;
    if (param.condition) {
      Object exists = evaluate(*param.condition, scope);
      if (exists.kind != Object::Kind::Bool) {
        if (!exists.isPoison())
          diagnostics_.error(param.condition->range, fmt::format("the condition of parameter '{}' should be a bool, "
                                                                 "but is {}",
                                                                 path, describe(exists)));
        ok = false;
        break;
      }
      if (!exists.integer) continue;
    }
    std::optional<TensorType> type = staticTensorType(param.type, scope, fmt::format("parameter '{}'", path));
    if (!type) {
      ok = false;
      break;
    }
    if (scope.findHere(param.name)) {
      diagnostics_.error(param.nameRange, fmt::format("'{}' is already defined in {}", param.name, decl.name));
      ok = false;
      break;
    }
    Object slot;
    slot.kind = Object::Kind::Parameter;
    slot.integer = static_cast<int64_t>(parameters_.size());
    parameters_.push_back(ParameterSlot{path, *type, &param, instance});
    scope.define(param.name, Binding{slot, param.nameRange, true});
  }
  // Named methods are visible by their bare names inside the component: `encode(x)`.
  for (const FnDecl &method : decl.methods) {
    if (!ok || method.name.empty()) continue;
    if (Binding *previous = scope.findHere(method.name)) {
      diagnostics_.error(method.nameRange, fmt::format("'{}' is already defined in {}", method.name, decl.name));
      diagnostics_.note(previous->where, "first defined here");
      ok = false;
      continue;
    }
    Object function;
    function.kind = Object::Kind::Function;
    function.function = &method;
    function.definingScope = &scope;
    scope.define(method.name, Binding{function, method.nameRange, true});
  }
  --callDepth;
  if (!ok) return Object::poison();
  Object object;
  object.kind = Object::Kind::Instance;
  object.instance = instance;
  return object;
}

namespace {
std::optional<DType> dtypeOf(const TypeExpr &type) { return parseDType(type.dtype == "bool" ? "i1" : type.dtype); }

std::string spell(const TypeExpr &type) {
  llvm::StringRef text(type.range.Start.getPointer(), type.range.End.getPointer() - type.range.Start.getPointer());
  return text.str();
}
}  // namespace

// The dtype held by the hyper-parameter that a tensor type names in place of one (`dtype[n]`).
std::optional<DType> Lowerer::namedDType(const TypeExpr &type, Scope &scope) {
  Binding *binding = scope.find(type.dtype);
  if (binding && binding->value.kind == Object::Kind::DType) {
    binding->used = true;
    return binding->value.dtype;
  }
  if (!binding || !binding->value.isPoison())
    diagnostics_.error(type.range, fmt::format("'{}' in a tensor type should hold a dtype (f32, f64, ...), but is {}",
                                               type.dtype, binding ? describe(binding->value) : "not defined"));
  return std::nullopt;
}

// Checks `value` against `type`. A dimension named by an unbound name binds it in `scope`
// (unification); a bound one must agree, and when it does not, both places are shown.
bool Lowerer::checkType(const TypeExpr &type, Object &value, Scope &scope, llvm::SMRange valueRange,
                        const std::string &what) {
  auto mismatch = [&](const std::string &detail) {
    diagnostics_.error(
        valueRange,
        fmt::format("{} should be {}, but is {}{}", what, spell(type),
                    value.kind == Object::Kind::Tensor ? toString(value.tensor->type()) : describe(value), detail));
    return false;
  };
  switch (type.kind) {
  case TypeExpr::Kind::Int: return value.kind == Object::Kind::Int || mismatch("");
  case TypeExpr::Kind::Bool: return value.kind == Object::Kind::Bool || mismatch("");
  case TypeExpr::Kind::Float:
    if (value.kind == Object::Kind::Int) value = Object::ofFloat(static_cast<double>(value.integer));
    return value.kind == Object::Kind::Float || mismatch("");
  case TypeExpr::Kind::Tuple: {
    if (!value.isSequence() || value.elements->size() != type.elements.size()) return mismatch("");
    bool ok = true;
    for (size_t i = 0; i < type.elements.size(); ++i)
      ok &= checkType(type.elements[i], (*value.elements)[i], scope, valueRange,
                      fmt::format("element {} of {}", i, what));
    return ok;
  }
  case TypeExpr::Kind::Tensor: break;
  }
  if (value.kind == Object::Kind::Parameter) value = parameterTensor(value, valueRange);
  if (value.kind != Object::Kind::Tensor) return value.isPoison() ? false : mismatch("");
  const TensorType &actual = value.tensor->type();
  if (type.dtype == "float") {
    if (!isFloat(actual.dtype)) return mismatch("");
  } else if (!dtypeOf(type)) {
    std::optional<DType> named = namedDType(type, scope);
    if (!named) return false;
    if (*named != actual.dtype) return mismatch(fmt::format(": {} is {}", type.dtype, dtypeName(*named)));
  } else if (dtypeOf(type) != actual.dtype) {
    return mismatch("");
  }
  size_t ellipses = 0;
  for (const DimExpr &dim : type.dims) ellipses += dim.isEllipsis;
  if (ellipses > 1) {
    diagnostics_.error(type.range, "a shape may hold one '...' only");
    return false;
  }
  int64_t fixed = static_cast<int64_t>(type.dims.size() - ellipses);
  if (ellipses ? actual.rank() < fixed : actual.rank() != fixed)
    return mismatch(fmt::format(": rank {} instead of {}{}", actual.rank(), ellipses ? "at least " : "", fixed));
  // Dimensions are matched from the right, so that `...` takes the leading axes.
  int64_t axis = actual.rank();
  for (auto dim = type.dims.rbegin(); dim != type.dims.rend(); ++dim) {
    if (dim->isEllipsis) break;
    int64_t extent = actual.shape[--axis];
    const auto *name = llvm::dyn_cast<NameExpr>(dim->size.get());
    Binding *outer = name ? scope.find(name->name) : nullptr;
    if (name && (!outer || (outer->isDimension && !scope.findHere(name->name)))) {
      Binding binding{Object::ofInt(extent), dim->range, true};
      binding.isDimension = true;
      scope.define(name->name, binding);
      continue;
    }
    std::optional<int64_t> expected = evaluateSize(*dim->size, scope);
    if (!expected) return false;
    if (*expected == extent) continue;
    if (name) {
      Binding *binding = scope.find(name->name);
      mismatch(fmt::format(": dimension {} is {}, but {} is {}", axis, extent, name->name, *expected));
      if (binding->where.isValid())
        diagnostics_.note(binding->where, fmt::format("{} was bound to {} here", name->name, *expected));
      else
        diagnostics_.note(dim->range, fmt::format("{} = {} was given on the command line", name->name, *expected));
      return false;
    }
    return mismatch(fmt::format(": dimension {} is {}, not {}", axis, extent, *expected));
  }
  return true;
}

// The type of an input or a parameter: every dimension must be known now.
std::optional<TensorType> Lowerer::staticTensorType(const TypeExpr &type, Scope &scope, const std::string &what) {
  if (type.kind != TypeExpr::Kind::Tensor) {
    diagnostics_.error(type.range, fmt::format("{} must be a tensor", what));
    return std::nullopt;
  }
  TensorType result;
  if (type.dtype == "float") {
    diagnostics_.error(type.range, fmt::format("{} needs a dtype, f32 or f64: 'float' stands for either only in "
                                               "the signature of a function",
                                               what));
    return std::nullopt;
  }
  std::optional<DType> dtype = dtypeOf(type) ? dtypeOf(type) : namedDType(type, scope);
  if (!dtype) return std::nullopt;
  result.dtype = *dtype;
  for (const DimExpr &dim : type.dims) {
    if (dim.isEllipsis) {
      diagnostics_.error(dim.range,
                         fmt::format("the shape of {} must be fully known: '...' is not allowed here", what));
      return std::nullopt;
    }
    const auto *name = llvm::dyn_cast<NameExpr>(dim.size.get());
    if (name && !scope.find(name->name)) {
      diagnostics_.error(dim.range, fmt::format("the size of dimension '{}' of {} is not known: declare `dim {} = ...` "
                                                "or pass --dim {}=...",
                                                name->name, what, name->name, name->name));
      return std::nullopt;
    }
    std::optional<int64_t> extent = evaluateSize(*dim.size, scope);
    if (!extent) return std::nullopt;
    if (*extent < 1) {
      diagnostics_.error(dim.range, fmt::format("dimension of {} must be positive, not {}", what, *extent));
      return std::nullopt;
    }
    result.shape.push_back(*extent);
  }
  if (!checkElementCount(result.shape, type.range)) return std::nullopt;
  return result;
}

}  // namespace kiln::lang
