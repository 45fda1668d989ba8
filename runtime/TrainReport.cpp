// Progress, epoch lines, the CSV log and the SVG plot of `prog train`: see TrainReport.h.
#include "runtime/TrainReport.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace kiln::program {

namespace {
bool isPerExample(std::string_view metric) { return metric == "accuracy" || metric == "mse" || metric == "mae"; }

std::vector<std::string> perExampleMetrics(const KilnTrainingInfo &info) {
  std::vector<std::string> names;
  for (int32_t i = 0; i < info.metricCount; ++i)
    if (isPerExample(info.metrics[i])) names.emplace_back(info.metrics[i]);
  return names;
}

std::string duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  return fmt::format("{}:{:02}", int64_t(seconds) / 60, int64_t(seconds) % 60);
}

// One panel of the plot: named series over the epochs, scaled into a box with its value range
// written at the axis.
struct Series {
  std::string name;
  std::string colour;
  std::vector<std::pair<double, double>> points;  // (epoch, value)
};

std::string panel(const std::string &title, const std::vector<Series> &series, double top) {
  constexpr double kLeft = 70, kWidth = 560, kHeight = 180;
  double low = INFINITY, high = -INFINITY, first = INFINITY, last = -INFINITY;
  for (const Series &line : series)
    for (auto [epoch, value] : line.points) {
      low = std::min(low, value), high = std::max(high, value);
      first = std::min(first, epoch), last = std::max(last, epoch);
    }
  if (!std::isfinite(low)) return {};
  if (high == low) high = low + 1;
  if (last == first) last = first + 1;
  double boxTop = top + 30;
  std::string text = fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n"
                                 "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n"
                                 "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4g}</text>\n"
                                 "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4g}</text>\n"
                                 "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">epoch {}</text>\n"
                                 "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">epoch {}</text>\n",
                                 kLeft, top + 20, title, kLeft, boxTop, kWidth, kHeight, kLeft - 5, boxTop + 10, high,
                                 kLeft - 5, boxTop + kHeight, low, kLeft, boxTop + kHeight + 16, first, kLeft + kWidth,
                                 boxTop + kHeight + 16, last);
  double legendX = kLeft + kWidth - 150;
  for (size_t i = 0; i < series.size(); ++i) {
    std::string points;
    for (auto [epoch, value] : series[i].points)
      points += fmt::format("{:.1f},{:.1f} ", kLeft + (epoch - first) / (last - first) * kWidth,
                            boxTop + (high - value) / (high - low) * kHeight);
    text += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", series[i].colour,
                        points);
    text += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", legendX, top + 20 + 14 * double(i),
                        series[i].colour, series[i].name);
  }
  return text;
}
}  // namespace

Report::Report(const KilnTrainingInfo &info, const std::string *logPath, const std::string *plotPath, bool terminal)
    : info_(info), logPath_(logPath ? *logPath : ""), plotPath_(plotPath ? *plotPath : ""), terminal_(terminal) {}

void Report::progress(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double runningLoss,
                      std::chrono::steady_clock::time_point epochStart) {
  if (!terminal_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && step != steps && now - lastDrawn_ < std::chrono::milliseconds(100)) return;
  drawn_ = true;
  lastDrawn_ = now;
  double elapsed = std::chrono::duration<double>(now - epochStart).count();
  constexpr int kBarWidth = 24;
  int filled = int(kBarWidth * step / steps);
  double samplesPerSecond = elapsed > 0 ? double(step * info_.batch) / elapsed : 0;
  std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  %.0f samples/s  %s left", (long long)epoch,
               (long long)epochs, std::string(size_t(filled), '#').c_str(),
               std::string(size_t(kBarWidth - filled), '.').c_str(), (long long)step, (long long)steps, runningLoss,
               samplesPerSecond, duration(elapsed / double(step) * double(steps - step)).c_str());
  std::fflush(stderr);
}

void Report::endProgress() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

std::string Report::describe(const Evaluation &evaluation) const {
  std::string text = fmt::format("loss {:.4f}", evaluation.loss());
  size_t next = 0;
  for (int32_t i = 0; i < info_.metricCount; ++i) {
    std::string_view metric = info_.metrics[i];
    if (metric == "perplexity") text += fmt::format(", perplexity {:.3f}", std::exp(evaluation.loss()));
    if (!isPerExample(metric) || next >= evaluation.metricSums.size()) continue;
    double value = evaluation.metric(next++);
    text += metric == "accuracy" ? fmt::format(", accuracy {:.2f}%", 100 * value)
                                 : fmt::format(", {} {:.4g}", metric, value);
  }
  return text;
}

Outcome Report::epochDone(const EpochRecord &record, int64_t epochs) {
  history_.push_back(record);
  int width = int(fmt::format("{}", epochs).size());
  fmt::print("epoch {:>{}}/{}: training loss {:.4f}{} ({})\n", record.epoch, width, epochs, record.trainingLoss,
             record.validation ? " | validation " + describe(*record.validation) : std::string(),
             fmt::format("{:.2f} s", record.seconds));
  std::fflush(stdout);
  if (Outcome failure = writeLog()) return failure;
  return writePlot();
}

// epoch,training_loss,validation_loss,validation_<metric>...,seconds
Outcome Report::writeLog() const {
  if (logPath_.empty()) return std::nullopt;
  std::vector<std::string> metrics = perExampleMetrics(info_);
  std::string text = "epoch,training_loss,validation_loss";
  for (const std::string &metric : metrics) text += ",validation_" + metric;
  text += ",seconds\n";
  for (const EpochRecord &record : history_) {
    text += fmt::format("{},{:.6g},", record.epoch, record.trainingLoss);
    text += record.validation ? fmt::format("{:.6g}", record.validation->loss()) : "";
    for (size_t i = 0; i < metrics.size(); ++i)
      text += "," + (record.validation && i < record.validation->metricSums.size()
                         ? fmt::format("{:.6g}", record.validation->metric(i))
                         : std::string());
    text += fmt::format(",{:.3f}\n", record.seconds);
  }
  return writeText(logPath_, text);
}

// A panel for the losses (training and validation), then one for each per-example metric.
Outcome Report::writePlot() const {
  if (plotPath_.empty()) return std::nullopt;
  std::vector<std::string> metrics = perExampleMetrics(info_);
  Series training{"training loss", "#1f77b4", {}}, validation{"validation loss", "#d62728", {}};
  std::vector<Series> metricSeries;
  for (const std::string &metric : metrics) metricSeries.push_back({"validation " + metric, "#2ca02c", {}});
  for (const EpochRecord &record : history_) {
    double epoch = double(record.epoch);
    training.points.emplace_back(epoch, record.trainingLoss);
    if (!record.validation) continue;
    validation.points.emplace_back(epoch, record.validation->loss());
    for (size_t i = 0; i < metricSeries.size() && i < record.validation->metricSums.size(); ++i)
      metricSeries[i].points.emplace_back(epoch, record.validation->metric(i));
  }
  std::vector<Series> losses{training};
  if (!validation.points.empty()) losses.push_back(validation);
  std::string body = panel(fmt::format("{}: loss per epoch", info_.model), losses, 0);
  double top = 240;
  for (const Series &series : metricSeries) {
    if (series.points.empty()) continue;
    body += panel(series.name, {series}, top);
    top += 240;
  }
  std::string text = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"660\" height=\"{}\" "
                                 "font-family=\"sans-serif\" font-size=\"12\">\n"
                                 "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
                                 top, body);
  return writeText(plotPath_, text);
}

}  // namespace kiln::program
