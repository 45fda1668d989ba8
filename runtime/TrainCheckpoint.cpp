// Checkpoints of a training run: see TrainCheckpoint.h.
#include "runtime/TrainCheckpoint.h"

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

namespace kiln::program {

namespace {
constexpr std::string_view kBestPrefix = "best.";

bool isModelTensor(const KilnTensorInfo &argument) {
  return argument.role == KILN_ROLE_PARAMETER || argument.role == KILN_ROLE_BUFFER || argument.role == KILN_ROLE_STATE;
}

// What predict and eval use, and early stopping keeps of the best epoch: params and buffers.
bool isModelState(const KilnTensorInfo &argument) {
  return argument.role == KILN_ROLE_PARAMETER || argument.role == KILN_ROLE_BUFFER;
}

checkpoint::ExpectedTensor expected(const KilnTensorInfo &argument, std::string name) {
  return {std::move(name), argument.role, kElementTypes[argument.dtype],
          std::vector<int64_t>(argument.shape, argument.shape + argument.rank)};
}

// A field's integer or (hexadecimal or decimal) float value, or an error naming it.
Outcome readField(const checkpoint::Checkpoint &checkpoint, const std::string &path, std::string_view key,
                  int64_t *integer, double *number) {
  const std::string *text = checkpoint.field(key);
  if (!text)
    return dataError(fmt::format("{}: the checkpoint has no field '{}'; it was not written by `train`", path, key));
  char *end = nullptr;
  errno = 0;
  if (integer) *integer = std::strtoll(text->c_str(), &end, 10);
  if (number) *number = std::strtod(text->c_str(), &end);
  if (text->empty() || *end != '\0' || errno == ERANGE)
    return dataError(fmt::format("{}: field '{}' is '{}', not a number", path, key, *text));
  return std::nullopt;
}
}  // namespace

checkpoint::Checkpoint makeCheckpoint(const KilnTrainingInfo &info, const KilnFunctionInfo &step,
                                      const TensorMap &tensors, const TensorMap &best, const Progress &progress) {
  checkpoint::Checkpoint result;
  result.model = info.model;
  result.fields = {{"epoch", fmt::format("{}", progress.epoch)},
                   {"step", fmt::format("{}", progress.step)},
                   {"loss_sum", fmt::format("{:a}", progress.lossSum)},
                   {"seed", fmt::format("{}", progress.seed)},
                   {"training_examples", fmt::format("{}", progress.trainingExamples)},
                   {"validation_examples", fmt::format("{}", progress.validationExamples)},
                   {"best_epoch", fmt::format("{}", progress.bestEpoch)},
                   {"best_loss", fmt::format("{:a}", progress.bestLoss)},
                   {"without_improvement", fmt::format("{}", progress.withoutImprovement)},
                   {"stopped_early", progress.stoppedEarly ? "1" : "0"}};
  for (int32_t i = 0; i < step.argumentCount; ++i)
    if (isModelTensor(step.arguments[i]))
      result.tensors.push_back({step.arguments[i].name, step.arguments[i].role, tensors.at(step.arguments[i].name)});
  if (progress.bestEpoch != 0 && progress.bestEpoch != progress.epoch)
    for (int32_t i = 0; i < step.argumentCount; ++i)
      if (isModelState(step.arguments[i]))
        result.tensors.push_back({std::string(kBestPrefix) + step.arguments[i].name, step.arguments[i].role,
                                  best.at(step.arguments[i].name)});
  return result;
}

Outcome readCheckpoint(const std::string &path, const KilnFunctionInfo &step, checkpoint::Checkpoint &checkpoint,
                       Progress &progress) {
  npy::Result<checkpoint::Checkpoint> read = checkpoint::read(path);
  if (!read) return dataError(read.error());
  checkpoint = std::move(*read);
  double stoppedEarly = 0;
  for (auto [key, integer, number] :
       {std::tuple<std::string_view, int64_t *, double *>{"epoch", &progress.epoch, nullptr},
        {"step", &progress.step, nullptr},
        {"loss_sum", nullptr, &progress.lossSum},
        {"seed", &progress.seed, nullptr},
        {"training_examples", &progress.trainingExamples, nullptr},
        {"validation_examples", &progress.validationExamples, nullptr},
        {"best_epoch", &progress.bestEpoch, nullptr},
        {"best_loss", nullptr, &progress.bestLoss},
        {"without_improvement", &progress.withoutImprovement, nullptr},
        {"stopped_early", nullptr, &stoppedEarly}})
    if (Outcome failure = readField(checkpoint, path, key, integer, number)) return failure;
  progress.stoppedEarly = stoppedEarly != 0;
  std::vector<checkpoint::ExpectedTensor> wanted;
  for (int32_t i = 0; i < step.argumentCount; ++i)
    if (isModelTensor(step.arguments[i])) wanted.push_back(expected(step.arguments[i], step.arguments[i].name));
  if (progress.bestEpoch != 0 && progress.bestEpoch != progress.epoch)
    for (int32_t i = 0; i < step.argumentCount; ++i)
      if (isModelState(step.arguments[i]))
        wanted.push_back(expected(step.arguments[i], std::string(kBestPrefix) + step.arguments[i].name));
  std::string misfit = checkpoint::checkFits(checkpoint, path, kiln_program_table.training->model, wanted);
  if (!misfit.empty()) return dataError(misfit);
  return std::nullopt;
}

void restoreTensors(checkpoint::Checkpoint checkpoint, TensorMap &tensors, TensorMap &best) {
  for (checkpoint::Tensor &tensor : checkpoint.tensors) {
    if (tensor.name.starts_with(kBestPrefix))
      best[tensor.name.substr(kBestPrefix.size())] = std::move(tensor.array);
    else
      tensors[tensor.name] = std::move(tensor.array);
  }
}

void keepParameters(const KilnFunctionInfo &step, const TensorMap &from, TensorMap &to) {
  for (int32_t i = 0; i < step.argumentCount; ++i)
    if (isModelState(step.arguments[i])) to[step.arguments[i].name] = from.at(step.arguments[i].name);
}

}  // namespace kiln::program
