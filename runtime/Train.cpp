// `prog train` and `prog eval`: the training loop around the model's compiled @train_step.
//
// prog train:
// 1. Data: the train block's file (or --data), checked whole before the first step
//    (runtime/TrainData.h). A seeded permutation holds out `validation_split` of the training
//    examples; the file's test split, if any, is only evaluated at the end.
// 2. Start: parameters from @init(seed), optimizer state from @init_optimizer(); or both, and the
//    position in training, from the checkpoint given with --resume.
// 3. Each epoch visits the training examples in its own seeded order, in full batches (a
//    remainder smaller than a batch waits for the next epoch's order). Each step's results,
//    the new parameters and state, replace the old ones.
// 4. After each epoch: the validation loss and metrics, a summary line, a --log row, the --plot
//    and the --save checkpoint; early stopping keeps the parameters of the best validation loss.
// 5. A loss that is not finite stops training before anything is saved. Ctrl-C (SIGINT) lets the
//    running step finish, saves where training stands and exits with 130.
#include "runtime/Train.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <unistd.h>

#include "runtime/Random.h"
#include "runtime/TrainCheckpoint.h"
#include "runtime/TrainData.h"
#include "runtime/TrainReport.h"

namespace kiln::program {

namespace {
volatile std::sig_atomic_t interruptRequested = 0;
extern "C" void requestInterrupt(int) { interruptRequested = 1; }

// The model's tensors by argument name (parameters and optimizer state), the batch's arrays, and
// calls that bind a function's arguments to them by name.
class Trainer {
public:
  Trainer(const KilnTrainingInfo &info, const KilnFunctionInfo &step) : info_(info), step_(step) {}

  const KilnTrainingInfo &info() const { return info_; }
  const KilnFunctionInfo &step() const { return step_; }
  TensorMap &tensors() { return tensors_; }
  std::vector<npy::Array> &batch() { return batch_; }
  Examples *examples = nullptr;  // what `batch_` is gathered from

  // Zeroed batch arrays, one per input and label of the step.
  void prepareBatch() {
    for (int32_t i = 0; i < step_.argumentCount; ++i)
      if (isExample(step_.arguments[i])) batch_.push_back(emptyArray(step_.arguments[i]));
  }

  // Results of `function`, whose arguments are the batch's (inputs, labels), the model's tensors
  // (parameters, state) or `extra` (by position, for arguments of no role).
  Outcome invoke(const KilnFunctionInfo &function, std::vector<npy::Array> &results,
                 std::vector<npy::Array *> extra = {}) {
    std::vector<void *> arguments;
    size_t exampleIndex = 0, extraIndex = 0;
    for (int32_t i = 0; i < function.argumentCount; ++i) {
      const KilnTensorInfo &argument = function.arguments[i];
      npy::Array *array = nullptr;
      if (isExample(argument)) {
        array = exampleIndex < batch_.size() ? &batch_[exampleIndex++] : nullptr;
      } else if (argument.role == KILN_ROLE_NONE) {
        array = extraIndex < extra.size() ? extra[extraIndex++] : nullptr;
      } else if (argument.role == KILN_ROLE_KEY) {
        array = &stepKey_;
      } else if (auto found = tensors_.find(argument.name); found != tensors_.end()) {
        array = &found->second;
      }
      if (!array || !matches(argument, *array))
        return dataError(fmt::format("@{} takes %{} as {}, which the training loop does not have; the program's "
                                     "functions do not fit together (rebuild it)",
                                     function.name, argument.name, typeText(argument)));
      arguments.push_back(array->data.data());
    }
    // Result arrays of the right types are reused: the function writes every element, and a step's
    // results come back as the previous parameters' arrays, so no step allocates or zeroes them.
    bool reusable = results.size() == size_t(function.resultCount);
    for (size_t i = 0; reusable && i < results.size(); ++i) reusable = matches(function.results[i], results[i]);
    if (!reusable) {
      results.clear();
      for (int32_t i = 0; i < function.resultCount; ++i) results.push_back(emptyArray(function.results[i]));
    }
    std::vector<void *> resultPointers;
    for (npy::Array &result : results) resultPointers.push_back(result.data.data());
    function.entry(arguments.data(), resultPointers.data());
    return std::nullopt;
  }

