// The backend half of `kiln`'s pipeline: from a model compiled to CompileStage::Kernels to LLVM IR,
// assembly, an object, a static library with its C header, a program linked with the runtime, or
// a run in the JIT. Each stage is a step of the model's StepRunner, so --time-passes shows it.
#pragma once

#include <string>

#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include "backends/cpu/Target.h"
#include "backends/interpreter/RunFunction.h"
#include "tools/compile/Compile.h"

namespace kiln {

enum class BackendOutput { Llvm, Assembly, Object, Library, Program };

struct BackendOptions {
  cpu::TargetOptions target;
  BackendOutput output = BackendOutput::Program;
  std::string outputPath;     // '-' (standard output) only for LLVM IR and assembly
  std::string modelName;      // the model file, named in the program's --help and the header
  std::string libraryPrefix;  // the C functions' prefix: PREFIX_forward
  // Where libkiln_runtime.a and libkiln_main.a are (runtimeDirectory()).
  std::string runtimeDirectory;
  bool planMemory = true;     // false: --no-memory-plan, one allocation per buffer
  std::string debugInfoFile;  // non-empty (-g): DWARF line tables, the compile unit named so
};

// The build's lib/ directory next to the bin/ directory of the running kiln (`argv0` and an
// address inside it find it): bin/kiln and lib/libkiln_runtime.a.
std::string runtimeDirectory(const char *argv0, void *addressInKiln);

// The steps: lower-to-llvm (the funcs that lower; the others are left out with a warning on
// `errors`), llvm-optimize, codegen, and link or archive. The output file is only written whole.
llvm::Error buildModel(CompiledModel &model, const BackendOptions &options, llvm::raw_ostream &errors);

// `kiln run`: lower-to-llvm the chosen func, add it to the JIT (jit: LLVM's pipeline and machine
// code), and run it on the inputs (run), the way kiln-opt --run does.
llvm::Error runModel(CompiledModel &model, const RunOptions &run, const cpu::TargetOptions &target, bool planMemory,
                     llvm::raw_ostream &out);

// `--emit=memory-plan`: the plan of every func's buffers (backends/cpu/MemoryPlan.h), checked,
// and the func's peak with its kernels' temporaries, from each func lowered for `target`.
llvm::Error printMemoryPlans(const Module &module, const cpu::TargetOptions &target, llvm::raw_ostream &out);

}  // namespace kiln
