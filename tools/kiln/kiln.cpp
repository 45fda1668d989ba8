// kiln: the model compiler's driver. `kiln build MODEL.kiln` parses and checks a model and
// prints its syntax tree (--emit=ast) or its tensor IR (--emit=ir).
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/InitLLVM.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/ToolOutputFile.h>

#include "frontend/Parser.h"

namespace cl = llvm::cl;

namespace {
cl::SubCommand buildCommand("build", "Parse, check and lower a model file");

enum class EmitKind { Ast, Ir };
cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model.kiln>"), cl::Required, cl::sub(buildCommand));
cl::opt<EmitKind> emit("emit", cl::desc("What to print"), cl::init(EmitKind::Ir),
                       cl::values(clEnumValN(EmitKind::Ast, "ast", "the syntax tree"),
                                  clEnumValN(EmitKind::Ir, "ir", "the tensor IR")),
                       cl::sub(buildCommand));
cl::opt<std::string> outputPath("o", cl::desc("Write the result here instead of standard output"),
                                cl::value_desc("file"), cl::init("-"), cl::sub(buildCommand));

int build() {
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputPath);
  if (!buffer) {
    llvm::errs() << "kiln: error: cannot read '" << inputPath << "': " << buffer.getError().message() << "\n";
    return 1;
  }
  llvm::SourceMgr sources;
  unsigned bufferId = sources.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  kiln::lang::DiagnosticEngine diagnostics(sources);
  kiln::lang::File file = kiln::lang::parseFile(bufferId, diagnostics);
  if (diagnostics.errorCount() > 0) return 1;

  std::error_code errorCode;
  llvm::ToolOutputFile output(outputPath, errorCode, llvm::sys::fs::OF_Text);
  if (errorCode) {
    llvm::errs() << "kiln: error: cannot write '" << outputPath << "': " << errorCode.message() << "\n";
    return 1;
  }
  if (emit == EmitKind::Ast) kiln::lang::dump(file, sources, output.os());
  output.keep();
  return 0;
}
}  // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "kiln: compile neural-network models\n");
  if (buildCommand) return build();
  llvm::errs() << "kiln: error: give a subcommand: kiln build MODEL.kiln\n";
  return 1;
}
