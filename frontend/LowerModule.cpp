// From a checked file to IR functions: declares the top-level names, creates the model's
// layer instances and parameters, then builds @forward, @init and @loss and verifies them.
//
// 1. Library declarations, then the user's (which may shadow the library's), become globals;
//    `--dim` sizes and then `dim` defaults bind symbolic dimensions.
// 2. The model is instantiated: members are evaluated in order, creating layer instances
//    named by their path; each `param` gets a slot with its static type.
// 3. @forward: the inputs of `fn forward` (types fully known) and every parameter become
//    arguments; the body is evaluated, which builds the ops.
// 4. @init: each parameter's initializer is evaluated with key seed + its index; the params come
//    first, then the buffers (batch norm's running statistics), in every function.
// 5. For a train block (LowerTrain.cpp): @loss over its inputs, labels and the parameters, the
//    settings checked, and @update and @init_optimizer from its optimizer. @loss is training
//    code: `training` is true there, random draws take the step's `key` argument, and buffers
//    may be assigned.
// 6. The module is verified; a verifier error here is a compiler bug, reported as such.
#include <cmath>

#include <fmt/format.h>
#include <llvm/ADT/StringSet.h>

#include "frontend/Lowering.h"
#include "ir/Verifier.h"

namespace kiln::lang {

void Lowerer::declareGlobals(const File &file, bool isLibrary) {
  std::unordered_map<std::string, llvm::SMRange> seen;
  auto declare = [&](const std::string &name, llvm::SMRange where, Object object) {
    if (auto [it, inserted] = seen.emplace(name, where); !inserted) {
      diagnostics_.error(where, fmt::format("'{}' is defined twice", name));
      diagnostics_.note(it->second, "first defined here");
      return;
    }
    if (!isLibrary) userGlobals_[name] = where;
    globals_.define(name, Binding{std::move(object), where, true});
  };
  for (const auto &component : file.components) {
    Object object;
    object.kind = Object::Kind::Component;
    object.component = component.get();
    declare(component->name, component->nameRange, object);
  }
  for (const auto &function : file.functions) {
    if (function->name.empty()) {
      diagnostics_.error(function->nameRange, "a function outside a layer needs a name");
      continue;
    }
    Object object;
    object.kind = Object::Kind::Function;
    object.function = function.get();
    object.definingScope = &globals_;
    declare(function->name, function->nameRange, object);
  }
}

const ComponentDecl *Lowerer::chooseModel(const File &user) {
  std::string wanted = options_.modelName;
  for (const auto &train : user.trains)
    if (wanted.empty() && userGlobals_.contains(train->modelName)) wanted = train->modelName;
  std::vector<const ComponentDecl *> models;
  for (const auto &component : user.components)
    if (component->isModel) models.push_back(component.get());
  if (!wanted.empty()) {
    for (const ComponentDecl *model : models)
      if (model->name == wanted) return model;
    if (!user.trains.empty() && options_.modelName.empty())
      diagnostics_.error(user.trains.front()->modelRange, fmt::format("no model named '{}' in this file", wanted));
    else
      diagnostics_.error(fmt::format("no model named '{}' in this file", wanted));
    return nullptr;
  }
  if (models.size() == 1) return models.front();
  if (models.empty())
    diagnostics_.error("the file declares no model: nothing to lower");
  else
    diagnostics_.error("the file declares several models: choose one with --model NAME");
  return nullptr;
}

std::shared_ptr<Instance> Lowerer::instantiateModel(const ComponentDecl &model) {
  creatingInstances = true;
  instancePath.clear();
  Object instance = instantiate(model, Arguments{}, model.nameRange);
  creatingInstances = false;
  return instance.isPoison() ? nullptr : instance.instance;
}

Function *Lowerer::beginFunction(Module &module, const std::string &name, llvm::SMRange where) {
  Location location;
  if (unsigned buffer = where.isValid() ? diagnostics_.sources().FindBufferContainingLoc(where.Start) : 0) {
    auto [line, column] = diagnostics_.sources().getLineAndColumn(where.Start, buffer);
    location = Location{diagnostics_.sources().getMemoryBuffer(buffer)->getBufferIdentifier().str(), line, column};
  }
  function_ = module.addFunction(std::make_unique<Function>(name, location));
  builder_ = std::make_unique<Builder>(*function_);
  trainingKey_ = nullptr;
  randomDraws_ = 0;
  return function_;
}

// The trainable params come first, then the buffers, each in declaration order: the order of
// the arguments of every function and of the results of @init.
std::vector<size_t> Lowerer::slotsInArgumentOrder() const {
  std::vector<size_t> order;
  for (bool buffers : {false, true})
    for (size_t index = 0; index < parameters_.size(); ++index)
      if (parameters_[index].isBuffer() == buffers) order.push_back(index);
  return order;
}

void Lowerer::addParameterArguments(Function &function, bool withBuffers) {
  parameterValues_.assign(parameters_.size(), nullptr);
  for (size_t index : slotsInArgumentOrder()) {
    const ParameterSlot &slot = parameters_[index];
    if (slot.isBuffer() && !withBuffers) continue;
    kiln::Value *argument =
        function.addArgument(slot.type, slot.path, slot.isBuffer() ? ArgumentRole::Buffer : ArgumentRole::Parameter);
    declaredAt_[argument] = slot.decl->nameRange;
    parameterValues_[index] = argument;
  }
}

// `training` is true in the code of the training step (@loss, hence @train_step) and false in
// @forward, @eval_step and the initializers, unless the user's file defines the name itself.
void Lowerer::setTraining(bool training) {
  trainingCode_ = training;
  if (!userGlobals_.contains("training")) globals_.define("training", Binding{Object::ofBool(training), {}, true});
}

kiln::Value *Lowerer::trainingKey(std::string_view what, llvm::SMRange where) {
  if (!trainingCode_ || !function_) {
    diagnostics_.error(where, fmt::format("'{}' draws anew at every training step, so only training code can use it: "
                                          "put it under `if training`",
                                          what));
    return nullptr;
  }
  TensorType scalar{DType::I64, {}};
  if (!trainingKey_) trainingKey_ = function_->addArgument(scalar, "key", ArgumentRole::Key);
  if (randomDraws_ == 0) return ++randomDraws_, trainingKey_;
  return builder_->create(OpKind::Add, {trainingKey_, builder_->constant(scalar, Ints{randomDraws_++})});
}

// `NAME = value` for a buffer, in training code: later reads see the value, and the training
// step returns it as the buffer's new value.
void Lowerer::assignBuffer(const Object &slotObject, Object value, llvm::SMRange where) {
  const ParameterSlot &slot = parameters_[static_cast<size_t>(slotObject.integer)];
  if (!slot.isBuffer()) {
    diagnostics_.error(where, fmt::format("'{}' is a parameter: its optimizer updates it, an assignment cannot "
                                          "(declare it `buffer` to update it yourself)",
                                          slot.path));
    return;
  }
  if (!trainingCode_ || parameterValues_.size() != parameters_.size()) {
    diagnostics_.error(where, fmt::format("buffer '{}' changes only while training: put the assignment under `if "
                                          "training`",
                                          slot.path));
    return;
  }
  if (value.isPoison()) return;
  kiln::Value *tensor =
      value.isNumber() || value.kind == Object::Kind::Tensor ? asTensor(value, slot.type.dtype, where) : nullptr;
  if (tensor && tensor->type() != slot.type && tensor->type().rank() == 0) {
    Object spread = createOp(OpKind::Broadcast, {tensor}, {}, slot.type, where);
    tensor = spread.isPoison() ? nullptr : spread.tensor;
  }
  if (!tensor || tensor->type() != slot.type) {
    diagnostics_.error(where, fmt::format("buffer '{}' is {}, but the value assigned is {}", slot.path,
                                          toString(slot.type), tensor ? toString(tensor->type()) : describe(value)));
    return;
  }
  parameterValues_[static_cast<size_t>(slotObject.integer)] = tensor;
}

bool Lowerer::setResults(Function &function, const Object &result, llvm::SMRange where) {
  if (result.isPoison()) return false;
  std::vector<Object> parts = result.kind == Object::Kind::Tuple ? *result.elements : std::vector<Object>{result};
  std::vector<kiln::Value *> values;
  for (const Object &part : parts) {
    if (part.isPoison()) return false;
    if (part.kind != Object::Kind::Tensor) {
      diagnostics_.error(where, fmt::format("@{} must return tensors, not {}", function.name(), describe(part)));
      return false;
    }
    values.push_back(part.tensor);
  }
  function.setResults(std::move(values));
  return true;
}

// Arguments of @forward and @loss: an input's type must be fully known.
bool addInputs(Lowerer &lowerer, Function &function, const std::vector<Parameter> &inputs, Scope &scope,
               Arguments &arguments, std::unordered_map<const kiln::Value *, llvm::SMRange> &declaredAt,
               ArgumentRole role) {
  bool ok = true;
  for (const Parameter &input : inputs) {
    std::string what = fmt::format("{} '{}'", role == ArgumentRole::Label ? "label" : "input", input.name);
    if (!input.type) {
      lowerer.diagnostics().error(input.nameRange, fmt::format("{} needs a tensor type", what));
      ok = false;
      continue;
    }
    std::optional<TensorType> type = lowerer.staticTensorType(*input.type, scope, what);
    if (!type) {
      ok = false;
      continue;
    }
    kiln::Value *argument = function.addArgument(*type, input.name, role);
    declaredAt[argument] = input.nameRange;
    arguments.entries.push_back({"", input.nameRange, Object::ofTensor(argument)});
  }
  return ok;
}

void Lowerer::lowerForward(Module &module, const std::shared_ptr<Instance> &model) {
  const FnDecl *forward = model->decl->findMethod("forward");
  if (!forward) {
    diagnostics_.error(model->decl->nameRange, fmt::format("model '{}' has no `fn forward(...)`", model->decl->name));
    return;
  }
  Function *function = beginFunction(module, "forward", forward->nameRange);
  Arguments arguments;
  if (!addInputs(*this, *function, forward->parameters, *model->scope, arguments, declaredAt_, ArgumentRole::Input))
    return;
  addParameterArguments(*function);
  Object result = callFunction(*forward, *model->scope, model, std::move(arguments), forward->nameRange);
  if (setResults(*function, result, forward->body.range)) warnUnusedParameters(*function);
  builder_.reset();
}

// A parameter that @forward never reads is trained for nothing: warned once per declaration.
void Lowerer::warnUnusedParameters(const Function &function) {
  std::unordered_set<const kiln::Value *> read(function.results().begin(), function.results().end());
  for (const auto &op : function.ops()) read.insert(op->operands().begin(), op->operands().end());
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const ParameterSlot &slot = parameters_[index];
    if (read.contains(parameterValues_[index]) || !warnedAt_.insert(slot.decl->nameRange.Start.getPointer()).second)
      continue;
    diagnostics_.warning(slot.decl->nameRange, fmt::format("parameter '{}' is never used by forward", slot.path));
  }
}

