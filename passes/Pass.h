// Passes: the registry of named module transformations and the manager that runs a pipeline
// of them, verifying after each.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <llvm/ADT/STLFunctionalExtras.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/Timer.h>

#include "ir/IR.h"

namespace kiln {

// What a pass decided and why, at the model line it concerns, for `--remarks=KIND` (LLVM's
// -Rpass in spirit): the fuse pass gives one of kind `fusion` per producer–consumer edge.
struct Remark {
  std::string kind;
  Location location;
  std::string message;
};

// `name{key=value,key=value}` in a pipeline; the pass reads what it understands and rejects
// the rest through PassOptions::checkOnly (the pass manager adds the pass's name to the error).
// `remarks`, when set, collects the pass's remarks.
struct PassOptions {
  std::map<std::string, std::string, std::less<>> values;
  std::vector<Remark> *remarks = nullptr;

  std::string get(std::string_view key, std::string_view fallback = "") const;
  llvm::Error checkOnly(std::initializer_list<std::string_view> known) const;
};

// A pass that fails because of particular ops returns an OpErrors naming them (the ops of the
// module it was given, so that they have their positions in the text); else any error.
using PassEntry = llvm::Error (*)(Module &module, const PassOptions &options);

// The entry of a pass that transforms each function on its own and takes no options.
template <void (*Transform)(Function &)> llvm::Error forEachFunction(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  for (const auto &function : module.functions()) Transform(*function);
  return llvm::Error::success();
}

struct PassInfo {
  std::string_view name;  // the flag: `-p name`, and the lit test's file name
  std::string_view summary;
  PassEntry run;
};

std::span<const PassInfo> allPasses();
const PassInfo *lookupPass(std::string_view name);

struct PipelineStep {
  const PassInfo *pass;
  PassOptions options;
};

// Parses `simplify,cse,autodiff{function=loss}`.
llvm::Expected<std::vector<PipelineStep>> parsePipeline(std::string_view text);

struct PassManagerOptions {
  bool verifyEach = true;
  bool printAfterAll = false;
  std::vector<std::string> printAfter;  // pass names
  bool timePasses = false;
  std::vector<std::string> remarkKinds;    // --remarks: what the tool prints of `remarks`
  std::vector<Remark> *remarks = nullptr;  // every step's remarks, when set
};

// Runs the named steps of a pipeline, each the same way: timed (--time-passes, one report when
// the runner ends), its failure prefixed with the step's name, the module verified after it
// (verifyEach) and printed when asked (--print-after-all, --print-after=NAME). kiln-opt's pass
// pipelines and kiln's compile pipeline (tools/compile) both run through it.
class StepRunner {
public:
  StepRunner(const PassManagerOptions &options, llvm::raw_ostream &out);
  ~StepRunner();
  StepRunner(const StepRunner &) = delete;
  StepRunner &operator=(const StepRunner &) = delete;

  // Runs `step`; `module` (null while there is none yet) is what gets verified and printed.
  llvm::Error run(std::string_view name, const Module *module, llvm::function_ref<llvm::Error()> step);

private:
  const PassManagerOptions &options_;
  llvm::raw_ostream &out_;
  std::unique_ptr<llvm::TimerGroup> timers_;
  std::vector<std::unique_ptr<llvm::Timer>> ownedTimers_;
};

// Runs `steps` over `module`. Printing goes to `out`; a failing pass or verification stops
// the pipeline with an error naming the pass. Problems with particular ops (a pass's, or the
// verifier's after it) come back as one OpErrors (ir/Diagnostics.h), for the tool to report
// each at its op with Diagnostics::reportFailure.
llvm::Error runPipeline(Module &module, std::span<const PipelineStep> steps, const PassManagerOptions &options,
                        llvm::raw_ostream &out);

}  // namespace kiln
