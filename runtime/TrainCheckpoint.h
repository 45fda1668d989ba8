// Where training stands, and its checkpoints: the parameters and optimizer state of @train_step's
// arguments, the progress fields that let `--resume` continue exactly, and, under early stopping,
// the best epoch's parameters while later epochs have not beaten them.
#pragma once

#include <cmath>
#include <map>
#include <string>

#include "runtime/Checkpoint.h"
#include "runtime/ProgramSupport.h"

namespace kiln::program {

using TensorMap = std::map<std::string, npy::Array, std::less<>>;

// Each is a field of the checkpoint; the losses are written as hexadecimal floats, exactly.
struct Progress {
  int64_t epoch = 0;             // epochs completed
  int64_t step = 0;              // steps done in epoch `epoch + 1` when it was interrupted
  double lossSum = 0;            // the sum of those steps' losses
  int64_t seed = 0;              // of the validation split and every epoch's order
  int64_t trainingExamples = 0;  // the split the run used, checked on resume
  int64_t validationExamples = 0;
  int64_t bestEpoch = 0;  // early stopping: the epoch of the lowest validation loss so far
  double bestLoss = INFINITY;
  int64_t withoutImprovement = 0;
  bool stoppedEarly = false;  // early stopping ended training: resuming trains no further
};

// The checkpoint of the step's parameter and state arguments (in argument order) and, named
// `best.NAME`, the best epoch's parameters when they differ from the current ones.
checkpoint::Checkpoint makeCheckpoint(const KilnTrainingInfo &info, const KilnFunctionInfo &step,
                                      const TensorMap &tensors, const TensorMap &best, const Progress &progress);
// Reads `path`, checks that it belongs to this model and step (names, roles, dtypes, shapes) and
// reads its progress.
Outcome readCheckpoint(const std::string &path, const KilnFunctionInfo &step, checkpoint::Checkpoint &checkpoint,
                       Progress &progress);
// Moves the checkpoint's tensors into `tensors`, and its `best.NAME` ones into `best` as NAME.
void restoreTensors(checkpoint::Checkpoint checkpoint, TensorMap &tensors, TensorMap &best);
// Copies the step's parameters from `from` to `to`.
void keepParameters(const KilnFunctionInfo &step, const TensorMap &from, TensorMap &to);

}  // namespace kiln::program
