// What a train block lowers to besides the model's functions: @loss (the block's loss over its
// inputs, labels and the parameters), the checked settings and, when it names an optimizer,
// @update (the optimizer applied to every parameter) and @init_optimizer (its first state). The
// pipeline's train-step pass then joins @loss_grad and @update into @train_step.
//
// Lowering @update:
// 1. Arguments: every parameter (`param`), its gradient `d_<path>` (`input`), the count of
//    updates so far, `step` (`state`, f32[]), and the optimizer's learning rate, `lr` (`state`,
//    f32[], unchanged by the update), so that the program can set it.
// 2. step + 1 is this update's number, as PyTorch counts it.
// 3. For each parameter, each `state` of the optimizer becomes an argument `<state>.<path>` (a
//    `state` of the parameter's type), bound by name in a scope around the call method, which
//    runs on (p, g, step). Its result is the new parameter; what each state's name holds
//    afterwards is the new state.
// 4. A state the method neither read nor assigned for a parameter (Adam's running maximum
//    without AMSGrad) is dropped: its argument goes, so it is neither stored nor updated.
// 5. Results: the new value of every `param` and `state` argument, in argument order.
// @init_optimizer() gives step, lr and the kept states their initial values, in @update's order.
//
// @loss is the code of the training step: `training` is true in it, so dropout draws its masks
// from the step's `key` argument and batch norm assigns its running statistics (buffers), whose
// new values @loss returns after the loss.
//
// @eval_step is @loss that also returns, for each per-example metric of the block (accuracy, mse,
// mae), its [B] values from the standard library's `metric_NAME(forward(inputs...), label)`.
#include <filesystem>

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>

#include "frontend/Lowering.h"