void Lowerer::lowerInit(Module &module) {
  Function *function =
      beginFunction(module, "init", parameters_.empty() ? llvm::SMRange() : parameters_.front().decl->nameRange);
  kiln::Value *seed = function->addArgument(TensorType{DType::I64, {}}, "seed");
  parameterValues_.clear();
  std::vector<kiln::Value *> results;
  for (size_t index : slotsInArgumentOrder()) {
    const ParameterSlot &slot = parameters_[index];
    llvm::SMRange where = slot.decl->initializer->range;
    setLocation(where);
    seed_ = seed;
    initializingIndex_ = static_cast<int64_t>(index);
    key_ = nullptr;
    initializing = &slot;
    Object value = evaluate(*slot.decl->initializer, *slot.owner->scope);
    initializing = nullptr;
    if (value.isPoison()) continue;
    if (value.kind == Object::Kind::Int || value.kind == Object::Kind::Float) {
      AttrValue elements = isFloat(slot.type.dtype) ? AttrValue(Floats{value.asDouble()})
                                                    : AttrValue(Ints{static_cast<int64_t>(value.asDouble())});
      value = createOp(OpKind::Constant, {}, {{"value", elements}}, slot.type, where);
      if (value.isPoison()) continue;
    }
    if (value.kind != Object::Kind::Tensor || value.tensor->type() != slot.type) {
      diagnostics_.error(
          where, fmt::format("the initializer of '{}' gives {}, but the parameter is {}", slot.path,
                             value.kind == Object::Kind::Tensor ? toString(value.tensor->type()) : describe(value),
                             toString(slot.type)));
      continue;
    }
    if (value.tensor->isArgument() || !value.tensor->name().empty()) {
      // A parameter's value must be its own op so that it can carry the parameter's name.
      value = createOp(OpKind::Reshape, {value.tensor}, {}, slot.type, where);
    }
    value.tensor->setName(slot.path);
    results.push_back(value.tensor);
  }
  function->setResults(std::move(results));
  builder_.reset();
}