  // Binds the results of @init (params, then buffers) or @init_optimizer (state), in order, to
  // the step's arguments of those roles.
  Outcome bindInitial(const KilnFunctionInfo &function, std::initializer_list<int32_t> roles,
                      std::vector<npy::Array> results) {
    size_t next = 0;
    for (int32_t role : roles)
      for (int32_t i = 0; i < step_.argumentCount; ++i) {
        const KilnTensorInfo &argument = step_.arguments[i];
        if (argument.role != role) continue;
        if (next == results.size() || !matches(argument, results[next]))
          return dataError(fmt::format("@{} does not give %{} of @train_step ({}); rebuild the program", function.name,
                                       argument.name, typeText(argument)));
        tensors_[argument.name] = std::move(results[next++]);
      }
    return std::nullopt;
  }

  // The random key of a training step (dropout's masks): a pure function of the seed and the
  // step's place in training, so that a resumed run draws what an uninterrupted one would.
  void setStepKey(int64_t seed, int64_t epoch, int64_t step) {
    random::PhiloxCounter counter{uint32_t(uint64_t(step)), uint32_t(uint64_t(step) >> 32), uint32_t(epoch),
                                  0x6b657973u};
    random::PhiloxCounter bits =
        random::philox4x32(counter, {uint32_t(uint64_t(seed)), uint32_t(uint64_t(seed) >> 32)});
    int64_t key = int64_t(uint64_t(bits[0]) | uint64_t(bits[1]) << 32);
    stepKey_.type = npy::ElementType::I64;
    stepKey_.data.resize(sizeof key);
    std::memcpy(stepKey_.data.data(), &key, sizeof key);
  }

  // One training step on the batch; returns its loss.
  Outcome trainStep(double &loss) {
    std::vector<npy::Array> &results = stepResults_;
    if (Outcome failure = invoke(step_, results)) return failure;
    loss = scalar(results[0]);
    // Results after the loss: the new value of each parameter, buffer and state argument, in order.
    size_t next = 1;
    for (int32_t i = 0; i < step_.argumentCount; ++i) {
      const KilnTensorInfo &argument = step_.arguments[i];
      if (argument.role == KILN_ROLE_PARAMETER || argument.role == KILN_ROLE_BUFFER || argument.role == KILN_ROLE_STATE)
        tensors_[argument.name].data.swap(results[next++].data);
    }
    return std::nullopt;
  }

  // The loss and per-example metrics of @eval_step over `indices` of `examples`, in full batches;
  // a last partial batch is filled from the start of `indices`, and only its own examples count
  // (its loss, a batch mean, is weighted by their number).
  Outcome evaluate(const KilnFunctionInfo &eval, const Examples &set, const std::vector<int64_t> &indices,
                   Evaluation &evaluation) {
    size_t batchSize = size_t(info_.batch);
    evaluation = Evaluation{};
    evaluation.examples = int64_t(indices.size());
    size_t metricCount = size_t(eval.resultCount - 1);
    evaluation.metricSums.assign(metricCount, 0.0);
    std::vector<npy::Array> results;
    for (size_t start = 0; start < indices.size(); start += batchSize) {
      std::vector<int64_t> chosen;
      for (size_t i = 0; i < batchSize; ++i) chosen.push_back(indices[(start + i) % indices.size()]);
      size_t counted = std::min(batchSize, indices.size() - start);
      gatherBatch(set, chosen, batch_);
      if (Outcome failure = invoke(eval, results)) return failure;
      evaluation.lossSum += scalar(results[0]) * double(counted);
      for (size_t metric = 0; metric < metricCount; ++metric)
        for (size_t i = 0; i < counted; ++i) evaluation.metricSums[metric] += element(results[1 + metric], i);
    }
    return std::nullopt;
  }

