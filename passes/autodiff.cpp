// Reverse-mode automatic differentiation: appends to the module, for a function and the
// arguments to differentiate against, a function computing its result and gradients.
//
// 1. Activity: a value is active when it is a float, depends on a differentiated argument
//    through floats (forward walk) and the differentiated result depends on it (backward
//    walk). Only active values get cotangents, so inactive paths cost nothing and no zero
//    tensors are built. Integer and boolean values carry no derivative: they are piecewise
//    constant in the arguments (argmax, a comparison, a float-to-int cast), so their derivative
//    is zero wherever it exists. `x * cast(x > 0)` differentiates as ReLU, as in PyTorch and JAX.
// 2. Check every active op at once: a rule exists and the op is differentiable. All problems
//    go into one OpErrors, each about its forward op, so that the tool points at that op in
//    the text.
// 3. Copy the forward ops into @NAME_grad, seed the result's cotangent (1 for a scalar,
//    else a new last argument), walk the ops in reverse applying each op's rule and
//    summing the contributions of a value used several times.
// 4. Return the result, then one gradient per differentiated argument in the order asked
//    (a zero splat for one the result does not depend on), then the function's other results
//    as they are (a training step's new batch-norm statistics); remove ops nothing uses.
//
// Calls are not differentiated through: autodiff runs before kernels are outlined, so the
// compiler's own functions have no calls yet, and a call in IR text is inlined first (the
// `inline` pass), which lets simplify and cse work across the former call boundary.
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <llvm/ADT/StringExtras.h>

#include "ir/Diagnostics.h"
#include "ir/Printer.h"
#include "passes/Passes.h"
#include "passes/gradients/GradientRules.h"

namespace kiln {

namespace {
struct Request {
  const Function *function;
  size_t resultIndex;
  std::vector<const Value *> arguments;  // differentiated, in the order of the gradients
};

class Activity {
public:
  Activity(const Function &function, const Request &request) {
    varied_.insert(request.arguments.begin(), request.arguments.end());
    for (const auto &op : function.ops())
      for (const Value *operand : op->operands())
        if (varied_.count(operand)) {
          for (const Value *result : op->results())
            if (isFloat(result->type().dtype)) varied_.insert(result);
          break;
        }
    useful_.insert(function.results()[request.resultIndex]);
    for (auto it = function.ops().rbegin(); it != function.ops().rend(); ++it) {
      const auto &results = (*it)->results();
      if (std::any_of(results.begin(), results.end(), [&](const Value *result) { return useful_.count(result) > 0; }))
        for (const Value *operand : (*it)->operands()) useful_.insert(operand);
    }
  }
  bool active(const Operation &op) const {
    return std::any_of(op.results().begin(), op.results().end(), [&](const Value *result) { return active(result); });
  }

