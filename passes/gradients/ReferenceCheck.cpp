// Golden-gradient checking: one evaluation of @F_grad in f64 on arguments read from .npy files,
// compared element by element with the stored value and gradients.
#include "passes/gradients/ReferenceCheck.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/Support/Path.h>

#include "backends/interpreter/Interpreter.h"
#include "backends/interpreter/RunFunction.h"
#include "passes/Passes.h"
#include "passes/gradients/GradientCheck.h"

namespace kiln {

namespace {
std::string filePath(llvm::StringRef directory, llvm::StringRef name) {
  llvm::SmallString<256> path(directory);
  llvm::sys::path::append(path, name + ".npy");
  return std::string(path);
}

llvm::Expected<Tensor> readTensor(const std::string &path) {
  npy::Result<npy::Array> array = npy::read(path);
  if (!array) return llvm::createStringError(array.error());
  llvm::Expected<Tensor> tensor = tensorFromNpy(*array);
  if (!tensor) return llvm::createStringError(fmt::format("{}: {}", path, llvm::toString(tensor.takeError())));
  return tensor;
}

// The same elements in `dtype` (f32 widens to f64 exactly).
Tensor converted(const Tensor &tensor, DType dtype) {
  Tensor result(TensorType{dtype, tensor.shape()});
  for (int64_t i = 0; i < tensor.elementCount(); ++i) result.setDouble(i, tensor.getDouble(i));
  return result;
}

// `description` names the computed value in errors: "@loss", "the gradient of %w".
llvm::Expected<ReferenceComparison> compare(std::string what, std::string_view description, const Tensor &computed,
                                            llvm::StringRef directory, const std::string &file,
                                            const Tolerances &tolerances) {
  std::string referencePath = filePath(directory, file);
  llvm::Expected<Tensor> reference = readTensor(referencePath);
  if (!reference) return reference.takeError();
  if (!isFloat(reference->dtype()) || reference->shape() != computed.shape())
    return llvm::createStringError(fmt::format("{} holds {}, but {} is {}", referencePath, toString(reference->type()),
                                               description, toString(computed.type())));
  ReferenceComparison comparison{std::move(what), file + ".npy", {}};
  comparison.elementCount = computed.elementCount();
  for (int64_t i = 0; i < computed.elementCount(); ++i)
    comparison.agreement.add(computed.getDouble(i), reference->getDouble(i), tolerances);
  return comparison;
}
}  // namespace

llvm::Expected<ReferenceReport> compareWithReference(const Function &function, std::span<const Value *const> wrt,
                                                     llvm::StringRef directory, const Tolerances &tolerances) {
  std::vector<Value *> buffers = function.argumentsWithRole(ArgumentRole::Buffer);
  if (function.results().size() != 1 + buffers.size())
    return llvm::createStringError(fmt::format("@{} has {} results; a reference check needs its value and the new "
                                               "value of each of its {} buffers",
                                               function.name(), function.results().size(), buffers.size()));
  ReferenceReport report{function.name(), {}, {}};
  std::vector<Tensor> arguments;
  for (const auto &argument : function.arguments()) {
    std::string path = filePath(directory, argument->name());
    llvm::Expected<Tensor> tensor = readTensor(path);
    if (!tensor) return tensor.takeError();
    // f64 values for an f32 argument (a reference computed in double precision) are rounded to
    // f32, as the model would hold them.
    if (tensor->dtype() == DType::F64 && argument->type().dtype == DType::F32 &&
        tensor->shape() == argument->type().shape) {
      report.notes.push_back(fmt::format("{} holds {}; rounded to f32 for argument %{}", path, toString(tensor->type()),
                                         argument->name()));
      *tensor = converted(*tensor, DType::F32);
    }
    if (tensor->type() != argument->type())
      return llvm::createStringError(fmt::format("argument %{} of @{} is {}, but {} holds {}", argument->name(),
                                                 function.name(), toString(argument->type()), path,
                                                 toString(tensor->type())));
    arguments.push_back(tensor->dtype() == DType::F32 ? converted(*tensor, DType::F64) : std::move(*tensor));
  }

  // The copy dies here: its problems are re-keyed to the original's ops before they leave.
  CopyOrigins origins;
  Module module;
  Function *forward = module.addFunction(castToFloat64(function, &origins));
  std::vector<const Value *> differentiated;
  for (const Value *argument : wrt) differentiated.push_back(forward->argument(argument->index()));
  auto gradient = differentiate(module, *forward, differentiated);
  if (!gradient) return atOriginalOps(gradient.takeError(), origins);
  // The forward function first: its ops map back to the original's, whereas the gradient
  // function recomputes them with ops of its own.
  if (auto value = interpret(*forward, arguments); !value) return atOriginalOps(value.takeError(), origins);
  auto results = interpret(**gradient, arguments);
  if (!results) return atOriginalOps(results.takeError(), origins);

  // The gradient function's results: the value, the gradients, then the buffers' new values.
  for (size_t index = 0; index < results->size(); ++index) {
    std::string what, description, file;
    if (index == 0) {
      what = "value", description = "@" + function.name(), file = function.name();
    } else if (index <= wrt.size()) {
      const std::string &name = wrt[index - 1]->name();
      what = "gradient of %" + name, description = "the gradient of %" + name, file = "d_" + name;
    } else {
      const std::string &name = buffers[index - 1 - wrt.size()]->name();
      what = "new value of buffer %" + name, description = what, file = "new." + name;
    }
    llvm::Expected<ReferenceComparison> comparison =
        compare(what, description, (*results)[index], directory, file, tolerances);
    if (!comparison) return comparison.takeError();
    report.comparisons.push_back(std::move(*comparison));
  }
  return report;
}

bool ReferenceReport::passed() const { return allAgree(comparisons); }

void ReferenceReport::print(llvm::raw_ostream &out) const {
  for (const ReferenceComparison &comparison : comparisons)
    out << fmt::format("@{} {}: worst relative error {:.3g}, worst absolute error {:.3g} ({} elements){}: {}\n",
                       function, comparison.what, comparison.agreement.worstRelativeError,
                       comparison.agreement.worstAbsoluteError, comparison.elementCount,
                       comparison.agreement.describeNaN("Kiln's value", comparison.file),
                       comparison.agreement.passed ? "PASS" : "FAIL");
}

}  // namespace kiln