  static double scalar(const npy::Array &array) { return element(array, 0); }
  static double element(const npy::Array &array, size_t index) {
    if (array.type == npy::ElementType::F64) return reinterpret_cast<const double *>(array.data.data())[index];
    return reinterpret_cast<const float *>(array.data.data())[index];
  }

private:
  static bool isExample(const KilnTensorInfo &argument) {
    return argument.role == KILN_ROLE_INPUT || argument.role == KILN_ROLE_LABEL;
  }

  const KilnTrainingInfo &info_;
  const KilnFunctionInfo &step_;
  TensorMap tensors_;
  std::vector<npy::Array> batch_;
  npy::Array stepKey_;
  std::vector<npy::Array> stepResults_;  // after a step: the arrays of the previous parameters and state
};

// --lr X: the learning rate, an f32[] `state` argument `lr` of the step (the optimizer's `lr`).
Outcome parseRate(const Options &options, const KilnFunctionInfo &step, std::optional<float> &rate) {
  const std::string *text = options.single("lr");
  if (!text) return std::nullopt;
  char *end = nullptr;
  errno = 0;
  double parsed = std::strtod(text->c_str(), &end);
  if (text->empty() || *end != '\0' || errno != 0 || !(parsed > 0) || !std::isfinite(float(parsed)))
    return usageError(fmt::format("--lr expects a positive number, not '{}'", *text));
  for (int32_t i = 0; i < step.argumentCount; ++i) {
    const KilnTensorInfo &argument = step.arguments[i];
    if (argument.role == KILN_ROLE_STATE && std::string_view(argument.name) == "lr" && argument.rank == 0 &&
        argument.dtype == KILN_F32) {
      rate = float(parsed);
      return std::nullopt;
    }
  }
  return usageError("--lr: the model's optimizer has no learning rate `lr` to set");
}

// The number of classes an integer label indexes: the last extent of @forward's result when it
// has one axis more than the label; 0 when that cannot be told.
int64_t classCount(const KilnFunctionInfo &step) {
  const KilnFunctionInfo *forward = findFunction("forward");
  if (!forward || forward->resultCount != 1) return 0;
  const KilnTensorInfo &prediction = forward->results[0];
  for (int32_t i = 0; i < step.argumentCount; ++i) {
    const KilnTensorInfo &label = step.arguments[i];
    if (label.role == KILN_ROLE_LABEL && label.dtype == KILN_I32 && prediction.rank == label.rank + 1)
      return prediction.shape[prediction.rank - 1];
  }
  return 0;
}

// The functions and settings training needs, or why the program cannot train.
Outcome trainingFunctions(std::string_view command, const KilnTrainingInfo *&info, const KilnFunctionInfo *&step,
                          const KilnFunctionInfo *&eval) {
  info = kiln_program_table.training;
  if (!info)
    return usageError(fmt::format("{}: {} has no train block, so this program cannot train or evaluate", command,
                                  kiln_program_table.modelName));
  step = findFunction("train_step");
  eval = findFunction("eval_step");
  if (!step || !eval || !findFunction("init") || !findFunction("init_optimizer"))
    return usageError(fmt::format("{}: the program lacks @train_step, @eval_step, @init or @init_optimizer (it has "
                                  "{}); its train block needs `optimizer = ...`",
                                  command, functionNames()));
  return std::nullopt;
}
}  // namespace

std::string trainingHelp() {
  return fmt::format(
      "  {0} train [--data F] [--epochs N] [--lr X] [--seed N] [--save CKPT] [--resume CKPT] [--log F.csv]\n"
      "           [--plot F.svg]\n"
      "      Trains as the model's train block says (data, epochs, learning rate, validation split, early\n"
      "      stopping, seed), each setting overridable (--lr also overrides a resumed checkpoint's);\n"
      "      prints one line per epoch and, if the data has a test split, the test loss and metrics at\n"
      "      the end. --save writes a checkpoint after each epoch and on Ctrl-C; --resume continues from\n"
      "      one. --log writes one CSV row per epoch, --plot the curves as SVG.\n",
      programName);
}

Outcome trainCommand(const std::vector<std::string_view> &words) {
  constexpr std::string_view kKnown[] = {"data", "epochs", "lr", "seed", "batch", "save", "resume", "log", "plot"};
  Options options;
  if (Outcome failure = parseOptions("train", words, kKnown, "", options)) return failure;
  const KilnTrainingInfo *info = nullptr;
  const KilnFunctionInfo *step = nullptr, *eval = nullptr;
  if (Outcome failure = trainingFunctions("train", info, step, eval)) return failure;
  int64_t epochs = info->epochs, seed = info->seed, batch = info->batch;
  if (Outcome failure = parseCount(options, "epochs", 1, epochs)) return failure;
  if (Outcome failure = parseCount(options, "seed", INT64_MIN, seed)) return failure;
  if (Outcome failure = parseCount(options, "batch", 1, batch)) return failure;
  if (batch != info->batch)
    return usageError(fmt::format("train: the program was built for batches of {}; build it again with --dim for a "
                                  "batch of {} (`kiln build MODEL --dim B={} -o PROGRAM`)",
                                  info->batch, batch, batch));
  std::optional<float> rate;
  if (Outcome failure = parseRate(options, *step, rate)) return failure;
  std::string dataPath = options.single("data") ? *options.single("data") : info->data;
  if (dataPath.empty()) return usageError("train: the train block names no data; give --data FILE");
  const std::string *savePath = options.single("save");
  const std::string *resumePath = options.single("resume");

  Trainer trainer(*info, *step);
  Progress progress;
  checkpoint::Checkpoint resumed;
  if (resumePath) {
    if (Outcome failure = readCheckpoint(*resumePath, *step, resumed, progress)) return failure;
    if (options.single("seed") && seed != progress.seed)
      return usageError(fmt::format("train: {} was trained with seed {}; resume it without --seed, or with --seed {}",
                                    *resumePath, progress.seed, progress.seed));
    seed = progress.seed;
  }
  progress.seed = seed;
  DataSet data;
  if (Outcome failure = loadDataSet(dataPath, *step, classCount(*step), seed, data)) return failure;

  // 1. The validation split: a seeded choice of examples, the same in every run with this seed; a
  //    sequence's tail.
  int64_t count = data.training.count;
  std::vector<int64_t> order = shuffled(count, seed, -1);
  auto validationCount = int64_t(std::llround(double(count) * info->validationSplit));
  if (data.ordered)
    for (int64_t i = 0; i < count; ++i) order[size_t(i)] = (i + count - validationCount) % count;
  std::vector<int64_t> validation(order.begin(), order.begin() + validationCount);
  std::vector<int64_t> training(order.begin() + validationCount, order.end());
  int64_t stepsPerEpoch = int64_t(training.size()) / batch;
  if (stepsPerEpoch == 0)
    return dataError(fmt::format("{}: {} training examples{} make no batch of {}", dataPath, training.size(),
                                 validationCount ? " after the validation split" : "", batch));
  if (resumePath &&
      (progress.trainingExamples != int64_t(training.size()) || progress.validationExamples != validationCount))
    return dataError(fmt::format("{} was trained on {} examples ({} for validation), but {} gives {} ({}); resume "
                                 "with the same data",
                                 *resumePath, progress.trainingExamples, progress.validationExamples, dataPath,
                                 training.size(), validationCount));
  progress.trainingExamples = int64_t(training.size());
  progress.validationExamples = validationCount;

  // 2. The starting point.
  trainer.prepareBatch();
  TensorMap best;
  if (resumePath) {
    restoreTensors(std::move(resumed), trainer.tensors(), best);
    // A checkpoint saved at its best epoch holds the best parameters once, as the current ones.
    if (progress.bestEpoch != 0 && progress.bestEpoch == progress.epoch) keepParameters(*step, trainer.tensors(), best);
  } else {
    std::vector<npy::Array> results;
    npy::Array seedArray;
    seedArray.type = npy::ElementType::I64;
    seedArray.data.resize(8);
    std::memcpy(seedArray.data.data(), &seed, 8);
    const KilnFunctionInfo &init = *findFunction("init"), &initOptimizer = *findFunction("init_optimizer");
    if (Outcome failure = trainer.invoke(init, results, {&seedArray})) return failure;
    if (Outcome failure = trainer.bindInitial(init, {KILN_ROLE_PARAMETER, KILN_ROLE_BUFFER}, std::move(results)))
      return failure;
    if (Outcome failure = trainer.invoke(initOptimizer, results)) return failure;
    if (Outcome failure = trainer.bindInitial(initOptimizer, {KILN_ROLE_STATE}, std::move(results))) return failure;
  }

  if (rate) std::memcpy(trainer.tensors().at("lr").data.data(), &*rate, sizeof *rate);

  Report report(*info, options.single("log"), options.single("plot"), isatty(STDERR_FILENO) != 0);
  fmt::print("training {} on {}: {} examples, {} for validation{}; {} steps of {} per epoch\n", info->model, dataPath,
             training.size(), validation.size(),
             data.test.count ? fmt::format(", {} for the test", data.test.count) : std::string(), stepsPerEpoch, batch);
  if (resumePath)
    fmt::print("resuming from {}: {}\n", *resumePath,
               progress.step ? fmt::format("epoch {}, after step {}", progress.epoch + 1, progress.step)
                             : fmt::format("after epoch {}", progress.epoch));
  std::fflush(stdout);
  struct sigaction action {};
  action.sa_handler = requestInterrupt;
  sigaction(SIGINT, &action, nullptr);
  auto save = [&]() -> Outcome {
    if (!savePath) return std::nullopt;
    std::string error = checkpoint::write(*savePath, makeCheckpoint(*info, *step, trainer.tensors(), best, progress));
    if (!error.empty()) return dataError(error);
    return std::nullopt;
  };

  // 3-4. Epochs.
  bool earlyStopping = info->earlyStopping > 0 && !validation.empty();
  bool stoppedEarly = progress.stoppedEarly;
  for (int64_t epoch = progress.epoch + 1; epoch <= epochs && !stoppedEarly; ++epoch) {
    auto started = std::chrono::steady_clock::now();
    std::vector<int64_t> epochOrder = shuffled(int64_t(training.size()), seed, epoch);
    auto chosen = std::vector<int64_t>(size_t(batch));
    for (int64_t stepIndex = progress.step; stepIndex < stepsPerEpoch; ++stepIndex) {
      for (int64_t i = 0; i < batch; ++i)
        chosen[size_t(i)] = training[size_t(epochOrder[size_t(stepIndex * batch + i)])];
      gatherBatch(data.training, chosen, trainer.batch());
      trainer.setStepKey(seed, epoch, stepIndex);
      double loss = 0;
      if (Outcome failure = trainer.trainStep(loss)) return failure;
      // 5. Nothing of a diverged step is kept or saved.
      if (!std::isfinite(loss))
        return dataError(fmt::format("epoch {}, step {}: the loss is {}; training stopped{} (lower the learning rate, "
                                     "or clip the gradients with clip_grad_norm)",
                                     epoch, stepIndex + 1, loss,
                                     savePath ? fmt::format(", {} keeps the last epoch's checkpoint", *savePath) : ""));
      progress.lossSum += loss;
      progress.step = stepIndex + 1;
      report.progress(epoch, epochs, stepIndex + 1, stepsPerEpoch, progress.lossSum / double(stepIndex + 1), started);
      if (interruptRequested && stepIndex + 1 < stepsPerEpoch) {
        report.endProgress();
        progress.epoch = epoch - 1;
        if (Outcome failure = save()) return failure;
        return Failure{kInterrupted,
                       fmt::format("interrupted in epoch {} after step {} of {}{}", epoch, stepIndex + 1, stepsPerEpoch,
                                   savePath
                                       ? fmt::format("; saved to {} (continue with --resume {})", *savePath, *savePath)
                                       : "")};
      }
    }
    report.endProgress();
    EpochRecord record{epoch, progress.lossSum / double(stepsPerEpoch), std::nullopt, 0};
    progress.epoch = epoch;
    progress.step = 0;
    progress.lossSum = 0;
    if (!validation.empty()) {
      Evaluation evaluation;
      if (Outcome failure = trainer.evaluate(*eval, data.training, validation, evaluation)) return failure;
      record.validation = evaluation;
    }
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (Outcome failure = report.epochDone(record, epochs)) return failure;
    if (earlyStopping) {
      double validationLoss = record.validation->loss();
      if (validationLoss < progress.bestLoss) {
        progress.bestLoss = validationLoss;
        progress.bestEpoch = epoch;
        progress.withoutImprovement = 0;
        best.clear();
      } else if (++progress.withoutImprovement >= info->earlyStopping) {
        fmt::print("early stopping: the validation loss has not improved for {} epochs; keeping epoch {}'s "
                   "parameters (validation loss {:.4f})\n",
                   progress.withoutImprovement, progress.bestEpoch, progress.bestLoss);
        stoppedEarly = true;
      }
      // The best epoch's parameters, kept while later epochs have not beaten them.
      if (progress.bestEpoch == epoch) keepParameters(*step, trainer.tensors(), best);
    }
    if (interruptRequested || epoch == epochs || stoppedEarly) break;
    if (Outcome failure = save()) return failure;
  }
  // The checkpoint keeps the last epoch's parameters, to resume from, and the best epoch's, which
  // are what training gives under early stopping: what the test split, eval and predict see.
  progress.stoppedEarly = stoppedEarly;
  if (Outcome failure = save()) return failure;
  if (earlyStopping && progress.bestEpoch != 0 && progress.bestEpoch != progress.epoch)
    keepParameters(*step, best, trainer.tensors());
  if (interruptRequested && !stoppedEarly && progress.epoch < epochs) {
    return Failure{
        kInterrupted,
        fmt::format("interrupted after epoch {}{}", progress.epoch,
                    savePath ? fmt::format("; saved to {} (continue with --resume {})", *savePath, *savePath) : "")};
  }

  if (data.test.count > 0) {
    auto all = std::vector<int64_t>(size_t(data.test.count));
    for (int64_t i = 0; i < data.test.count; ++i) all[size_t(i)] = i;
    Evaluation evaluation;
    if (Outcome failure = trainer.evaluate(*eval, data.test, all, evaluation)) return failure;
    fmt::print("test: {} ({} examples)\n", report.describe(evaluation), data.test.count);
  }
  return std::nullopt;
}

Outcome evalCommand(const std::vector<std::string_view> &words) {
  constexpr std::string_view kKnown[] = {"load", "data"};
  Options options;
  if (Outcome failure = parseOptions("eval", words, kKnown, "", options)) return failure;
  const KilnTrainingInfo *info = nullptr;
  const KilnFunctionInfo *step = nullptr, *eval = nullptr;
  if (Outcome failure = trainingFunctions("eval", info, step, eval)) return failure;
  const std::string *loadPath = options.single("load");
  if (!loadPath) return usageError("eval: give --load CKPT, the checkpoint `train --save` wrote");
  Trainer trainer(*info, *step);
  checkpoint::Checkpoint loaded;
  Progress progress;
  if (Outcome failure = readCheckpoint(*loadPath, *step, loaded, progress)) return failure;
  TensorMap best;
  restoreTensors(std::move(loaded), trainer.tensors(), best);
  if (!best.empty()) keepParameters(*step, best, trainer.tensors());
  std::string dataPath = options.single("data") ? *options.single("data") : info->data;
  DataSet data;
  if (Outcome failure = loadDataSet(dataPath, *step, classCount(*step), progress.seed, data)) return failure;
  // The test split when the data has one, else every example.
  Examples &examples = data.test.count > 0 ? data.test : data.training;
  if (examples.count == 0) return dataError(fmt::format("{}: no examples to evaluate", dataPath));
  trainer.prepareBatch();
  auto all = std::vector<int64_t>(size_t(examples.count));
  for (int64_t i = 0; i < examples.count; ++i) all[size_t(i)] = i;
  Evaluation evaluation;
  if (Outcome failure = trainer.evaluate(*eval, examples, all, evaluation)) return failure;
  Report report(*info, nullptr, nullptr, false);
  fmt::print("{}: {} ({} examples of {})\n", data.test.count > 0 ? "test" : "data", report.describe(evaluation),
             examples.count, dataPath);
  return std::nullopt;
}

}  // namespace kiln::program
