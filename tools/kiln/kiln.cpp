// kiln: the model compiler's driver. `kiln build MODEL.kiln` parses and checks a model and
// prints its syntax tree (--emit=ast), its tensor IR (--emit=ir), that IR with the loss's
// gradient with respect to the parameters (--emit=grad-ir) or outlined into kernels
// (--emit=kernels), or compiles it to LLVM IR, assembly, an object, a static library with a C
// header, or (-o PROGRAM, --emit=exe) a program linked with the runtime. `kiln run MODEL.kiln`
// compiles a function in process and runs it; `kiln check-grad MODEL.kiln` verifies the gradient
// numerically, or against another framework's with --reference. Each also takes tensor IR (a
// .kir file, as kiln-opt reads), compiled as written. Exit code 1 on any error.
#include <charconv>

#include <fmt/format.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/InitLLVM.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/ToolOutputFile.h>

#include "backends/cpu/Exports.h"
#include "backends/interpreter/Tensor.h"
#include "ir/Printer.h"
#include "passes/gradients/GradientCheck.h"
#include "passes/gradients/ReferenceCheck.h"
#include "runtime/Parallel.h"
#include "tools/compile/Backend.h"
#include "tools/compile/Compile.h"
#include "tools/compile/ToolOptions.h"

namespace cl = llvm::cl;

namespace {
cl::OptionCategory kilnCategory("kiln options");

cl::SubCommand buildCommand("build", "Parse, check and lower a model file; compile it to a program with -o");
cl::SubCommand runCommand("run", "Compile a function of a model to native code in process and run it");
cl::SubCommand checkGradCommand("check-grad",
                                "Compare the symbolic gradient of the model's loss with central differences in f64");

enum class EmitKind { Ast, Ir, GradientIr, Kernels, MemoryPlan, Llvm, Assembly, Object, Library, Program };
cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model.kiln or module.kir>"), cl::Required,
                               cl::cat(kilnCategory), cl::sub(buildCommand), cl::sub(runCommand),
                               cl::sub(checkGradCommand));
cl::opt<EmitKind> emit(
    "emit", cl::desc("What to produce (default: ir, or exe with -o)"), cl::init(EmitKind::Ir),
    cl::values(clEnumValN(EmitKind::Ast, "ast", "the syntax tree"), clEnumValN(EmitKind::Ir, "ir", "the tensor IR"),
               clEnumValN(EmitKind::GradientIr, "grad-ir",
                          "the tensor IR with @loss_grad: the loss and its gradient with respect to every parameter, "
                          "simplified"),
               clEnumValN(EmitKind::Kernels, "kernels",
                          "that IR with every func outlined into kernel calls (kiln-opt reads it back)"),
               clEnumValN(EmitKind::MemoryPlan, "memory-plan",
                          "each func's buffers: bytes, offset in the arena and live range, the arena's size and "
                          "the unplanned total, checked"),
               clEnumValN(EmitKind::Llvm, "llvm", "LLVM IR after LLVM's optimisation pipeline"),
               clEnumValN(EmitKind::Assembly, "asm", "assembly for the target"),
               clEnumValN(EmitKind::Object, "obj", "an object file for the target (needs -o)"),
               clEnumValN(EmitKind::Library, "lib",
                          "a static library with the runtime and a C header next to it, FILE.h (needs -o)"),
               clEnumValN(EmitKind::Program, "exe",
                          "a program linked with the runtime by the system's c++ (needs -o; see PROGRAM --help)")),
    cl::cat(kilnCategory), cl::sub(buildCommand));
cl::opt<std::string> outputPath("o", cl::desc("Write the result here instead of standard output"),
                                cl::value_desc("file"), cl::init("-"), cl::cat(kilnCategory), cl::sub(buildCommand));
cl::list<std::string> dims("dim", cl::desc("Size of a symbolic dimension, e.g. --dim B=32"),
                           cl::value_desc("NAME=SIZE"), cl::cat(kilnCategory), cl::sub(buildCommand),
                           cl::sub(runCommand), cl::sub(checkGradCommand));