// Each parameter draws from its own stream: key = seed + index. Null where nothing is random
// (an optimizer's initial state).
kiln::Value *Lowerer::randomKey() {
  if (!seed_) return nullptr;
  if (!key_)
    key_ = initializingIndex_ == 0
               ? seed_
               : builder_->create(OpKind::Add,
                                  {seed_, builder_->constant(TensorType{DType::I64, {}}, Ints{initializingIndex_})});
  return key_;
}

std::unique_ptr<Module> Lowerer::run(const File &user, const std::vector<const File *> &library) {
  for (const File *file : library) declareGlobals(*file, true);
  declareGlobals(user, false);
  setTraining(false);
  llvm::SMLoc userPlace = !user.components.empty()  ? user.components.front()->nameRange.Start
                          : !user.functions.empty() ? user.functions.front()->nameRange.Start
                          : !user.trains.empty()    ? user.trains.front()->modelRange.Start
                                                    : llvm::SMLoc();
  if (userPlace.isValid()) userBuffer_ = diagnostics_.sources().FindBufferContainingLoc(userPlace);
  for (const auto &[name, size] : options_.dims) {
    Binding binding{Object::ofInt(size), llvm::SMRange(), false};
    binding.isDimension = true;
    globals_.define(name, binding);
  }
  llvm::StringSet<> declaredDims;
  for (const DimDecl &dim : user.dims) {
    declaredDims.insert(dim.name);
    if (Binding *given = globals_.findHere(dim.name)) {
      if (given->value.kind == Object::Kind::Int && !given->where.isValid()) continue;  // --dim wins
      diagnostics_.error(dim.nameRange, fmt::format("'{}' is already defined", dim.name));
      continue;
    }
    std::optional<int64_t> size = evaluateSize(*dim.value, globals_);
    if (!size) continue;
    if (*size < 1) {
      diagnostics_.error(dim.value->range, fmt::format("dimension '{}' must be positive, not {}", dim.name, *size));
      continue;
    }
    Binding binding{Object::ofInt(*size), dim.nameRange, true};
    binding.isDimension = true;
    globals_.define(dim.name, binding);
  }
  if (diagnostics_.errorCount() > 0) return nullptr;
  std::vector<std::string> unknownDims;
  for (const auto &[name, size] : options_.dims)
    if (!declaredDims.contains(name) && !userGlobals_.contains(name)) unknownDims.push_back(name);
  // A train block naming no model is reported, and the file's model is still checked.
  for (const auto &train : user.trains)
    if (!userGlobals_.contains(train->modelName))
      diagnostics_.error(train->modelRange, fmt::format("no model named '{}'", train->modelName));

  const ComponentDecl *modelDecl = chooseModel(user);
  if (!modelDecl) return nullptr;
  std::shared_ptr<Instance> model = instantiateModel(*modelDecl);
  if (!model) return nullptr;

  auto module = std::make_unique<Module>();
  lowerForward(*module, model);
  lowerInit(*module);
  const TrainDecl *first = nullptr;
  for (const auto &train : user.trains) {
    if (train->modelName != modelDecl->name) continue;
    // Every block is checked, but a model trains one way: its functions are made once.
    if (first) {
      diagnostics_.error(train->modelRange,
                         fmt::format("'{}' has a train block already; a model has one", train->modelName));
      diagnostics_.note(first->modelRange, "the first is here");
    }
    optimizer_.reset();
    schedule_.reset();
    clipNorm_.reset();
    unsigned errorsBefore = diagnostics_.errorCount();
    lowerLoss(*module, *train, model, /*evaluation=*/false);
    if (diagnostics_.errorCount() == errorsBefore) lowerLoss(*module, *train, model, /*evaluation=*/true);
    if (optimizer_) lowerUpdate(*module, train->find("optimizer")->value->range);
    if (!first) {
      first = train.get();
      module->training = training_;
    }
  }
  checkNames(user);
  // A --dim that neither a `dim` declares nor any shape reads would be ignored silently.
  for (const std::string &name : unknownDims)
    if (Binding *binding = globals_.findHere(name); binding && !binding->used)
      diagnostics_.error(
          fmt::format("--dim {}: the model has no dimension '{}' (declare it with `dim {} = ...` or use it in "
                      "a shape)",
                      name, name, name));
  if (diagnostics_.errorCount() > 0) return nullptr;

  for (const ProblemAtOp &error : verify(*module))
    diagnostics_.error(fmt::format("internal compiler error: lowering built invalid IR in @{}: {}",
                                   error.function->name(), error.message));
  if (diagnostics_.errorCount() > 0) return nullptr;
  return module;
}

std::unique_ptr<Module> lowerProgram(const File &user, const std::vector<const File *> &library,
                                     DiagnosticEngine &diagnostics, const LowerOptions &options) {
  return Lowerer(diagnostics, options).run(user, library);
}

}  // namespace kiln::lang
