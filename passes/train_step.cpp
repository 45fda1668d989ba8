// The training step: @train_step joins the loss's gradient function and the optimizer's update
// into the one function a training program calls per batch. Inlining it afterwards makes it one
// graph, so that the clean-up passes, kernel grouping and memory planning see the update too.
//
// @train_step(inputs..., labels..., key?, params..., buffers..., states...) -> (loss, the new
// value of every param, buffer and state argument, in argument order)
//
// 1. Find @loss_grad (from autodiff: the loss, the gradient of each of @loss's `param`
//    arguments, then the new value of each `buffer` argument) and @update (the frontend's:
//    `param` arguments, one gradient `input` per param, `state` arguments; it returns the new
//    value of each param and state, in argument order).
// 2. Check they fit: the same params in the same order, each gradient of the type @update
//    expects, and one new value per buffer.
// 3. Arguments: @loss_grad's inputs, labels and random `key`, then @update's params,
//    @loss_grad's buffers and @update's states.
// 4. Body: call @loss_grad, then call @update on the params, the gradients and the states;
//    return the loss, @update's new params, the new buffers and @update's new states.
#include <fmt/format.h>

#include "ir/Builder.h"
#include "passes/Passes.h"

namespace kiln {

namespace {
llvm::Error mismatch(const std::string &message) {
  return llvm::createStringError(fmt::format("@loss_grad and @update do not fit: {}", message));
}
}  // namespace

llvm::Error runTrainStep(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({"gradient", "update"})) return error;
  // Step 1.
  std::string gradientName = options.get("gradient", "loss_grad"), updateName = options.get("update", "update");
  Function *gradient = module.lookup(gradientName);
  Function *update = module.lookup(updateName);
  if (!gradient || !update)
    return llvm::createStringError(
        fmt::format("the module has no @{}: nothing to join into @train_step", gradient ? updateName : gradientName));
  if (module.lookup("train_step")) return llvm::createStringError("the module has a @train_step already");

  // Step 2.
  std::vector<Value *> parameters = gradient->argumentsWithRole(ArgumentRole::Parameter);
  std::vector<Value *> updatedParameters = update->argumentsWithRole(ArgumentRole::Parameter);
  std::vector<Value *> gradientArguments = update->argumentsWithRole(ArgumentRole::Input);
  if (parameters.size() != updatedParameters.size() || gradientArguments.size() != parameters.size())
    return mismatch(fmt::format("{} params with {} gradients, but @update takes {} params and {} gradients",
                                parameters.size(), gradient->results().size() - 1, updatedParameters.size(),
                                gradientArguments.size()));
  std::vector<Value *> buffers = gradient->argumentsWithRole(ArgumentRole::Buffer);
  if (gradient->results().size() != 1 + parameters.size() + buffers.size())
    return mismatch(fmt::format("@{} returns {} values, not the loss, {} gradients and {} new buffers", gradientName,
                                gradient->results().size(), parameters.size(), buffers.size()));
  for (size_t i = 0; i < buffers.size(); ++i)
    if (gradient->results()[1 + parameters.size() + i]->type() != buffers[i]->type())
      return mismatch(fmt::format("buffer %{} is {}, but its new value is {}", buffers[i]->name(),
                                  toString(buffers[i]->type()),
                                  toString(gradient->results()[1 + parameters.size() + i]->type())));
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (parameters[i]->type() != updatedParameters[i]->type() ||
        gradient->results()[i + 1]->type() != gradientArguments[i]->type())
      return mismatch(fmt::format("param {} is {} with gradient {}, but @update takes {} with gradient {}", i,
                                  toString(parameters[i]->type()), toString(gradient->results()[i + 1]->type()),
                                  toString(updatedParameters[i]->type()), toString(gradientArguments[i]->type())));
  }

  size_t updatedCount = updatedParameters.size() + update->argumentsWithRole(ArgumentRole::OptimizerState).size();
  if (update->results().size() != updatedCount)
    return mismatch(fmt::format("@{} returns {} values, not the new value of each of its {} params and states",
                                updateName, update->results().size(), updatedCount));

  // Step 3.
  auto step = std::make_unique<Function>("train_step", gradient->location());
  ValueMap arguments;
  auto addArguments = [&](const Function &from, std::initializer_list<ArgumentRole> roles) {
    for (ArgumentRole role : roles)
      for (Value *argument : from.argumentsWithRole(role))
        arguments[argument] = step->addArgument(argument->type(), argument->name(), role);
  };
  addArguments(*gradient, {ArgumentRole::Input, ArgumentRole::Label, ArgumentRole::Key});
  addArguments(*update, {ArgumentRole::Parameter});
  addArguments(*gradient, {ArgumentRole::Buffer});
  addArguments(*update, {ArgumentRole::OptimizerState});
  for (size_t i = 0; i < parameters.size(); ++i) arguments[parameters[i]] = arguments.at(updatedParameters[i]);

  // Step 4.
  Builder builder(*step);
  std::vector<Value *> gradientOperands;
  for (const auto &argument : gradient->arguments()) {
    auto found = arguments.find(argument.get());
    if (found == arguments.end())
      return llvm::createStringError(fmt::format("@{} takes '{}', which is neither an input, a label, a key, a "
                                                 "param nor a buffer",
                                                 gradientName, argument->name()));
    gradientOperands.push_back(found->second);
  }
  std::vector<Value *> lossAndGradients = builder.call(*gradient, gradientOperands);
  std::vector<Value *> updateOperands;
  for (size_t i = 0, nextGradient = 0; i < update->arguments().size(); ++i)
    updateOperands.push_back(update->role(i) == ArgumentRole::Input ? lossAndGradients[1 + nextGradient++]
                                                                    : arguments.at(update->argument(i)));
  std::vector<Value *> results{lossAndGradients[0]};
  std::vector<Value *> updated = builder.call(*update, updateOperands);
  results.insert(results.end(), updated.begin(), updated.begin() + std::ptrdiff_t(parameters.size()));
  results.insert(results.end(), lossAndGradients.begin() + std::ptrdiff_t(1 + parameters.size()),
                 lossAndGradients.end());
  results.insert(results.end(), updated.begin() + std::ptrdiff_t(parameters.size()), updated.end());
  step->setResults(std::move(results));
  module.addFunction(std::move(step));
  return llvm::Error::success();
}

}  // namespace kiln