cl::opt<std::string> modelName("model", cl::desc("The model to lower when the file has several"),
                               cl::value_desc("name"), cl::cat(kilnCategory), cl::sub(buildCommand),
                               cl::sub(runCommand), cl::sub(checkGradCommand));
cl::opt<unsigned> optLevel("O", cl::desc("LLVM's optimisation level, 0 to 3 (default 3)"), cl::Prefix, cl::init(3),
                           cl::value_desc("level"), cl::cat(kilnCategory), cl::sub(buildCommand), cl::sub(runCommand));
cl::opt<std::string> targetCpu("target-cpu",
                               cl::desc("The CPU to compile for (default: the host's, with its features)"),
                               cl::value_desc("name"), cl::cat(kilnCategory), cl::sub(buildCommand),
                               cl::sub(runCommand));
cl::opt<std::string> runFunctionName("function", cl::desc("The function to run (default: forward)"),
                                     cl::value_desc("name"), cl::init("forward"), cl::cat(kilnCategory),
                                     cl::sub(runCommand));
cl::list<std::string> runInputs("input", cl::desc("An argument of the function, read from a .npy file"),
                                cl::value_desc("NAME=FILE.npy"), cl::cat(kilnCategory), cl::sub(runCommand));
cl::opt<std::string> runOutputDirectory("output",
                                        cl::desc("Write the results to DIR/result0.npy, ... instead of printing them"),
                                        cl::value_desc("DIR"), cl::cat(kilnCategory), cl::sub(runCommand));
cl::opt<bool> noFusion("no-fusion",
                       cl::desc("Skip the fusion steps (fuse-attention, fuse): every compute op stays a kernel of its "
                                "own (to compare with fusion)"),
                       cl::cat(kilnCategory));
cl::opt<bool> noMemoryPlan("no-memory-plan",
                           cl::desc("Allocate every buffer apart instead of in one planned arena (to test the plan)"),
                           cl::cat(kilnCategory), cl::sub(buildCommand), cl::sub(runCommand));
cl::opt<bool> debugInfo("g",
                        cl::desc("Emit DWARF line tables: generated code is attributed to the model's lines, so that "
                                 "gdb, perf and sanitizer reports name them"),
                        cl::cat(kilnCategory), cl::sub(buildCommand));
cl::opt<int> runThreads("threads", cl::desc("Threads to run on (default: KILN_NUM_THREADS, else every core)"),
                        cl::value_desc("N"), cl::cat(kilnCategory), cl::sub(runCommand));
cl::opt<uint64_t> checkSeed("seed", cl::desc("Seed of the random inputs and of @init's parameters"), cl::init(1),
                            cl::cat(kilnCategory), cl::sub(checkGradCommand));
cl::opt<int64_t>
    checkSamples("samples",
                 cl::desc("Elements checked per parameter, chosen at random, half of them among those with a "
                          "non-zero gradient (0: every element)"),
                 cl::init(0), cl::cat(kilnCategory), cl::sub(checkGradCommand));
cl::opt<std::string> referenceDirectory(
    "reference",
    cl::desc("Instead of finite differences, compare the loss and its parameter gradients with DIR/loss.npy and "
             "DIR/d_<parameter>.npy, at the arguments in DIR/<argument>.npy"),
    cl::value_desc("DIR"), cl::cat(kilnCategory), cl::sub(checkGradCommand));
cl::opt<double> absoluteTolerance("atol",
                                  cl::desc("Absolute tolerance (default: 1e-5 against finite differences, 1e-10 "
                                           "against --reference)"),
                                  cl::cat(kilnCategory), cl::sub(checkGradCommand));
cl::opt<double> relativeTolerance("rtol",
                                  cl::desc("Relative tolerance (default: 1e-3 against finite differences, 1e-8 "
                                           "against --reference)"),
                                  cl::cat(kilnCategory), cl::sub(checkGradCommand));
