// How a built-in function sees its call: the arguments bound to its parameter names, with typed
// accessors that report located errors. Builtins.cpp and Initializers.cpp write built-ins on it.
#pragma once

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Support/CheckedArithmetic.h>

#include "frontend/Lowering.h"

namespace kiln::lang {

// Arguments of a built-in bound to its parameter names, with typed accessors that report
// located errors.
class BuiltinCall {
public:
  BuiltinCall(Lowerer &lowerer, const std::string &name, Arguments &arguments, llvm::SMRange where)
      : lowerer(lowerer), name(name), arguments(arguments), where(where) {}

  // Assigns positional and named arguments to `parameters`; the first `required` must be given.
  bool bind(std::vector<std::string_view> parameters, size_t required) {
    slots_.assign(parameters.size(), nullptr);
    size_t nextPositional = 0;
    for (const Arguments::Entry &entry : arguments.entries) {
      size_t slot = parameters.size();
      if (entry.name.empty())
        slot = nextPositional++;
      else
        for (size_t i = 0; i < parameters.size(); ++i)
          if (parameters[i] == entry.name) slot = i;
      if (slot >= parameters.size()) {
        if (entry.name.empty())
          error(entry.range, fmt::format("'{}' takes at most {} arguments", name, parameters.size()));
        else
          error(entry.range, fmt::format("'{}' has no parameter '{}'", name, entry.name));
        return false;
      }
      if (slots_[slot]) {
        error(entry.range, fmt::format("argument '{}' of '{}' is given twice", parameters[slot], name));
        return false;
      }
      slots_[slot] = &entry;
    }
    for (size_t i = 0; i < required; ++i)
      if (!slots_[i]) {
        error(where, fmt::format("'{}' needs argument '{}'", name, parameters[i]));
        return false;
      }
    return true;
  }

  bool has(size_t slot) const { return slots_[slot] != nullptr; }
  const Object &value(size_t slot) const { return slots_[slot]->value; }
  llvm::SMRange range(size_t slot) const { return slots_[slot] ? slots_[slot]->range : where; }

  kiln::Value *tensor(size_t slot, std::optional<DType> dtype = std::nullopt) {
    return lowerer.asTensor(value(slot), dtype, range(slot));
  }
  std::optional<int64_t> integer(size_t slot, int64_t fallback) {
    if (!has(slot)) return fallback;
    if (value(slot).kind == Object::Kind::Int) return value(slot).integer;
    error(range(slot), fmt::format("expected an int, found {}", describe(value(slot))));
    return std::nullopt;
  }
  std::optional<double> number(size_t slot, double fallback) {
    if (!has(slot)) return fallback;
    if (value(slot).kind == Object::Kind::Int || value(slot).kind == Object::Kind::Float) return value(slot).asDouble();
    error(range(slot), fmt::format("expected a number, found {}", describe(value(slot))));
    return std::nullopt;
  }
  std::optional<DType> dtype(size_t slot, DType fallback) {
    if (!has(slot)) return fallback;
    if (value(slot).kind == Object::Kind::DType) return value(slot).dtype;
    error(range(slot), fmt::format("expected a dtype (f32, f64, i32, i64, bool), found {}", describe(value(slot))));
    return std::nullopt;
  }
  std::optional<Ints> ints(size_t slot) {
    const Object &list = value(slot);
    if (list.kind == Object::Kind::Int) return Ints{list.integer};
    Ints result;
    if (list.isSequence()) {
      for (const Object &element : *list.elements) {
        if (element.kind != Object::Kind::Int) break;
        result.push_back(element.integer);
      }
      if (result.size() == list.elements->size()) return result;
    }
    error(range(slot), fmt::format("expected a list of ints, found {}", describe(list)));
    return std::nullopt;
  }
  std::optional<std::vector<kiln::Value *>> tensors(size_t slot) {
    const Object &list = value(slot);
    if (!list.isSequence() || list.elements->empty()) {
      error(range(slot), fmt::format("expected a non-empty list of tensors, found {}", describe(list)));
      return std::nullopt;
    }
    std::vector<kiln::Value *> result;
    for (const Object &element : *list.elements) {
      kiln::Value *tensor = lowerer.asTensor(element, std::nullopt, range(slot));
      if (!tensor) return std::nullopt;
      result.push_back(tensor);
    }
    return result;
  }
  std::optional<Shape> shape(size_t slot) {
    std::optional<Ints> extents = ints(slot);
    if (!extents) return std::nullopt;
    for (int64_t extent : *extents)
      if (extent < 1) {
        error(range(slot), fmt::format("dimensions must be positive: [{}]", fmt::join(*extents, ", ")));
        return std::nullopt;
      }
    if (!lowerer.checkElementCount(*extents, range(slot))) return std::nullopt;
    return *extents;
  }
  // An axis of a tensor of `rank`, counted from the end when negative.
  std::optional<int64_t> axis(size_t slot, int64_t fallback, int64_t rank) {
    std::optional<int64_t> value = integer(slot, fallback);
    if (!value) return std::nullopt;
    int64_t normalised = *value < 0 ? *value + rank : *value;
    if (normalised < 0 || normalised >= rank) {
      error(range(slot), fmt::format("axis {} is out of range for rank {}", *value, rank));
      return std::nullopt;
    }
    return normalised;
  }
  Object create(OpKind kind, std::vector<kiln::Value *> operands, std::vector<NamedAttribute> attributes = {},
                std::optional<TensorType> declared = std::nullopt) {
    return lowerer.createOp(kind, std::move(operands), std::move(attributes), std::move(declared), where);
  }
  Object error(llvm::SMRange at, const std::string &message) {
    lowerer.diagnostics().error(at, message);
    return Object::poison();
  }

  Lowerer &lowerer;
  const std::string &name;
  Arguments &arguments;
  llvm::SMRange where;

private:
  std::vector<const Arguments::Entry *> slots_;
};

using BuiltinHandler = Object (*)(BuiltinCall &);

// The parameter initializers (glorot_uniform, he_normal, constant, ...), by name: callable only
// while a `param` is initialized.
const llvm::StringMap<BuiltinHandler> &initializers();

}  // namespace kiln::lang
