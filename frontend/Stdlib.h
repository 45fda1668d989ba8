// The standard library written in Kiln (frontend/stdlib/*.kiln), embedded in the binary.
#pragma once

#include <vector>

#include <llvm/Support/SourceMgr.h>

namespace kiln::lang {

// Adds each library file to `sources` as a buffer named `stdlib/NAME.kiln`; returns their ids.
std::vector<unsigned> addStandardLibrary(llvm::SourceMgr &sources);

}  // namespace kiln::lang
