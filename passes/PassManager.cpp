// The pass manager: pipeline text, running, verifying, printing and timing passes.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/Timer.h>
#include <range/v3/algorithm/find.hpp>

#include "ir/Diagnostics.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"

namespace kiln {

std::string PassOptions::get(std::string_view key, std::string_view fallback) const {
  auto it = values.find(key);
  return it == values.end() ? std::string(fallback) : it->second;
}

llvm::Error PassOptions::checkOnly(std::initializer_list<std::string_view> known) const {
  for (const auto &[key, value] : values)
    if (ranges::find(known, key) == known.end())
      return llvm::createStringError(
          known.size() == 0 ? fmt::format("no option '{}': this pass takes none", key)
                            : fmt::format("no option '{}': the options are {}", key, fmt::join(known, ", ")));
  return llvm::Error::success();
}

const PassInfo *lookupPass(std::string_view name) {
  for (const PassInfo &pass : allPasses())
    if (pass.name == name) return &pass;
  return nullptr;
}

// pipeline := step (',' step)* ; step := name ('{' key '=' value (',' key '=' value)* '}')?
llvm::Expected<std::vector<PipelineStep>> parsePipeline(std::string_view text) {
  std::vector<PipelineStep> steps;
  size_t position = 0;
  while (position < text.size()) {
    size_t nameEnd = text.find_first_of(",{", position);
    std::string name(llvm::StringRef(text.substr(position, nameEnd - position)).trim());
    const PassInfo *pass = lookupPass(name);
    if (!pass) {
      std::vector<std::string_view> names;
      for (const PassInfo &each : allPasses()) names.push_back(each.name);
      return llvm::createStringError(
          fmt::format("unknown pass '{}'; the passes are: {}", name, fmt::join(names, ", ")));
    }
    PipelineStep step{pass, {}};
    position = nameEnd;
    if (position < text.size() && text[position] == '{') {
      size_t close = text.find('}', position);
      if (close == std::string_view::npos)
        return llvm::createStringError(fmt::format("options of pass '{}' are not closed with '}}'", name));
      llvm::SmallVector<llvm::StringRef> pairs;
      llvm::StringRef(text.substr(position + 1, close - position - 1)).split(pairs, ',', -1, false);
      for (llvm::StringRef pair : pairs) {
        auto [key, value] = pair.split('=');
        if (key.trim().empty() || !pair.contains('='))
          return llvm::createStringError(fmt::format("option '{}' of pass '{}' is not key=value", pair.str(), name));
        step.options.values[key.trim().str()] = value.trim().str();
      }
      position = close + 1;
    }
    steps.push_back(std::move(step));
    if (position < text.size()) {
      if (text[position] != ',') return llvm::createStringError(fmt::format("expected ',' after pass '{}'", name));
      ++position;
    }
  }
  return steps;
}

StepRunner::StepRunner(const PassManagerOptions &options, llvm::raw_ostream &out)
    : options_(options), out_(out),
      timers_(std::make_unique<llvm::TimerGroup>("kiln-passes", "Kiln pass execution timing report")) {}

StepRunner::~StepRunner() {
  if (options_.timePasses) timers_->print(llvm::errs(), /*ResetAfterPrint=*/true);
}

llvm::Error StepRunner::run(std::string_view name, const Module *module, llvm::function_ref<llvm::Error()> step) {
  ownedTimers_.push_back(std::make_unique<llvm::Timer>(name, name, *timers_));
  llvm::Timer &timer = *ownedTimers_.back();
  if (options_.timePasses) timer.startTimer();
  llvm::Error failure = step();
  if (options_.timePasses) timer.stopTimer();
  // Problems with ops stay records, for the tool to point at each op; the rest is text.
  if (failure)
    return llvm::handleErrors(
        std::move(failure),
        [&](std::unique_ptr<OpErrors> problems) {
          problems->prefixSubject(fmt::format("pass '{}': ", name));
          return llvm::Error(std::move(problems));
        },
        [&](const llvm::StringError &other) {
          return llvm::createStringError(fmt::format("pass '{}': {}", name, other.message()));
        });
  if (!module) return llvm::Error::success();

  if (options_.verifyEach) {
    std::vector<ProblemAtOp> errors = verify(*module);
    if (!errors.empty()) return llvm::make_error<OpErrors>(fmt::format("pass '{}' produced invalid IR", name), errors);
  }
  if (options_.printAfterAll || ranges::find(options_.printAfter, name) != options_.printAfter.end()) {
    out_ << "// ----- IR after " << name << " -----\n";
    print(*module, out_);
  }
  return llvm::Error::success();
}

llvm::Error runPipeline(Module &module, std::span<const PipelineStep> steps, const PassManagerOptions &options,
                        llvm::raw_ostream &out) {
  StepRunner runner(options, out);
  for (const PipelineStep &step : steps) {
    PassOptions passOptions = step.options;
    passOptions.remarks = options.remarks;
    if (auto error = runner.run(step.pass->name, &module, [&] { return step.pass->run(module, passOptions); }))
      return error;
  }
  return llvm::Error::success();
}

}  // namespace kiln
