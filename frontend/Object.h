// What expressions evaluate to while a model is lowered: compile-time numbers, lists and layer
// instances, and tensors, which are values of the IR function being built. Evaluating the
// model's code with these is what unrolls loops, resolves `if` and inlines every call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <llvm/ADT/StringMap.h>
#include <llvm/Support/SMLoc.h>

#include "frontend/AST.h"
#include "ir/IR.h"

namespace kiln::lang {

struct Instance;
class Scope;

struct Object {
  enum class Kind {
    Poison,  // an error was reported while computing it: uses stay silent
    Int,
    Float,
    Bool,
    String,
    DType,   // f32, f64, i32, i64, bool used as values: cast(x, f64)
    Tensor,  // an IR value of the function being built
    List,
    Tuple,
    Component,  // a layer or model declaration: calling it creates an instance
    Instance,   // a created layer: calling it runs its call method
    Function,   // a free function, or a method when `instance` is set
    Builtin,    // a function of the frontend or an op of the IR table, by name
    Parameter,  // a layer's `param`, by index in the model's parameter list
    None,       // `none`: an optional argument left out (`mask = none`), tested by `x == none`
  };

  Kind kind = Kind::Poison;
  int64_t integer = 0;  // Int, Bool (0 or 1), Parameter (index)
  double number = 0;
  std::string text;  // String, Builtin
  DType dtype = DType::F32;
  kiln::Value *tensor = nullptr;
  std::shared_ptr<std::vector<Object>> elements;  // List, Tuple
  const ComponentDecl *component = nullptr;
  std::shared_ptr<Instance> instance;  // Instance, and Function for a method
  const FnDecl *function = nullptr;
  Scope *definingScope = nullptr;  // Function: where its free names are looked up

  static Object poison() { return {}; }
  static Object ofInt(int64_t value) {
    Object object;
    object.kind = Kind::Int;
    object.integer = value;
    return object;
  }
  static Object ofFloat(double value) {
    Object object;
    object.kind = Kind::Float;
    object.number = value;
    return object;
  }
  static Object ofBool(bool value) {
    Object object;
    object.kind = Kind::Bool;
    object.integer = value;
    return object;
  }
  static Object ofString(std::string value) {
    Object object;
    object.kind = Kind::String;
    object.text = std::move(value);
    return object;
  }
  static Object ofTensor(kiln::Value *value) {
    Object object;
    object.kind = Kind::Tensor;
    object.tensor = value;
    return object;
  }
  static Object ofSequence(Kind kind, std::vector<Object> elements) {
    Object object;
    object.kind = kind;
    object.elements = std::make_shared<std::vector<Object>>(std::move(elements));
    return object;
  }
  static Object ofBuiltin(std::string name) {
    Object object;
    object.kind = Kind::Builtin;
    object.text = std::move(name);
    return object;
  }

  bool isPoison() const { return kind == Kind::Poison; }
  bool isNumber() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool isSequence() const { return kind == Kind::List || kind == Kind::Tuple; }
  double asDouble() const { return kind == Kind::Float ? number : static_cast<double>(integer); }
};

// `an int`, `a tensor f32[32,64]`, `the layer Linear`: for messages.
std::string describe(const Object &object);

struct Binding {
  Object value;
  llvm::SMRange where;
  bool used = false;
  bool reassignable = false;  // a `let` or an argument: `name = ...` may rebind it
  bool warnIfUnused = false;
  const char *role = "value";  // "value" or "parameter", for the unused warning
  // A symbolic dimension (`dim B`, `--dim B=`, or bound by a signature): each function
  // signature binds its own, so that a library function's `B` is not the model's.
  bool isDimension = false;
};

// Names visible at one point. Lookup walks outward through the parents.
class Scope {
public:
  explicit Scope(Scope *parent = nullptr) : parent_(parent) {}

  Binding *find(llvm::StringRef name) {
    for (Scope *scope = this; scope; scope = scope->parent_)
      if (auto it = scope->names_.find(name); it != scope->names_.end()) return &it->second;
    return nullptr;
  }
  Binding *findHere(llvm::StringRef name) {
    auto it = names_.find(name);
    return it == names_.end() ? nullptr : &it->second;
  }
  Binding &define(llvm::StringRef name, Binding binding) { return names_[name] = std::move(binding); }
  llvm::StringMap<Binding> &names() { return names_; }
  std::vector<std::string> namesInOrder;  // definition order, for warnings in source order

private:
  Scope *parent_;
  llvm::StringMap<Binding> names_;
};

// A created layer or model: its hyper-parameters, members and params by name.
struct Instance {
  const ComponentDecl *decl = nullptr;
  std::string path;  // `fc1`, `blocks.0.attention`; empty for the model itself
  std::unique_ptr<Scope> scope;
};

// One `param` or `buffer` of the model: an argument of @forward and @loss, a result of @init.
struct ParameterSlot {
  std::string path;  // `fc1.w`
  TensorType type;
  const ParamDecl *decl = nullptr;
  std::shared_ptr<Instance> owner;
  bool isBuffer() const { return decl && decl->isBuffer; }
};

}  // namespace kiln::lang