  bool varied(const Value *value) const { return varied_.count(value) > 0; }
  bool active(const Value *value) const { return varied_.count(value) && useful_.count(value); }

private:
  std::unordered_set<const Value *> varied_, useful_;
};

std::vector<ProblemAtOp> findProblems(const Function &function, const Activity &activity) {
  std::vector<ProblemAtOp> problems;
  for (const auto &op : function.ops()) {
    if (!activity.active(*op)) continue;
    if (op->kind() == OpKind::Call) {
      problems.push_back(
          {&function, op.get(), "autodiff does not differentiate through calls: run the inline pass first"});
      continue;
    }
    // An op of several results (attention's log-sum-exp) has a rule for its first one only.
    for (size_t i = 1; i < op->resultCount(); ++i)
      if (activity.active(op->result(i)))
        problems.push_back({&function, op.get(),
                            fmt::format("a gradient is requested through result {} of '{}', but only its first "
                                        "result has a gradient rule",
                                        i, op->name())});
    const GradientRule *rule = findGradientRule(op->kind());
    for (const Value *operand : op->operands()) {
      if (!activity.varied(operand)) continue;
      if (!rule) {
        problems.push_back({&function, op.get(), fmt::format("'{}' has no gradient rule", op->name())});
        break;
      }
      if (!rule->vectorJacobianProduct) {
        problems.push_back(
            {&function, op.get(),
             fmt::format("'{}' is not differentiable, but a gradient is requested through it", op->name())});
        break;
      }
    }
  }
  return problems;
}

llvm::Expected<std::unique_ptr<Function>> buildGradient(const Request &request, const Activity &activity) {
  const Function &forward = *request.function;
  ValueMap copied;
  auto gradient = cloneFunction(forward, forward.name() + "_grad", &copied);

  Builder builder(*gradient);
  GradientBuilder build(builder);
  const Value *result = forward.results()[request.resultIndex];
  std::unordered_map<const Value *, Value *> cotangents;
  cotangents[result] = result->type().rank() == 0 ? builder.constant(result->type(), Floats{1.0})
                                                  : gradient->addArgument(result->type(), "cotangent");

  for (auto it = forward.ops().rbegin(); it != forward.ops().rend(); ++it) {
    const Operation &op = **it;
    if (op.kind() == OpKind::Call || op.resultCount() == 0) continue;  // findProblems refused active calls
    auto cotangent = cotangents.find(op.result(0));
    if (cotangent == cotangents.end() || !activity.active(op.result(0))) continue;
    builder.setLocation(op.location());
    std::vector<Value *> operands, results;
    for (Value *operand : op.operands()) operands.push_back(copied.at(operand));
    for (Value *opResult : op.results()) results.push_back(copied.at(opResult));
    GradientContext context{build, op, operands, results.front(), cotangent->second, results};
    std::vector<Value *> contributions = findGradientRule(op.kind())->vectorJacobianProduct(context);
    for (size_t i = 0; i < op.operands().size(); ++i) {
      const Value *operand = op.operand(i);
      if (!contributions[i] || !activity.active(operand)) continue;
      if (contributions[i]->type() != operand->type())
        return llvm::createStringError(
            fmt::format("internal error: the gradient rule of '{}' gives {} for operand {} of type {}", op.name(),
                        toString(contributions[i]->type()), i, toString(operand->type())));
      auto [existing, inserted] = cotangents.try_emplace(operand, contributions[i]);
      if (!inserted) existing->second = build.add(existing->second, contributions[i]);
    }
  }

  builder.setLocation(forward.location());
  std::vector<Value *> results{copied.at(result)};
  for (const Value *argument : request.arguments) {
    auto found = cotangents.find(argument);
    Value *argumentGradient = found != cotangents.end() ? found->second : build.zeros(argument->type());
    // `%d_w` reads as the gradient of %w; forward values and arguments keep their own names.
    if (argumentGradient->definingOp() && argumentGradient->name().empty() && !argument->name().empty())
      argumentGradient->setName("d_" + argument->name());
    results.push_back(argumentGradient);
  }
  for (size_t index = 0; index < forward.results().size(); ++index)
    if (index != request.resultIndex) results.push_back(copied.at(forward.results()[index]));
  gradient->setResults(std::move(results));
  eliminateDeadCode(*gradient);
  return gradient;
}

llvm::Expected<Request> makeRequest(const Function &function, size_t resultIndex,
                                    std::vector<const Value *> arguments) {
  if (resultIndex >= function.results().size())
    return llvm::createStringError(fmt::format("{} is not a result index of @{}, which has {} result(s)", resultIndex,
                                               function.name(), function.results().size()));
  const Value *result = function.results()[resultIndex];
  if (!isFloat(result->type().dtype))
    return llvm::createStringError(fmt::format("result {} of @{} is {}, not a float: it has no gradient", resultIndex,
                                               function.name(), toString(result->type())));
  if (arguments.empty())
    return llvm::createStringError(fmt::format("@{} has no float argument to differentiate against", function.name()));
  for (size_t i = 0; i < arguments.size(); ++i) {
    const Value *argument = arguments[i];
    if (!argument->isArgument() || argument->index() >= function.arguments().size() ||
        function.argument(argument->index()) != argument)
      return llvm::createStringError(fmt::format("%{} is not an argument of @{}", argument->name(), function.name()));
    if (!isFloat(argument->type().dtype))
      return llvm::createStringError(fmt::format("argument %{} of @{} is {}, not a float", argument->name(),
                                                 function.name(), toString(argument->type())));
    if (std::find(arguments.begin(), arguments.begin() + i, argument) != arguments.begin() + i)
      return llvm::createStringError(
          fmt::format("argument %{} of @{} is asked for twice", argument->name(), function.name()));
  }
  return Request{&function, resultIndex, std::move(arguments)};
}

// The pass's options: of=INDEX (needed when the function has several results), wrt=A:B:C
// (argument names; default every float argument).
llvm::Expected<Request> requestFromOptions(const Function &function, const PassOptions &options) {
  size_t resultIndex = 0;
  std::string of = options.get("of");
  if (!of.empty()) {
    if (!llvm::to_integer(of, resultIndex) || resultIndex >= function.results().size())
      return llvm::createStringError(fmt::format("of={} is not a result index of @{}, which has {} result(s)", of,
                                                 function.name(), function.results().size()));
  } else if (function.results().size() != 1) {
    return llvm::createStringError(fmt::format("@{} has {} results; choose the one to differentiate with of=INDEX",
                                               function.name(), function.results().size()));
  }
  std::vector<const Value *> arguments;
  std::string wrt = options.get("wrt");
  if (wrt.empty()) {
    for (const auto &argument : function.arguments())
      if (isFloat(argument->type().dtype)) arguments.push_back(argument.get());
  } else {
    llvm::SmallVector<llvm::StringRef> names;
    llvm::StringRef(wrt).split(names, ':', -1, false);
    for (llvm::StringRef name : names) {
      auto found = std::find_if(function.arguments().begin(), function.arguments().end(),
                                [&](const auto &argument) { return argument->name() == name.trim(); });
      if (found == function.arguments().end())
        return llvm::createStringError(fmt::format("wrt: @{} has no argument %{}", function.name(), name.trim().str()));
      arguments.push_back(found->get());
    }
  }
  auto request = makeRequest(function, resultIndex, std::move(arguments));
  if (!request && !wrt.empty())
    return llvm::createStringError(fmt::format("wrt: {}", llvm::toString(request.takeError())));
  return request;
}

// Checks, builds and adds @NAME_grad.
llvm::Expected<Function *> differentiate(Module &module, const Request &request) {
  const Function &function = *request.function;
  if (module.lookup(function.name() + "_grad"))
    return llvm::createStringError(fmt::format("@{}_grad exists already", function.name()));
  Activity activity(function, request);
  std::vector<ProblemAtOp> problems = findProblems(function, activity);
  if (!problems.empty())
    return llvm::make_error<OpErrors>(fmt::format("cannot differentiate @{}", function.name()), problems);
  auto gradient = buildGradient(request, activity);
  if (!gradient) return gradient.takeError();
  return module.addFunction(std::move(*gradient));
}

// The functions differentiated when no function= option is given: those whose only result
// is a float scalar (a loss) and which have no gradient function yet.
std::vector<Function *> defaultTargets(const Module &module) {
  std::vector<Function *> targets;
  for (const auto &function : module.functions()) {
    const auto &results = function->results();
    if (results.size() == 1 && results[0]->type().rank() == 0 && isFloat(results[0]->type().dtype) &&
        !module.lookup(function->name() + "_grad"))
      targets.push_back(function.get());
  }
  return targets;
}
}  // namespace

llvm::Expected<Function *> differentiate(Module &module, const Function &function,
                                         std::span<const Value *const> arguments, size_t resultIndex) {
  auto request = makeRequest(function, resultIndex, std::vector<const Value *>(arguments.begin(), arguments.end()));
  if (!request) return request.takeError();
  return differentiate(module, *request);
}

llvm::Error runAutodiff(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({"function", "wrt", "of"})) return error;
  std::vector<Function *> targets;
  if (std::string name = options.get("function"); !name.empty()) {
    Function *function = module.lookup(name);
    if (!function) return llvm::createStringError(fmt::format("function=@{}: no such function", name));
    targets.push_back(function);
  } else {
    targets = defaultTargets(module);
  }

  for (Function *function : targets) {
    auto request = requestFromOptions(*function, options);
    if (!request) return request.takeError();
    if (auto gradient = differentiate(module, *request); !gradient) return gradient.takeError();
  }
  return llvm::Error::success();
}

}  // namespace kiln
