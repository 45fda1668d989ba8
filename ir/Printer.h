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
// The function's text without its name, its values' name hints and its locations: two functions
// with the same structure text compute the same results from the same arguments in the same way.
std::string structureText(const Function &function);

}  // namespace kiln