namespace kiln::lang {

bool addInputs(Lowerer &lowerer, Function &function, const std::vector<Parameter> &inputs, Scope &scope,
               Arguments &arguments, std::unordered_map<const kiln::Value *, llvm::SMRange> &declaredAt,
               ArgumentRole role);

void Lowerer::lowerLoss(Module &module, const TrainDecl &train, const std::shared_ptr<Instance> &model,
                        bool evaluation) {
  // The model's members and methods are visible by their bare names: `forward(x)`.
  Scope scope(model->scope.get());
  Function *function = beginFunction(module, evaluation ? "eval_step" : "loss", train.modelRange);
  setTraining(!evaluation);
  Arguments arguments;
  bool ok = addInputs(*this, *function, train.inputs, scope, arguments, declaredAt_, ArgumentRole::Input);
  ok &= addInputs(*this, *function, train.labels, scope, arguments, declaredAt_, ArgumentRole::Label);
  std::vector<const Parameter *> all;
  for (const Parameter &parameter : train.inputs) all.push_back(&parameter);
  for (const Parameter &parameter : train.labels) all.push_back(&parameter);
  for (size_t i = 0; ok && i < all.size(); ++i) {
    if (Binding *previous = scope.findHere(all[i]->name);
        previous && previous->where.isValid() && previous->value.kind == Object::Kind::Tensor) {
      diagnostics_.error(all[i]->nameRange, fmt::format("'{}' is declared twice", all[i]->name));
      diagnostics_.note(previous->where, "first declared here");
    }
    scope.define(all[i]->name, Binding{arguments.entries[i].value, all[i]->nameRange, false, false, true, "input"});
    scope.namesInOrder.push_back(all[i]->name);
  }
  addParameterArguments(*function);
  if (!evaluation) checkTrainSettings(train, scope);
  const TrainEntry *loss = train.find("loss");
  if (!loss) {
    diagnostics_.error(train.modelRange, "the train block needs `loss = ...`");
    builder_.reset();
    setTraining(false);
    return;
  }
  if (ok) {
    Object value = evaluate(*loss->value, scope);
    if (value.kind == Object::Kind::Tensor &&
        (value.tensor->type().rank() != 0 || !isFloat(value.tensor->type().dtype))) {
      diagnostics_.error(loss->value->range,
                         fmt::format("the loss must be a float scalar, but is {}", toString(value.tensor->type())));
    } else if (!value.isPoison()) {
      if (value.kind == Object::Kind::Tensor && value.tensor->name().empty() && !value.tensor->isArgument())
        value.tensor->setName("loss");
      if (evaluation) value = withMetrics(train, scope, arguments, value);
      if (!evaluation) value = withBuffers(value, loss->value->range);
      setResults(*function, value, loss->value->range);
    }
    finishScope(scope);
  }
  builder_.reset();
  setTraining(false);
}

// (loss, the new value of every buffer, in argument order), when the model has buffers.
Object Lowerer::withBuffers(Object loss, llvm::SMRange where) {
  std::vector<Object> results{loss};
  for (size_t index : slotsInArgumentOrder()) {
    if (!parameters_[index].isBuffer()) continue;
    kiln::Value *value = parameterValues_[index];
    // A result is its own buffer: a buffer the step leaves as it is gets a copy.
    if (value->isArgument()) {
      Object copy = createOp(OpKind::Reshape, {value}, {}, value->type(), where);
      if (copy.isPoison()) return copy;
      value = copy.tensor;
    }
    if (value->name().empty() || value->name() == parameters_[index].path) value->setName(parameters_[index].path);
    results.push_back(Object::ofTensor(value));
  }
  return results.size() == 1 ? loss : Object::ofSequence(Object::Kind::Tuple, std::move(results));
}

// (loss, metric_NAME(forward(inputs...), first label) for each per-example metric NAME).
Object Lowerer::withMetrics(const TrainDecl &train, Scope &scope, const Arguments &arguments, Object loss) {
  std::vector<Object> results{loss};
  const TrainEntry *metrics = train.find("metrics");
  const auto *list = metrics ? llvm::dyn_cast<ListExpr>(metrics->value.get()) : nullptr;
  if (!list) return loss;
  Object prediction;
  bool predicted = false;
  for (const ExprPtr &element : list->elements) {
    const std::string &name = llvm::cast<NameExpr>(element.get())->name;
    if (name == "loss" || name == "perplexity") continue;
    llvm::SMRange where = element->range;
    if (train.labels.empty()) {
      diagnostics_.error(where,
                         fmt::format("metric '{}' compares the prediction with a label: declare `label y: ...`", name));
      return Object::poison();
    }
    if (!predicted) {
      predicted = true;
      Binding *forward = scope.find("forward");
      if (!forward) {
        diagnostics_.error(where, fmt::format("metric '{}' needs the model's `fn forward`", name));
        return Object::poison();
      }
      Arguments inputs;
      for (size_t i = 0; i < train.inputs.size(); ++i)
        inputs.entries.push_back({"", where, arguments.entries[i].value});
      prediction = callObject(forward->value, std::move(inputs), where);
      if (prediction.isPoison()) return prediction;
    }
    Binding *metric = globals_.findHere("metric_" + name);
    if (!metric) {
      diagnostics_.error(where, fmt::format("metric '{}' needs the standard library's `metric_{}`", name, name));
      return Object::poison();
    }
    Arguments operands;
    operands.entries.push_back({"", where, prediction});
    operands.entries.push_back({"", where, arguments.entries[train.inputs.size()].value});
    Object value = callObject(metric->value, std::move(operands), where);
    if (value.isPoison()) return value;
    if (value.kind != Object::Kind::Tensor || value.tensor->type().rank() != 1) {
      diagnostics_.error(where, fmt::format("metric_{} gives {}, not one value per example", name, describe(value)));
      return Object::poison();
    }
    value.tensor->setName(name);
    results.push_back(value);
  }
  return results.size() == 1 ? loss : Object::ofSequence(Object::Kind::Tuple, std::move(results));
}

namespace {
const std::string_view kMetrics[] = {"accuracy", "loss", "mse", "mae", "perplexity"};
const std::string_view kSettings[] = {"data",           "loss",  "optimizer", "lr_schedule",
                                      "clip_grad_norm", "batch", "epochs",    "validation_split",
                                      "early_stopping", "seed",  "metrics"};
}  // namespace

void Lowerer::checkTrainSettings(const TrainDecl &train, Scope &scope) {
  training_ = TrainingSettings{};
  training_.model = train.modelName;
  llvm::StringMap<llvm::SMRange> seen;
  for (const TrainEntry &entry : train.entries) {
    if (auto [it, inserted] = seen.try_emplace(entry.key, entry.keyRange); !inserted) {
      diagnostics_.error(entry.keyRange, fmt::format("'{}' is set twice", entry.key));
      diagnostics_.note(it->second, "first set here");
      continue;
    }
    if (std::find(std::begin(kSettings), std::end(kSettings), entry.key) == std::end(kSettings)) {
      diagnostics_.error(entry.keyRange,
                         fmt::format("unknown train setting '{}' (known: {})", entry.key, fmt::join(kSettings, ", ")));
      continue;
    }
    const Expr &value = *entry.value;
    if (entry.key == "loss") continue;
    if (entry.key == "optimizer") {
      optimizer_ = createOptimizer(value, scope);
      continue;
    }
    if (entry.key == "lr_schedule") {
      schedule_ = createSchedule(value, scope);
      continue;
    }
    if (entry.key == "metrics") {
      const auto *list = llvm::dyn_cast<ListExpr>(&value);
      if (!list) {
        diagnostics_.error(value.range, "metrics is a list of names: [accuracy, loss]");
        continue;
      }
      for (const ExprPtr &element : list->elements) {
        const auto *name = llvm::dyn_cast<NameExpr>(element.get());
        if (!name || std::find(std::begin(kMetrics), std::end(kMetrics), name->name) == std::end(kMetrics))
          diagnostics_.error(element->range, "unknown metric (known: accuracy, loss, mse, mae, perplexity)");
        else
          training_.metrics.push_back(name->name);
      }
      continue;
    }
    Object setting = evaluate(value, scope);
    if (setting.isPoison()) continue;
    auto require = [&](bool valid, std::string_view expected) {
      if (!valid)
        diagnostics_.error(value.range, fmt::format("'{}' must be {}, not {}", entry.key, expected, describe(setting)));
    };
    if (entry.key == "data") {
      require(setting.kind == Object::Kind::String, "a string naming the data file");
      if (setting.kind == Object::Kind::String) training_.data = dataPath(setting.text);
    } else if (entry.key == "batch" || entry.key == "epochs") {
      require(setting.kind == Object::Kind::Int && setting.integer > 0, "a positive int");
      if (setting.kind == Object::Kind::Int)
        (entry.key == "batch" ? training_.batch : training_.epochs) = setting.integer;
    }
    if (entry.key == "batch" && setting.kind == Object::Kind::Int) {
      // One rule: a batch is the first axis of every input and label, so `batch` must be its size.
      std::vector<const Parameter *> all;
      for (const Parameter &input : train.inputs) all.push_back(&input);
      for (const Parameter &label : train.labels) all.push_back(&label);
      for (const Parameter *input : all) {
        Binding *binding = scope.findHere(input->name);
        if (!binding || binding->value.kind != Object::Kind::Tensor) continue;
        const TensorType &type = binding->value.tensor->type();
        if (type.rank() == 0 || type.shape[0] == setting.integer) continue;
        diagnostics_.error(value.range,
                           fmt::format("'batch' is {}, but the first axis of '{}', which is the batch, has {} "
                                       "elements: make them one size (`batch = B` with `{}: f32[B, ...]`)",
                                       setting.integer, input->name, type.shape[0], input->name));
        diagnostics_.note(input->nameRange, fmt::format("'{}' is {}, declared here", input->name, toString(type)));
        break;
      }
    } else if (entry.key == "early_stopping") {
      require(setting.kind == Object::Kind::Int && setting.integer >= 0, "a non-negative int (patience in epochs)");
      if (setting.kind == Object::Kind::Int) training_.earlyStopping = setting.integer;
    } else if (entry.key == "seed") {
      require(setting.kind == Object::Kind::Int, "an int");
      if (setting.kind == Object::Kind::Int) training_.seed = setting.integer;
    } else if (entry.key == "validation_split") {
      require((setting.kind == Object::Kind::Float || setting.kind == Object::Kind::Int) && setting.asDouble() >= 0 &&
                  setting.asDouble() < 1,
              "a number in [0, 1)");
      if (setting.isNumber()) training_.validationSplit = setting.asDouble();
    } else if (entry.key == "clip_grad_norm") {
      require((setting.kind == Object::Kind::Float || setting.kind == Object::Kind::Int) && setting.asDouble() > 0,
              "a positive number (the largest 2-norm of all gradients together)");
      if (setting.isNumber()) clipNorm_ = setting.asDouble();
    }
  }
  if (!train.find("optimizer"))
    for (std::string_view key : {"lr_schedule", "clip_grad_norm"})
      if (const TrainEntry *entry = train.find(key))
        diagnostics_.error(entry->keyRange,
                           fmt::format("'{}' changes the optimizer's update: set `optimizer = ...` too", key));
}

// A relative data path names a file beside the model file; `generated:NAME` names data the
// program makes itself.
std::string Lowerer::dataPath(const std::string &written) const {
  std::filesystem::path path(written);
  if (written.starts_with("generated:") || path.is_absolute() || userBuffer_ == 0) return written;
  std::filesystem::path model(diagnostics_.sources().getMemoryBuffer(userBuffer_)->getBufferIdentifier().str());
  return (model.parent_path() / path).lexically_normal().string();
}

// optimizer = NAME(settings...): an instance of an `optimizer` declaration.
std::shared_ptr<Instance> Lowerer::createOptimizer(const Expr &expr, Scope &scope) {
  if (const auto *call = llvm::dyn_cast<CallExpr>(&expr))
    if (const auto *name = llvm::dyn_cast<NameExpr>(call->callee.get()); name && !scope.find(name->name)) {
      diagnostics_.error(name->range, fmt::format("unknown optimizer '{}' (the standard library has sgd, adam, adamw, "
                                                  "rmsprop and adagrad; declare others with `optimizer`)",
                                                  name->name));
      return nullptr;
    }
  creatingInstances = true;
  creatingOptimizer_ = true;
  std::vector<std::string> savedPath = std::move(instancePath);
  instancePath.clear();
  Object value = evaluate(expr, scope);
  instancePath = std::move(savedPath);
  creatingOptimizer_ = false;
  creatingInstances = false;
  if (value.isPoison()) return nullptr;
  if (value.kind != Object::Kind::Instance || !value.instance->decl->isOptimizer) {
    diagnostics_.error(expr.range, fmt::format("the optimizer must be created by an optimizer such as sgd(...), "
                                               "adam(...), adamw(...), rmsprop(...) or adagrad(...), not {}",
                                               describe(value)));
    return nullptr;
  }
  if (!value.instance->decl->findMethod("")) {
    diagnostics_.error(expr.range, fmt::format("optimizer '{}' has no update method `fn (p, g, step) {{ ... }}`",
                                               value.instance->decl->name));
    return nullptr;
  }
  return value.instance;
}

// lr_schedule = NAME(settings...): a layer without parameters whose call method maps the update
// number to a factor of lr.
std::shared_ptr<Instance> Lowerer::createSchedule(const Expr &expr, Scope &scope) {
  size_t parametersBefore = parameters_.size();
  creatingInstances = true;
  std::vector<std::string> savedPath = std::move(instancePath);
  instancePath.clear();
  Object value = evaluate(expr, scope);
  instancePath = std::move(savedPath);
  creatingInstances = false;
  if (value.isPoison()) return nullptr;
  bool isSchedule = value.kind == Object::Kind::Instance && !value.instance->decl->isModel &&
                    value.instance->decl->findMethod("") && parameters_.size() == parametersBefore;
  parameters_.resize(parametersBefore);
  if (!isSchedule) {
    diagnostics_.error(expr.range,
                       fmt::format("the lr_schedule must be a layer without parameters that maps the update "
                                   "number to a factor of lr, such as step_decay(...), cosine_decay(...), "
                                   "linear_warmup(...) or warmup_cosine(...), not {}",
                                   describe(value)));
    return nullptr;
  }
  return value.instance;
}

void Lowerer::lowerUpdate(Module &module, llvm::SMRange where) {
  const Instance &optimizer = *optimizer_;
  const ComponentDecl &decl = *optimizer.decl;
  const FnDecl &method = *decl.findMethod("");
  unsigned errorsBefore = diagnostics_.errorCount();
  // Step 1.
  Function *function = beginFunction(module, "update", where);
  addParameterArguments(*function, /*withBuffers=*/false);
  std::vector<size_t> trainable;
  for (size_t index : slotsInArgumentOrder())
    if (!parameters_[index].isBuffer()) trainable.push_back(index);
  std::vector<kiln::Value *> gradients;
  for (size_t index : trainable)
    gradients.push_back(
        function->addArgument(parameters_[index].type, "d_" + parameters_[index].path, ArgumentRole::Input));
  TensorType scalar{DType::F32, {}};
  kiln::Value *count = function->addArgument(scalar, "step", ArgumentRole::OptimizerState);
  // The learning rate is state too, as in PyTorch's param_groups: `prog train --lr` sets it.
  kiln::Value *rate = nullptr;
  std::optional<double> initialRate;
  if (Binding *lr = optimizer.scope->findHere("lr"); lr && lr->value.isNumber()) {
    initialRate = lr->value.asDouble();
    rate = function->addArgument(scalar, "lr", ArgumentRole::OptimizerState);
  }
  // Step 2.
  setLocation(where);
  Object one = createOp(OpKind::Constant, {}, {{"value", Floats{1.0}}}, scalar, where);
  if (one.isPoison()) return;
  Object step = createOp(OpKind::Add, {count, one.tensor}, {}, scalar, where);
  if (step.isPoison()) return;
  step.tensor->setName("step");
  if (clipNorm_ && !clipGradients(gradients, where)) return;
  kiln::Value *scheduledRate = schedule_ ? scheduleRate(step.tensor, rate, where) : rate;
  if (schedule_ && !scheduledRate) return;

  // Step 3.
  std::unordered_map<kiln::Value *, kiln::Value *> updated;  // argument -> its new value
  std::vector<std::pair<kiln::Value *, const StateDecl *>> stateArguments;
  for (size_t position = 0; position < trainable.size() && !diagnostics_.tooManyErrors(); ++position) {
    size_t index = trainable[position];
    const ParameterSlot &slot = parameters_[index];
    Scope states(optimizer.scope.get());
    if (scheduledRate) states.define("lr", Binding{Object::ofTensor(scheduledRate), where, true});
    for (const StateDecl &state : decl.states) {
      kiln::Value *argument =
          function->addArgument(slot.type, state.name + "." + slot.path, ArgumentRole::OptimizerState);
      stateArguments.emplace_back(argument, &state);
      states.define(state.name, Binding{Object::ofTensor(argument), state.nameRange, true, true});
    }
    Arguments arguments;
    for (kiln::Value *value : {parameterValues_[index], gradients[position], step.tensor})
      arguments.entries.push_back({"", where, Object::ofTensor(value)});
    if (method.parameters.size() < arguments.entries.size()) arguments.entries.resize(method.parameters.size());
    Object result = callFunction(method, states, optimizer_, std::move(arguments), where);
    if (result.isPoison()) continue;
    auto asParameterType = [&](Object value, const std::string &what) -> kiln::Value * {
      if (value.isNumber()) value = Object::ofTensor(asTensor(value, slot.type.dtype, where));
      if (value.kind == Object::Kind::Tensor && value.tensor && value.tensor->type() == slot.type) return value.tensor;
      diagnostics_.error(
          where, fmt::format("{} of '{}' is {}, but the parameter is {}", what, slot.path,
                             value.kind == Object::Kind::Tensor ? toString(value.tensor->type()) : describe(value),
                             toString(slot.type)));
      return nullptr;
    };
    if (kiln::Value *value = asParameterType(result, fmt::format("{}'s update", decl.name)))
      updated[parameterValues_[index]] = value;
    for (auto it = stateArguments.end() - static_cast<std::ptrdiff_t>(decl.states.size()); it != stateArguments.end();
         ++it)
      if (kiln::Value *value =
              asParameterType(states.findHere(it->second->name)->value, fmt::format("state '{}'", it->second->name)))
        updated[it->first] = value;
  }
  if (diagnostics_.errorCount() > errorsBefore) {
    builder_.reset();
    return;
  }
  // Step 4.
  for (auto it = stateArguments.rbegin(); it != stateArguments.rend(); ++it) {
    kiln::Value *argument = it->first;
    if (argument->hasUses() || updated.at(argument) != argument) continue;
    updated.erase(argument);
    function->eraseArgument(argument->index());
  }
  std::erase_if(stateArguments, [&](const auto &entry) { return !updated.contains(entry.first); });
  // Step 5.
  updated[count] = step.tensor;
  if (rate) updated[rate] = rate;
  std::vector<kiln::Value *> results;
  for (const auto &argument : function->arguments())
    if (auto it = updated.find(argument.get()); it != updated.end()) {
      kiln::Value *value = it->second;
      // A value returned twice, or an argument returned as it is, gets its own op: each result is
      // its own buffer. An unnamed result takes the name of the argument it replaces.
      if (value->isArgument() || std::count(results.begin(), results.end(), value) > 0)
        value = createOp(OpKind::Reshape, {value}, {}, value->type(), where).tensor;
      if (!value) break;
      if (value->name().empty()) value->setName(argument->name());
      results.push_back(value);
    }
  function->setResults(std::move(results));
  builder_.reset();
  lowerOptimizerInit(module, initialRate, stateArguments, where);
}

// clip_grad_norm = N: the gradients as the standard library's clip_grad_norm(gradients, N) gives them.
bool Lowerer::clipGradients(std::vector<kiln::Value *> &gradients, llvm::SMRange where) {
  Binding *clip = globals_.findHere("clip_grad_norm");
  if (!clip) {
    diagnostics_.error(where, "clip_grad_norm needs the standard library's function of that name");
    return false;
  }
  std::vector<Object> list;
  for (kiln::Value *gradient : gradients) list.push_back(Object::ofTensor(gradient));
  Arguments arguments;
  arguments.entries.push_back({"", where, Object::ofSequence(Object::Kind::List, std::move(list))});
  arguments.entries.push_back({"", where, Object::ofFloat(*clipNorm_)});
  Object clipped = callObject(clip->value, std::move(arguments), where);
  if (clipped.isPoison()) return false;
  if (!clipped.isSequence() || clipped.elements->size() != gradients.size()) {
    diagnostics_.error(
        where, fmt::format("clip_grad_norm gives {}, not a list of {} gradients", describe(clipped), gradients.size()));
    return false;
  }
  for (size_t i = 0; i < gradients.size(); ++i) {
    const Object &element = (*clipped.elements)[i];
    if (element.kind != Object::Kind::Tensor || element.tensor->type() != gradients[i]->type()) {
      diagnostics_.error(where, fmt::format("clip_grad_norm gives {} for '{}', which is {}", describe(element),
                                            gradients[i]->name(), toString(gradients[i]->type())));
      return false;
    }
    gradients[i] = element.tensor;
  }
  return true;
}

// lr_schedule = S: the optimizer's lr becomes the tensor lr * S(step) during the update.
kiln::Value *Lowerer::scheduleRate(kiln::Value *step, kiln::Value *rate, llvm::SMRange where) {
  if (!rate) {
    diagnostics_.error(where, fmt::format("an lr_schedule scales the optimizer's 'lr', but '{}' has no number 'lr'",
                                          optimizer_->decl->name));
    return nullptr;
  }
  Arguments arguments;
  arguments.entries.push_back({"", where, Object::ofTensor(step)});
  Object factor =
      callFunction(*schedule_->decl->findMethod(""), *schedule_->scope, schedule_, std::move(arguments), where);
  if (factor.isPoison()) return nullptr;
  TensorType scalar{DType::F32, {}};
  if (factor.isNumber()) factor = Object::ofTensor(asTensor(factor, DType::F32, where));
  if (factor.kind != Object::Kind::Tensor || factor.tensor->type() != scalar) {
    diagnostics_.error(
        where, fmt::format("the lr_schedule's factor must be f32[], not {}",
                           factor.kind == Object::Kind::Tensor ? toString(factor.tensor->type()) : describe(factor)));
    return nullptr;
  }
  Object scaled = createOp(OpKind::Mul, {rate, factor.tensor}, {}, scalar, where);
  if (scaled.isPoison()) return nullptr;
  scaled.tensor->setName("lr");
  return scaled.tensor;
}

void Lowerer::lowerOptimizerInit(Module &module, std::optional<double> rate,
                                 const std::vector<std::pair<kiln::Value *, const StateDecl *>> &stateArguments,
                                 llvm::SMRange where) {
  Function *function = beginFunction(module, "init_optimizer", where);
  setLocation(where);
  TensorType scalar{DType::F32, {}};
  std::vector<kiln::Value *> results;
  Object zero = createOp(OpKind::Constant, {}, {{"value", Floats{0.0}}}, scalar, where);
  if (zero.isPoison()) return;
  zero.tensor->setName("step");
  results.push_back(zero.tensor);
  if (rate) {
    Object initial = createOp(OpKind::Constant, {}, {{"value", Floats{*rate}}}, scalar, where);
    if (initial.isPoison()) return;
    initial.tensor->setName("lr");
    results.push_back(initial.tensor);
  }
  seed_ = nullptr;
  key_ = nullptr;
  for (const auto &[argument, state] : stateArguments) {
    ParameterSlot slot{argument->name(), argument->type(), nullptr, optimizer_};
    setLocation(state->initializer->range);
    initializing = &slot;
    Object value = evaluate(*state->initializer, *optimizer_->scope);
    initializing = nullptr;
    if (value.isPoison()) continue;
    if (value.isNumber()) {
      AttrValue elements = isFloat(slot.type.dtype) ? AttrValue(Floats{value.asDouble()})
                                                    : AttrValue(Ints{static_cast<int64_t>(value.asDouble())});
      value = createOp(OpKind::Constant, {}, {{"value", elements}}, slot.type, state->initializer->range);
      if (value.isPoison()) continue;
    }
    if (value.kind != Object::Kind::Tensor || value.tensor->type() != slot.type) {
      diagnostics_.error(
          state->initializer->range,
          fmt::format("the initial value of state '{}' is {}, but the parameter is {}", slot.path,
                      value.kind == Object::Kind::Tensor ? toString(value.tensor->type()) : describe(value),
                      toString(slot.type)));
      continue;
    }
    if (value.tensor->isArgument() || !value.tensor->name().empty() ||
        std::count(results.begin(), results.end(), value.tensor) > 0)
      value = createOp(OpKind::Reshape, {value.tensor}, {}, slot.type, state->initializer->range);
    value.tensor->setName(slot.path);
    results.push_back(value.tensor);
  }
  function->setResults(std::move(results));
  builder_.reset();
}

}  // namespace kiln::lang