cl::opt<int64_t> maxTensorBytes("max-tensor-bytes",
                                cl::desc("The largest tensor, in bytes, the check may allocate (default 4 GiB)"),
                                cl::init(kiln::kDefaultTensorByteLimit), cl::cat(kilnCategory),
                                cl::sub(checkGradCommand));

bool isIdentifier(llvm::StringRef text) {
  if (text.empty() || !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_')) return false;
  return llvm::all_of(text, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::optional<kiln::lang::LowerOptions> parseOptions() {
  kiln::lang::LowerOptions options;
  options.modelName = modelName;
  for (const std::string &dim : dims) {
    auto [name, sizeText] = llvm::StringRef(dim).split('=');
    int64_t size = 0;
    auto [end, error] = std::from_chars(sizeText.begin(), sizeText.end(), size);
    if (!isIdentifier(name) || sizeText.empty() || error != std::errc() || end != sizeText.end() || size < 1) {
      llvm::errs() << "kiln: error: --dim expects NAME=SIZE with a positive size, not '" << dim << "'\n";
      return std::nullopt;
    }
    options.dims.emplace_back(name.str(), size);
  }
  return options;
}

// Compiles the model file to `stage`; diagnostics are printed, and null means there were errors.
std::unique_ptr<kiln::CompiledModel> compile(kiln::CompileStage stage) {
  std::optional<kiln::lang::LowerOptions> lowerOptions = parseOptions();
  if (!lowerOptions) return nullptr;
  // A device such as /dev/zero would be read forever: only regular files (or - for stdin).
  if (inputPath != "-" && !llvm::sys::fs::is_regular_file(inputPath) && llvm::sys::fs::exists(inputPath)) {
    llvm::errs() << "kiln: error: cannot read '" << inputPath << "': not a regular file\n";
    return nullptr;
  }
  auto steps = kiln::takePipelineOptions(kiln::compileStepNames());
  if (!steps) {
    llvm::errs() << "kiln: error: " << llvm::toString(steps.takeError()) << "\n";
    return nullptr;
  }
  kiln::CompileOptions options{*lowerOptions, stage, *steps};
  options.fusion = !noFusion;
  auto model = kiln::compileModel(inputPath, options, llvm::outs(), llvm::errs());
  if (!model) {
    llvm::consumeError(model.takeError());  // a ReportedFailure: its diagnostics are out
    return nullptr;
  }
  return std::move(*model);
}

bool hasLoss(const kiln::Module &module) {
  if (module.lookup("loss")) return true;
  llvm::errs() << "kiln: error: '" << inputPath << "' has no train block, so there is no loss to differentiate\n";
  return false;
}

const char *emitName(EmitKind kind) {
  switch (kind) {
  case EmitKind::Object: return "obj";
  case EmitKind::Library: return "lib";
  default: return "exe";
  }
}

std::optional<kiln::cpu::TargetOptions> targetOptions() {
  if (optLevel > 3) {
    llvm::errs() << "kiln: error: -O" << optLevel << ": the optimisation level is one of 0, 1, 2, 3\n";
    return std::nullopt;
  }
  kiln::cpu::TargetOptions options;
  options.cpu = targetCpu;
  options.optLevel = optLevel;
  return options;
}

int build(const char *argv0) {
  if (outputPath != "-" && llvm::sys::fs::equivalent(inputPath, outputPath)) {
    llvm::errs() << "kiln: error: -o " << outputPath << " would overwrite the model file it is built from\n";
    return 1;
  }
  EmitKind kind = emit;
  if (!emit.getNumOccurrences() && outputPath != "-") kind = EmitKind::Program;
  bool native = kind == EmitKind::Llvm || kind == EmitKind::Assembly || kind == EmitKind::Object ||
                kind == EmitKind::Library || kind == EmitKind::Program;
  if ((kind == EmitKind::Object || kind == EmitKind::Library || kind == EmitKind::Program) && outputPath == "-") {
    llvm::errs() << "kiln: error: --emit=" << emitName(kind) << " writes a file: give -o FILE\n";
    return 1;
  }
  std::optional<kiln::cpu::TargetOptions> target = targetOptions();
  if (!target) return 1;
  kiln::CompileStage stage = kind == EmitKind::Ast          ? kiln::CompileStage::Ast
                             : kind == EmitKind::GradientIr ? kiln::CompileStage::GradientIr
                             : kind == EmitKind::Ir         ? kiln::CompileStage::Ir
                                                            : kiln::CompileStage::Kernels;
  std::unique_ptr<kiln::CompiledModel> model = compile(stage);
  if (!model) return 1;

  if (native) {
    kiln::BackendOptions options;
    options.target = *target;
    options.output = kind == EmitKind::Llvm       ? kiln::BackendOutput::Llvm
                     : kind == EmitKind::Assembly ? kiln::BackendOutput::Assembly
                     : kind == EmitKind::Object   ? kiln::BackendOutput::Object
                     : kind == EmitKind::Library  ? kiln::BackendOutput::Library
                                                  : kiln::BackendOutput::Program;
    options.outputPath = outputPath;
    options.modelName = llvm::sys::path::filename(inputPath).str();
    options.libraryPrefix = kiln::cpu::cIdentifier(llvm::sys::path::stem(inputPath));
    options.runtimeDirectory = kiln::runtimeDirectory(argv0, reinterpret_cast<void *>(&build));
    options.planMemory = !noMemoryPlan;
    if (debugInfo) options.debugInfoFile = inputPath;
    if (auto error = kiln::buildModel(*model, options, llvm::errs())) {
      kiln::Diagnostics(model->sources).reportFailure(std::move(error), nullptr, "kiln");
      return 1;
    }
    return 0;
  }

  std::error_code errorCode;
  llvm::ToolOutputFile output(outputPath, errorCode, llvm::sys::fs::OF_Text);
  if (errorCode) {
    llvm::errs() << "kiln: error: cannot write '" << outputPath << "': " << errorCode.message() << "\n";
    return 1;
  }
  if (kind == EmitKind::Ast) {
    kiln::lang::dump(model->file, model->sources, output.os());
  } else if (kind == EmitKind::MemoryPlan) {
    if (auto error = kiln::printMemoryPlans(*model->module, *target, output.os())) {
      kiln::Diagnostics(model->sources).reportFailure(std::move(error), nullptr, "kiln");
      return 1;
    }
  } else {
    kiln::print(*model->module, output.os());
  }
  output.keep();
  return 0;
}

int run() {
  std::optional<kiln::cpu::TargetOptions> target = targetOptions();
  if (!target) return 1;
  if (runThreads.getNumOccurrences()) {
    if (runThreads < 1) {
      llvm::errs() << "kiln: error: --threads must be a positive number\n";
      return 1;
    }
    kiln::runtime::setThreadCount(runThreads);
  }
  std::unique_ptr<kiln::CompiledModel> model = compile(kiln::CompileStage::Kernels);
  if (!model) return 1;
  kiln::RunOptions options{runFunctionName, runInputs, runOutputDirectory};
  if (auto error = kiln::runModel(*model, options, *target, !noMemoryPlan, llvm::outs())) {
    kiln::Diagnostics(model->sources).reportFailure(std::move(error), nullptr, "kiln");
    return 1;
  }
  return 0;
}

// Prints the comparison of @loss and its parameter gradients with another framework's.
int checkAgainstReference(const kiln::Module &module, llvm::SourceMgr &sources) {
  const kiln::Function &loss = *module.lookup("loss");
  std::vector<kiln::Value *> parameterValues = loss.argumentsWithRole(kiln::ArgumentRole::Parameter);
  std::vector<const kiln::Value *> parameters(parameterValues.begin(), parameterValues.end());
  kiln::Tolerances tolerances = kiln::kReferenceTolerances;
  if (absoluteTolerance.getNumOccurrences()) tolerances.absolute = absoluteTolerance;
  if (relativeTolerance.getNumOccurrences()) tolerances.relative = relativeTolerance;
  auto report = kiln::compareWithReference(loss, parameters, referenceDirectory, tolerances);
  if (!report) {
    kiln::Diagnostics(sources).reportFailure(report.takeError(), nullptr, "kiln");
    return 1;
  }
  for (const std::string &note : report->notes) llvm::errs() << "kiln: note: " << note << "\n";
  report->print(llvm::outs());
  return report->passed() ? 0 : 1;
}

// A full finite-difference check evaluates @loss twice per float argument element. Above this
// many element evaluations in total (the digits MLP at batch 32 needs about 3e8, 12 s) the
// check samples each argument unless --samples says otherwise, and says so.
constexpr double kFullCheckBudget = 1e8;

int64_t automaticSamples(const kiln::Function &loss) {
  double evaluation = 0, elements = 0, floatArguments = 0;
  for (const auto &op : loss.ops()) evaluation += double(op->result()->type().elementCount());
  for (const auto &argument : loss.arguments())
    if (kiln::isFloat(argument->type().dtype)) elements += double(argument->type().elementCount()), ++floatArguments;
  if (2 * elements * evaluation <= kFullCheckBudget) return 0;
  int64_t samples = std::max<int64_t>(8, int64_t(kFullCheckBudget / (2 * evaluation * std::max(floatArguments, 1.0))));
  llvm::errs() << fmt::format(
      "kiln: note: a full check would evaluate @loss {:.3g} times; checking a sample of {} elements "
      "per argument instead (--samples 0 checks every element)\n",
      2 * elements, samples);
  return samples;
}

int checkGradient() {
  for (const cl::opt<double> *tolerance : {&absoluteTolerance, &relativeTolerance})
    if (tolerance->getNumOccurrences() && !(*tolerance >= 0)) {
      llvm::errs() << "kiln: error: --" << tolerance->ArgStr << " must be a non-negative number\n";
      return 1;
    }
  if (maxTensorBytes < 1) {
    llvm::errs() << "kiln: error: --max-tensor-bytes must be positive\n";
    return 1;
  }
  kiln::setTensorByteLimit(maxTensorBytes);
  std::unique_ptr<kiln::CompiledModel> model = compile(kiln::CompileStage::Ir);
  if (!model || !hasLoss(*model->module)) return 1;
  if (!referenceDirectory.empty()) return checkAgainstReference(*model->module, model->sources);
  kiln::GradientCheckOptions options;
  options.seed = checkSeed;
  if (absoluteTolerance.getNumOccurrences()) options.tolerances.absolute = absoluteTolerance;
  if (relativeTolerance.getNumOccurrences()) options.tolerances.relative = relativeTolerance;
  if (checkSamples < 0) {
    llvm::errs() << "kiln: error: --samples must not be negative\n";
    return 1;
  }
  options.samplesPerArgument =
      checkSamples.getNumOccurrences() ? int64_t(checkSamples) : automaticSamples(*model->module->lookup("loss"));
  // Where the model lives: its own initial parameters, not uniform ones of any scale.
  options.parametersFromInit = true;
  llvm::outs() << fmt::format("@loss at: the parameters from @init with seed {0}; the inputs and labels random with "
                              "seed {0} (floats of magnitude 0.1 to 0.9, integers among the indices they select)\n",
                              uint64_t(checkSeed));
  auto passed = kiln::checkGradients(*model->module, "loss", options, llvm::outs(), llvm::errs(), "kiln");
  if (!passed) {
    kiln::Diagnostics(model->sources).reportFailure(passed.takeError(), nullptr, "kiln");
    return 1;
  }
  return *passed ? 0 : 1;
}
}  // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  kiln::adoptPipelineOptions(kilnCategory, "kiln");
  cl::HideUnrelatedOptions(kilnCategory);
  cl::ParseCommandLineOptions(argc, argv, "kiln: compile neural-network models\n");
  if (buildCommand) return build(argv[0]);
  if (runCommand) return run();
  if (checkGradCommand) return checkGradient();
  llvm::errs() << "kiln: error: give a subcommand: kiln build MODEL.kiln, kiln run MODEL.kiln, or kiln check-grad "
                  "MODEL.kiln\n";
  return 1;
}
