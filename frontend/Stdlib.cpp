// The embedded standard library: StdlibSources.inc is generated from stdlib/*.kiln at build time.
#include "frontend/Stdlib.h"

#include <llvm/Support/MemoryBuffer.h>

namespace kiln::lang {

namespace {
struct LibraryFile {
  const char *name;
  const char *text;
};
const LibraryFile kLibraryFiles[] = {
#include "StdlibSources.inc"
};
}  // namespace

std::vector<unsigned> addStandardLibrary(llvm::SourceMgr &sources) {
  std::vector<unsigned> ids;
  for (const LibraryFile &file : kLibraryFiles)
    ids.push_back(sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBuffer(file.text, file.name), llvm::SMLoc()));
  return ids;
}

}  // namespace kiln::lang
