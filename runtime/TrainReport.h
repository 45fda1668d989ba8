// What `prog train` tells its user: a progress bar on a terminal, one line per epoch, a CSV row
// per epoch (--log) and the curves as an SVG drawing (--plot).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "runtime/ProgramSupport.h"

namespace kiln::program {

// Sums over the examples of a set: the mean loss and each per-example metric of @eval_step.
struct Evaluation {
  int64_t examples = 0;
  double lossSum = 0;
  std::vector<double> metricSums;  // in the order @eval_step returns them
  double loss() const { return lossSum / double(examples); }
  double metric(size_t index) const { return metricSums[index] / double(examples); }
};

struct EpochRecord {
  int64_t epoch;
  double trainingLoss;  // the mean of the epoch's step losses
  std::optional<Evaluation> validation;
  double seconds;
};

class Report {
public:
  Report(const KilnTrainingInfo &info, const std::string *logPath, const std::string *plotPath, bool terminal);

  // Redraws the progress bar (on a terminal, at most ten times a second).
  void progress(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double runningLoss,
                std::chrono::steady_clock::time_point epochStart);
  void endProgress();
  // Prints the epoch's line and rewrites the log and the plot with it.
  Outcome epochDone(const EpochRecord &record, int64_t epochs);
  // "loss 0.1234, accuracy 97.21%": the loss and the train block's metrics.
  std::string describe(const Evaluation &evaluation) const;

private:
  Outcome writeLog() const;
  Outcome writePlot() const;

  const KilnTrainingInfo &info_;
  std::string logPath_, plotPath_;
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point lastDrawn_;
  std::vector<EpochRecord> history_;
};

}  // namespace kiln::program
