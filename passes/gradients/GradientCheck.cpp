// Gradient checking: the analytic gradient from autodiff against central differences
// (f(x + h) - f(x - h)) / 2h, one element at a time, everything in f64.
#include "passes/gradients/GradientCheck.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

#include <fmt/format.h>

#include "backends/interpreter/Interpreter.h"
#include "ir/Diagnostics.h"
#include "passes/Passes.h"
#include "passes/gradients/IndexBounds.h"

namespace kiln {

namespace {
TensorType toFloat64(TensorType type) {
  if (type.dtype == DType::F32) type.dtype = DType::F64;
  return type;
}

// Integers and booleans with no index use: 0 or 1, both sides of a comparison, small products.
constexpr int64_t kDefaultIntegerLimit = 2;

// Integer elements are uniform in [0, integerLimit); an empty axis has no valid index, so a
// limit of 0 gives zeros and leaves the interpreter to report the gather.
Tensor randomTensor(const TensorType &type, bool positive, int64_t integerLimit, std::mt19937_64 &random) {
  Tensor tensor(type);
  std::uniform_real_distribution<double> magnitude(0.1, 0.9);
  std::bernoulli_distribution coin(0.5);
  std::uniform_int_distribution<int64_t> integer(0, std::max<int64_t>(integerLimit, 1) - 1);
  for (int64_t i = 0; i < tensor.elementCount(); ++i) {
    if (isFloat(type.dtype))
      tensor.setDouble(i, (positive || coin(random) ? 1.0 : -1.0) * magnitude(random));
    else
      tensor.setInt(i, integer(random));
  }
  return tensor;
}

// `count` distinct flat indices of `gradient`, fewer than its element count: half of them
// (rounded up) among the elements with a non-zero gradient as far as there are such, the rest
// uniformly among all the others.
std::vector<int64_t> sampleElements(const Tensor &gradient, int64_t count, std::mt19937_64 &random) {
  std::vector<int64_t> elements(gradient.elementCount());
  std::iota(elements.begin(), elements.end(), 0);
  std::shuffle(elements.begin(), elements.end(), random);
  // Keeps the shuffled order within each part, so each part is still a uniform sample.
  auto firstZero =
      std::stable_partition(elements.begin(), elements.end(), [&](int64_t i) { return gradient.getDouble(i) != 0; });
  int64_t fromNonZero = std::min<int64_t>((count + 1) / 2, firstZero - elements.begin());
  std::vector<int64_t> chosen(elements.begin(), elements.begin() + fromNonZero);
  std::vector<int64_t> rest(elements.begin() + fromNonZero, elements.end());
  std::shuffle(rest.begin(), rest.end(), random);
  chosen.insert(chosen.end(), rest.begin(), rest.begin() + (count - fromNonZero));
  return chosen;
}

// The scalar the numeric derivative is taken of: the result, or <cotangent, result>.
llvm::Expected<double> objective(const Function &function, std::span<const Tensor> arguments, size_t resultIndex,
                                 const Tensor *cotangent) {
  auto results = interpret(function, arguments);
  if (!results) return results.takeError();
  const Tensor &result = (*results)[resultIndex];
  double total = 0;
  for (int64_t i = 0; i < result.elementCount(); ++i)
    total += result.getDouble(i) * (cotangent ? cotangent->getDouble(i) : 1.0);
  return total;
}

// How far apart, in tolerances, the one-sided differences of a kink must be: far enough that
// the truncation and rounding errors of a smooth function cannot explain it.
constexpr double kKinkSeparation = 10;

// How much a change of f may differ between the step and half of it for a jump: a smooth f's
// change halves with the step, a jump's stays.
constexpr double kJumpAgreement = 0.01;

// Whether a failing element sits at a corner or a jump of f, by f alone (no knowledge of the ops):
//   1. the one-sided differences below and above x, with the central step h, disagree by more
//      than kKinkSeparation tolerances;
//   2. a jump: on one side, the change of f at the step h/2 is that at h, within kJumpAgreement;
//   3. else a corner: each one-sided difference agrees with itself at the step h/2, so the
//      disagreement is a change of slope at x, not noise or curvature, which would change with
//      the step.
// `evaluate` gives f with the element shifted by an offset; `centre`, `below` and `above` are f at
// offsets 0, -step and step.
template <typename Evaluate>
llvm::Expected<std::optional<Kink>> findKink(Evaluate evaluate, int64_t element, double centre, double below,
                                             double above, double step, double analytic, const Tolerances &tolerances) {
  double slopeBelow = (centre - below) / step, slopeAbove = (above - centre) / step;
  Tolerances separation{kKinkSeparation * tolerances.absolute, kKinkSeparation * tolerances.relative};
  bool apart = !separation.accept(slopeBelow, slopeAbove) && !separation.accept(slopeAbove, slopeBelow);
  if (!apart || !std::isfinite(slopeBelow) || !std::isfinite(slopeAbove)) return std::nullopt;
  auto halfBelow = evaluate(-step / 2);
  if (!halfBelow) return halfBelow.takeError();
  auto halfAbove = evaluate(step / 2);
  if (!halfAbove) return halfAbove.takeError();
  auto stays = [](double change, double halfChange) {
    return change != 0 && std::abs(halfChange - change) <= kJumpAgreement * std::abs(change);
  };
  double changeBelow = centre - below, changeAbove = above - centre;
  if (stays(changeAbove, *halfAbove - centre) || stays(changeBelow, centre - *halfBelow)) {
    double size = std::abs(changeAbove) > std::abs(changeBelow) ? changeAbove : changeBelow;
    return Kink{element, slopeBelow, slopeAbove, analytic, true, size};
  }
  double halfSlopeBelow = (centre - *halfBelow) / (step / 2), halfSlopeAbove = (*halfAbove - centre) / (step / 2);
  if (!tolerances.accept(halfSlopeBelow, slopeBelow) || !tolerances.accept(halfSlopeAbove, slopeAbove))
    return std::nullopt;
  return Kink{element, slopeBelow, slopeAbove, analytic};
}
}  // namespace

void Agreement::add(double computed, double expected, const Tolerances &tolerances) {
  int64_t element = elementsSeen++;
  if (std::isnan(computed) || std::isnan(expected)) {
    if (nanElements++ == 0) firstNaNElement = element, firstNaNComputed = std::isnan(computed);
  }
  double error = std::abs(computed - expected);
  if (!tolerances.accept(computed, expected)) passed = false;
  if (!(error <= worstAbsoluteError)) worstAbsoluteError = error;
  double relative = error / std::max({std::abs(expected), tolerances.absolute, std::numeric_limits<double>::min()});
  if (!(relative <= worstRelativeError)) worstRelativeError = relative;
}

std::string Agreement::describeNaN(std::string_view computedName, std::string_view expectedName) const {
  if (nanElements == 0) return "";
  return fmt::format(", NaN in {} at element {} ({} NaN element{})", firstNaNComputed ? computedName : expectedName,
                     firstNaNElement, nanElements, nanElements == 1 ? "" : "s");
}

std::unique_ptr<Function> castToFloat64(const Function &function, CopyOrigins *origins) {
  ValueMap copied;
  auto copy = cloneFunction(function, function.name(), &copied, toFloat64);
  if (origins) {
    origins->functions[copy.get()] = &function;
    for (const auto &op : function.ops())
      if (op->resultCount() > 0) origins->ops[copied.at(op->result(0))->definingOp()] = op.get();
  }
  return copy;
}

llvm::Error atOriginalOps(llvm::Error error, const CopyOrigins &origins) {
  return llvm::handleErrors(std::move(error), [&](std::unique_ptr<OpErrors> errors) -> llvm::Error {
    errors->rekey(origins.ops, origins.functions);
    errors->prefixSubject("in f64: ");
    return llvm::Error(std::move(errors));
  });
}

namespace {
// The parameters that the module's @init makes from `seed`, named as the parameter arguments of
// `function` (@init returns them in parameter order).
llvm::Expected<std::vector<std::pair<std::string, Tensor>>> initialParameters(const Function &function, uint64_t seed) {
  const Function *init = function.parent() ? function.parent()->lookup("init") : nullptr;
  if (!init) return llvm::createStringError("there is no @init to take the parameters from");
  Tensor seedTensor(TensorType{DType::I64, {}});
  seedTensor.setInt(0, static_cast<int64_t>(seed));
  auto values = interpret(*init, std::vector<Tensor>{seedTensor});
  if (!values) return values.takeError();
  std::vector<std::pair<std::string, Tensor>> parameters;
  for (size_t i = 0; i < function.arguments().size(); ++i)
    if (function.role(i) == ArgumentRole::Parameter) {
      if (parameters.size() == values->size())
        return llvm::createStringError(
            fmt::format("@init makes {} parameters, fewer than @{} takes", values->size(), function.name()));
      parameters.emplace_back(function.argument(i)->name(), std::move((*values)[parameters.size()]));
    }
  return parameters;
}

llvm::Expected<GradientCheckReport> checkGradientOfCopy(const Function &function, const GradientCheckOptions &options,
                                                        CopyOrigins &origins) {
  Module module;
  Function *forward = module.addFunction(castToFloat64(function, &origins));
  // Autodiff differentiates no call: the callees come along in f64 and are inlined.
  bool calls = std::any_of(function.ops().begin(), function.ops().end(),
                           [](const auto &op) { return op->kind() == OpKind::Call; });
  if (calls && function.parent()) {
    for (const auto &other : function.parent()->functions())
      if (other.get() != &function) module.addFunction(castToFloat64(*other));
    if (auto error = runInline(module, {})) return error;
  }
  std::vector<const Value *> differentiated;
  for (const auto &argument : forward->arguments())
    if (isFloat(argument->type().dtype)) differentiated.push_back(argument.get());
  auto gradientFunction = differentiate(module, *forward, differentiated, options.resultIndex);
  if (!gradientFunction) return gradientFunction.takeError();
  const Function &gradient = **gradientFunction;

  // Sizes come from the input (a --dim, an argument's type): checked before anything is allocated.
  auto tooLarge = [&](std::string_view what, const TensorType &type) -> llvm::Error {
    llvm::Error error = checkTensorSize(type);
    if (!error) return error;
    std::string message = fmt::format("{}: {}", what, llvm::toString(std::move(error)));
    return llvm::make_error<OpErrors>("gradient check of @" + forward->name(),
                                      std::vector<ProblemAtOp>{{forward, nullptr, message}});
  };
  for (const auto &argument : forward->arguments())
    if (auto error = tooLarge(fmt::format("argument %{}", argument->name()), argument->type())) return error;
  if (auto error = tooLarge("the result", forward->results()[options.resultIndex]->type())) return error;

  std::vector<std::pair<std::string, Tensor>> givenArguments = options.givenArguments;
  if (options.parametersFromInit) {
    auto parameters = initialParameters(function, options.seed);
    if (!parameters) return parameters.takeError();
    for (auto &parameter : *parameters) givenArguments.push_back(std::move(parameter));
  }
  std::mt19937_64 random(options.seed);
  std::vector<Tensor> arguments;
  for (const auto &argument : forward->arguments()) {
    auto given = std::find_if(givenArguments.begin(), givenArguments.end(),
                              [&](const auto &entry) { return entry.first == argument->name(); });
    if (given != givenArguments.end()) {
      if (given->second.shape() != argument->type().shape ||
          isFloat(given->second.dtype()) != isFloat(argument->type().dtype))
        return llvm::createStringError(fmt::format("the value given for %{} is {}, not of its type {}",
                                                   argument->name(), toString(given->second.type()),
                                                   toString(argument->type())));
      Tensor value(argument->type());
      for (int64_t i = 0; i < value.elementCount(); ++i) value.setDouble(i, given->second.getDouble(i));
      arguments.push_back(std::move(value));
      continue;
    }
    int64_t integerLimit = kDefaultIntegerLimit;
    if (isInteger(argument->type().dtype)) integerLimit = indexBound(*forward, *argument).value_or(integerLimit);
    arguments.push_back(randomTensor(argument->type(), options.positiveInputs, integerLimit, random));
  }
  const TensorType &resultType = forward->results()[options.resultIndex]->type();
  std::optional<Tensor> cotangent;
  if (resultType.rank() > 0) cotangent = randomTensor(resultType, false, kDefaultIntegerLimit, random);

  // The forward function first: its ops are the copy's, which `origins` maps back to the
  // original's, whereas the gradient function recomputes them with ops of its own.
  auto centre = objective(*forward, arguments, options.resultIndex, cotangent ? &*cotangent : nullptr);
  if (!centre) return centre.takeError();
  std::vector<Tensor> gradientArguments = arguments;
  if (cotangent) gradientArguments.push_back(*cotangent);
  auto analytic = interpret(gradient, gradientArguments);
  if (!analytic) return analytic.takeError();

  GradientCheckReport report{function.name(), {}, true};
  // The gradient function returns the result, then one gradient per entry of `differentiated`.
  for (size_t gradientIndex = 0; gradientIndex < differentiated.size(); ++gradientIndex) {
    size_t index = differentiated[gradientIndex]->index();
    const Tensor &analyticGradient = (*analytic)[1 + gradientIndex];
    ArgumentCheck check{forward->argument(index)->name(), {}};
    std::vector<Tensor> shifted = arguments;
    check.elementCount = shifted[index].elementCount();
    std::vector<int64_t> elements(check.elementCount);
    std::iota(elements.begin(), elements.end(), 0);
    if (options.samplesPerArgument > 0 && options.samplesPerArgument < check.elementCount)
      elements = sampleElements(analyticGradient, options.samplesPerArgument, random);
    check.checkedElements = static_cast<int64_t>(elements.size());
    for (int64_t i : elements) {
      double original = arguments[index].getDouble(i);
      auto evaluate = [&](double offset) {
        shifted[index].setDouble(i, original + offset);
        auto value = objective(*forward, shifted, options.resultIndex, cotangent ? &*cotangent : nullptr);
        shifted[index].setDouble(i, original);
        return value;
      };
      auto above = evaluate(options.step);
      if (!above) return above.takeError();
      auto below = evaluate(-options.step);
      if (!below) return below.takeError();

      double numeric = (*above - *below) / (2 * options.step);
      double exact = analyticGradient.getDouble(i);
      if (exact != 0 || numeric != 0) ++check.nonZeroElements;
      check.agreement.add(exact, numeric, options.tolerances);
      if (options.tolerances.accept(exact, numeric)) continue;
      ++check.failingElements;
      auto kink = findKink(evaluate, i, *centre, *below, *above, options.step, exact, options.tolerances);
      if (!kink) return kink.takeError();
      if (*kink && check.kinkElements++ == 0) check.firstKink = *kink;
    }
    report.everyGradientZero = report.everyGradientZero && check.nonZeroElements == 0;
    report.arguments.push_back(std::move(check));
  }
  return report;
}

}  // namespace

llvm::Expected<GradientCheckReport> checkGradient(const Function &function, const GradientCheckOptions &options) {
  CopyOrigins origins;
  auto report = checkGradientOfCopy(function, options, origins);
  if (!report) return atOriginalOps(report.takeError(), origins);
  return report;
}

bool GradientCheckReport::passed() const { return allAgree(arguments); }

namespace {
// `; element 4 sits at a kink: the one-sided differences are 0 below and 1 above, the analytic
// gradient 0 (2 of 3 failing elements at kinks or jumps)`, or `; element 4 sits at a jump: f
// changes by 1e+09 across it, however small the step, the analytic gradient 0`, or nothing when
// no failing element is at either.
std::string describeKinks(const ArgumentCheck &argument) {
  if (!argument.firstKink) return "";
  const Kink &kink = *argument.firstKink;
  std::string count = argument.kinkElements == 1 && argument.failingElements == 1
                          ? ""
                          : fmt::format(" ({} of {} failing elements at kinks or jumps)", argument.kinkElements,
                                        argument.failingElements);
  if (kink.jump)
    return fmt::format("; element {} sits at a jump: f changes by {:.6g} across it, however small the step, the "
                       "analytic gradient {:.6g}{}",
                       kink.element, kink.jumpSize, kink.analytic, count);
  return fmt::format("; element {} sits at a kink: the one-sided differences are {:.6g} below and {:.6g} above, "
                     "the analytic gradient {:.6g}{}",
                     kink.element, kink.below, kink.above, kink.analytic, count);
}
}  // namespace

// The verdict stays right after the errors, where scripts and tests look for `: PASS`.
void GradientCheckReport::print(llvm::raw_ostream &out) const {
  for (const ArgumentCheck &argument : arguments) {
    std::string sampled = argument.checkedElements == argument.elementCount
                              ? ""
                              : fmt::format(" ({} of {} elements)", argument.checkedElements, argument.elementCount);
    out << fmt::format("@{} %{}: worst relative error {:.3g}, worst absolute error {:.3g}{}{}: {}, "
                       "gradient non-zero at {} of {} checked elements{}\n",
                       function, argument.argument, argument.agreement.worstRelativeError,
                       argument.agreement.worstAbsoluteError, sampled,
                       argument.agreement.describeNaN("the analytic gradient", "the numeric gradient"),
                       argument.agreement.passed ? "PASS" : "FAIL", argument.nonZeroElements, argument.checkedElements,
                       describeKinks(argument));
  }
}

llvm::Expected<bool> checkGradients(const Module &module, std::string_view functionName,
                                    const GradientCheckOptions &options, llvm::raw_ostream &out,
                                    llvm::raw_ostream &errors, llvm::StringRef tool) {
  std::vector<const Function *> functions;
  // A check that checked nothing would pass silently: each way to get there is an error.
  if (functionName.empty() && options.resultIndex != 0)
    return llvm::createStringError(
        fmt::format("--result {} needs --function: without it every function with one float result is checked",
                    options.resultIndex));
  if (!functionName.empty()) {
    const Function *function = module.lookup(functionName);
    if (!function) return llvm::createStringError(fmt::format("--function: no function @{}", functionName));
    functions.push_back(function);
  } else {
    for (const auto &function : module.functions())
      if (function->results().size() == 1 && isFloat(function->results()[0]->type().dtype))
        functions.push_back(function.get());
  }
  if (functions.empty())
    return llvm::createStringError(module.functions().empty()
                                       ? "the module is empty: there is no gradient to check"
                                       : "no function has one float result: there is no gradient to "
                                         "check (choose one with --function and --result)");
  for (const Function *function : functions) {
    std::string problem;
    if (options.resultIndex >= function->results().size())
      problem = fmt::format("--result {} is not a result of @{}, which has {}", options.resultIndex, function->name(),
                            function->results().size());
    else if (!isFloat(function->results()[options.resultIndex]->type().dtype))
      problem = fmt::format("result {} of @{} is {}, not a float: it has no gradient", options.resultIndex,
                            function->name(), toString(function->results()[options.resultIndex]->type()));
    else if (std::none_of(function->arguments().begin(), function->arguments().end(),
                          [](const auto &argument) { return isFloat(argument->type().dtype); }))
      problem = fmt::format("@{} has no float argument: there is nothing to differentiate", function->name());
    if (!problem.empty())
      return llvm::make_error<OpErrors>("--check-grad", std::vector<ProblemAtOp>{{function, nullptr, problem}});
  }
  bool passed = true;
  for (const Function *function : functions) {
    auto report = checkGradient(*function, options);
    if (!report) return report.takeError();
    report->print(out);
    out.flush();  // the warning follows its report in a merged stream
    if (report->everyGradientZero)
      errors << fmt::format("{}: warning: every gradient of @{} is zero: the check proves nothing\n", tool.str(),
                            function->name());
    passed = passed && report->passed();
  }
  return passed;
}

}  // namespace kiln
