// libFuzzer target: a model file through the language front end, as `kiln` compiles it: lexed
// and parsed with the standard library (parsed once, up front), then name-checked and lowered to
// IR, which must verify.
// Errors go to a discarded stream; only crashes, sanitizer reports and broken IR are findings.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

#include "backends/interpreter/Tensor.h"
#include "frontend/Lower.h"
#include "frontend/Parser.h"
#include "frontend/Stdlib.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

namespace {
// The standard library, parsed once: each input's source manager holds the same library text
// (not copies), so the parsed library's locations fall in its buffers too.
llvm::SourceMgr *librarySources;
std::vector<unsigned> *libraryIds;
std::vector<kiln::lang::File> *library;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  kiln::setTensorByteLimit(int64_t{1} << 20);
  librarySources = new llvm::SourceMgr;
  libraryIds = new std::vector<unsigned>(kiln::lang::addStandardLibrary(*librarySources));
  library = new std::vector<kiln::lang::File>;
  kiln::lang::DiagnosticEngine diagnostics(*librarySources, llvm::errs());
  for (unsigned libraryId : *libraryIds) library->push_back(kiln::lang::parseFile(libraryId, diagnostics));
  if (diagnostics.errorCount() > 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::SourceMgr sources;
  for (unsigned libraryId : *libraryIds) {
    const llvm::MemoryBuffer *text = librarySources->getMemoryBuffer(libraryId);
    sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBuffer(text->getBuffer(), text->getBufferIdentifier()),
                               llvm::SMLoc());
  }
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  unsigned bufferId =
      sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, "fuzz.kiln"), llvm::SMLoc());
  kiln::lang::DiagnosticEngine diagnostics(sources, llvm::nulls());
  kiln::lang::File user = kiln::lang::parseFile(bufferId, diagnostics);
  if (diagnostics.errorCount() > 0) return 0;

  std::vector<const kiln::lang::File *> libraryFiles;
  for (const kiln::lang::File &file : *library) libraryFiles.push_back(&file);
  std::unique_ptr<kiln::Module> module = kiln::lang::lowerProgram(user, libraryFiles, diagnostics, {});
  if (!module || diagnostics.errorCount() > 0) return 0;
  if (std::vector<kiln::ProblemAtOp> problems = kiln::verify(*module); !problems.empty()) {
    std::fprintf(stderr, "fuzz-frontend: lowering produced IR that does not verify: %s\n%s\n",
                 problems.front().message.c_str(), kiln::toString(*module).c_str());
    std::abort();
  }
  return 0;
}
