// kiln-opt: reads tensor IR text, runs a pipeline of passes over it and prints the result.
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/InitLLVM.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/ToolOutputFile.h>

#include "backends/cpu/Compile.h"
#include "backends/interpreter/RunFunction.h"
#include "backends/interpreter/Tensor.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"
#include "passes/gradients/GradientCheck.h"
#include "runtime/Parallel.h"
#include "tools/compile/ToolOptions.h"
#include "tools/kiln-opt/OpListing.h"

namespace cl = llvm::cl;

namespace {
cl::OptionCategory kilnCategory("kiln-opt options");

cl::opt<std::string> inputPath(cl::Positional, cl::desc("<input .kir file>"), cl::init("-"), cl::cat(kilnCategory));
cl::opt<std::string> outputPath("o", cl::desc("Write the result here instead of standard output"),
                                cl::value_desc("file"), cl::init("-"), cl::cat(kilnCategory));
cl::opt<std::string> pipelineText("p", cl::desc("Passes to run, comma separated: simplify,cse,dce"),
                                  cl::value_desc("passes"), cl::cat(kilnCategory));
cl::opt<bool> verifyEach("verify-each", cl::desc("Verify the IR after every pass (default on)"), cl::init(true),
                         cl::cat(kilnCategory));
cl::opt<bool> listOpsFlag("list-ops", cl::desc("Print the op table and which rules each op has"),
                          cl::cat(kilnCategory));
cl::opt<bool> listPassesFlag("list-passes", cl::desc("Print the registered passes"), cl::cat(kilnCategory));
cl::opt<bool> runFlag("run", cl::desc("Evaluate a function with the reference interpreter (after the passes)"),
                      cl::cat(kilnCategory));
cl::opt<bool> jitFlag("jit",
                      cl::desc("Like --run, but outline kernels, compile them to native code and run it in a JIT"),
                      cl::cat(kilnCategory));
cl::opt<unsigned> jitOptLevel("O", cl::desc("With --jit: LLVM's optimisation level, 0 to 3 (default 3)"), cl::Prefix,
                              cl::init(3), cl::value_desc("level"), cl::cat(kilnCategory));
cl::opt<std::string> runFunctionName("function",
                                     cl::desc("The function --run evaluates (default: the only one) or --check-grad "
                                              "checks (default: all with one float result)"),
                                     cl::value_desc("name"), cl::cat(kilnCategory));
cl::list<std::string>
    runInputs("input", cl::desc("An argument for --run, read from a .npy file, or the array NAME of a .npz file"),
              cl::value_desc("NAME=FILE.npy"), cl::cat(kilnCategory));
cl::opt<std::string>
    runOutputDirectory("output", cl::desc("Write --run results to DIR/result0.npy, ... instead of printing them"),
                       cl::value_desc("DIR"), cl::cat(kilnCategory));
cl::opt<bool> checkGradFlag("check-grad",
                            cl::desc("Compare autodiff's gradient with central differences in f64 (exit 1 on failure)"),
                            cl::cat(kilnCategory));
cl::opt<unsigned> checkGradResult("result", cl::desc("With --check-grad: the result to differentiate (default 0)"),
                                  cl::value_desc("index"), cl::init(0), cl::cat(kilnCategory));
cl::opt<bool> positiveInputs("positive-inputs", cl::desc("With --check-grad: positive inputs only (log, sqrt, pow)"),
                             cl::cat(kilnCategory));
cl::opt<int64_t> maxTensorBytes("max-tensor-bytes",
                                cl::desc("With --run or --check-grad: the largest tensor, in bytes, the interpreter "
                                         "allocates (default 4 GiB)"),
                                cl::init(kiln::kDefaultTensorByteLimit), cl::cat(kilnCategory));

// --threads. LLVM's shared library registers an unrelated, undocumented top-level option of that
// name, so this one is created in main, after that one is renamed (registerThreadsOption).
cl::opt<unsigned> &jitThreads() {
  static cl::opt<unsigned> option("threads",
                                  cl::desc("With --jit: threads for the kernels (default: KILN_NUM_THREADS, else "
                                           "every core); results do not depend on it"),
                                  cl::init(0), cl::value_desc("N"), cl::cat(kilnCategory));
  return option;
}

void registerThreadsOption() {
  llvm::StringMap<cl::Option *> &registered = cl::getRegisteredOptions();
  if (auto found = registered.find("threads"); found != registered.end()) found->second->setArgStr("llvm-threads");
  jitThreads();
}

}  // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerThreadsOption();
  kiln::adoptPipelineOptions(kilnCategory, "kiln-opt");
  cl::HideUnrelatedOptions(kilnCategory);
  cl::ParseCommandLineOptions(argc, argv, "kiln-opt: run passes over Kiln tensor IR\n");

  if (listOpsFlag) {
    kiln::listOps(llvm::outs());
    return 0;
  }
  if (listPassesFlag) {
    for (const kiln::PassInfo &pass : kiln::allPasses()) llvm::outs() << pass.name << "  " << pass.summary << "\n";
    return 0;
  }

  auto pipeline = kiln::parsePipeline(pipelineText);
  if (!pipeline) {
    llvm::errs() << "kiln-opt: error: " << llvm::toString(pipeline.takeError()) << "\n";
    return 1;
  }
  std::vector<std::string> passNames;
  for (const kiln::PassInfo &pass : kiln::allPasses()) passNames.emplace_back(pass.name);
  auto options = kiln::takePipelineOptions(passNames);
  if (!options) {
    llvm::errs() << "kiln-opt: error: " << llvm::toString(options.takeError()) << "\n";
    return 1;
  }
  options->verifyEach = verifyEach;
  if (maxTensorBytes < 1) {
    llvm::errs() << "kiln-opt: error: --max-tensor-bytes must be positive\n";
    return 1;
  }
  kiln::setTensorByteLimit(maxTensorBytes);

  // A device such as /dev/zero would be read forever: only regular files (or - for stdin).
  if (inputPath != "-" && !llvm::sys::fs::is_regular_file(inputPath) && llvm::sys::fs::exists(inputPath)) {
    llvm::errs() << "kiln-opt: error: cannot read '" << inputPath << "': not a regular file\n";
    return 1;
  }
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputPath);
  if (!buffer) {
    llvm::errs() << "kiln-opt: error: cannot read '" << inputPath << "': " << buffer.getError().message() << "\n";
    return 1;
  }
  llvm::SourceMgr sources;
  unsigned bufferId = sources.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  kiln::Diagnostics diagnostics(sources);
  std::optional<kiln::ParsedModule> parsed = kiln::parseModule(bufferId, diagnostics);
  if (!parsed) return 1;

  for (const kiln::ProblemAtOp &error : kiln::verify(*parsed->module)) diagnostics.report(error, &parsed->positions);
  if (diagnostics.errorCount() > 0) return 1;
  if (checkGradFlag) {
    kiln::GradientCheckOptions options;
    options.positiveInputs = positiveInputs;
    options.resultIndex = checkGradResult;
    auto passed =
        kiln::checkGradients(*parsed->module, runFunctionName, options, llvm::outs(), llvm::errs(), "kiln-opt");
    if (!passed) {
      diagnostics.reportFailure(passed.takeError(), &parsed->positions, "kiln-opt");
      return 1;
    }
    return *passed ? 0 : 1;
  }

  std::error_code errorCode;
  llvm::ToolOutputFile output(outputPath, errorCode, llvm::sys::fs::OF_Text);
  if (errorCode) {
    llvm::errs() << "kiln-opt: error: cannot write '" << outputPath << "': " << errorCode.message() << "\n";
    return 1;
  }

  std::vector<kiln::Remark> remarks;
  if (!options->remarkKinds.empty()) options->remarks = &remarks;
  llvm::Error failure = kiln::runPipeline(*parsed->module, *pipeline, *options, output.os());
  kiln::printRemarks(*options, remarks, diagnostics);
  if (failure) {
    diagnostics.reportFailure(std::move(failure), &parsed->positions, "kiln-opt");
    return 1;
  }
  if (jitFlag) {
    if (jitThreads().getNumOccurrences() > 0) {
      if (jitThreads() == 0) {
        diagnostics.reportFailure(llvm::createStringError("--threads must be at least 1"), nullptr, "kiln-opt");
        return 1;
      }
      kiln::runtime::setThreadCount(static_cast<int>(jitThreads()));
    }
    kiln::RunOptions run{runFunctionName, runInputs, runOutputDirectory};
    kiln::cpu::TargetOptions targetOptions;
    targetOptions.optLevel = jitOptLevel;
    auto target = kiln::cpu::Target::create(targetOptions);
    llvm::Error error =
        target ? kiln::cpu::runNatively(*parsed->module, run, **target, output.os()) : target.takeError();
    if (error) {
      diagnostics.reportFailure(std::move(error), &parsed->positions, "kiln-opt");
      return 1;
    }
    output.keep();
    return 0;
  }
  if (runFlag) {
    kiln::RunOptions run{runFunctionName, runInputs, runOutputDirectory};
    if (auto error = kiln::runFunction(*parsed->module, run, output.os())) {
      diagnostics.reportFailure(std::move(error), &parsed->positions, "kiln-opt");
      return 1;
    }
    output.keep();
    return 0;
  }
  kiln::print(*parsed->module, output.os());
  output.keep();
  return 0;
}
