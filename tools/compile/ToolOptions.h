// What kiln and kiln-opt share on their command lines: --version, and the pipeline options
// --print-after-all, --print-after=STEP, --time-passes and --remarks=KIND.
#pragma once

#include <span>
#include <string>

#include <llvm/Support/CommandLine.h>
#include <llvm/Support/Error.h>

#include "ir/Diagnostics.h"
#include "passes/Pass.h"

namespace kiln {

// Puts LLVM's own --print-after-all, --print-after and --time-passes (registered by LLVM, so
// not declared twice) and Kiln's --remarks into `category`, and installs the --version printer of `tool`. Call
// before cl::HideUnrelatedOptions and cl::ParseCommandLineOptions.
void adoptPipelineOptions(llvm::cl::OptionCategory &category, llvm::StringRef tool);

// After parsing: the pipeline options as Kiln's pass manager reads them. The printing options
// are then reset in LLVM, so that LLVM's passes, when they run in the same process, do not print
// their IR as well; --time-passes stays set, so that LLVM's passes show up in the timing too.
// A --print-after naming no step of `stepNames`, or a --remarks naming no kind of remark, is an
// error that lists them.
llvm::Expected<PassManagerOptions> takePipelineOptions(std::span<const std::string> stepNames);

// Prints, in the order the passes made them, the remarks of the kinds `options` asks for.
void printRemarks(const PassManagerOptions &options, std::span<const Remark> remarks, Diagnostics &diagnostics);

}  // namespace kiln
