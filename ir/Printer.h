// Writes the IR as text that the parser reads back to the same text.
#pragma once

#include <string>

#include <llvm/Support/raw_ostream.h>

#include "ir/IR.h"

namespace kiln {

void print(const Function &function, llvm::raw_ostream &out);
void print(const Module &module, llvm::raw_ostream &out);
std::string toString(const Function &function);
std::string toString(const Module &module);

}  // namespace kiln
