// kiln: the model compiler's driver. `kiln build MODEL.kiln` parses and checks a model and
// prints its syntax tree (--emit=ast) or its tensor IR (--emit=ir). Exit code 1 on any error.
#include <charconv>

#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/InitLLVM.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/ToolOutputFile.h>

#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Stdlib.h"
#include "ir/Printer.h"

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
cl::list<std::string> dims("dim", cl::desc("Size of a symbolic dimension, e.g. --dim B=32"), cl::value_desc("NAME=SIZE"),
                           cl::sub(buildCommand));
cl::opt<std::string> modelName("model", cl::desc("The model to lower when the file has several"),
                               cl::value_desc("name"), cl::sub(buildCommand));

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

int build() {
  std::optional<kiln::lang::LowerOptions> options = parseOptions();
  if (!options) return 1;
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

  std::unique_ptr<kiln::Module> module;
  if (emit == EmitKind::Ir) {
    std::vector<kiln::lang::File> library;
    for (unsigned libraryId : kiln::lang::addStandardLibrary(sources)) library.push_back(kiln::lang::parseFile(libraryId, diagnostics));
    if (diagnostics.errorCount() > 0) return 1;
    std::vector<const kiln::lang::File *> libraryFiles;
    for (const kiln::lang::File &libraryFile : library) libraryFiles.push_back(&libraryFile);
    module = kiln::lang::lowerProgram(file, libraryFiles, diagnostics, *options);
    if (!module || diagnostics.errorCount() > 0) return 1;
  }

  std::error_code errorCode;
  llvm::ToolOutputFile output(outputPath, errorCode, llvm::sys::fs::OF_Text);
  if (errorCode) {
    llvm::errs() << "kiln: error: cannot write '" << outputPath << "': " << errorCode.message() << "\n";
    return 1;
  }
  if (emit == EmitKind::Ast) kiln::lang::dump(file, sources, output.os());
  else kiln::print(*module, output.os());
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
