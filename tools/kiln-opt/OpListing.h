// `kiln-opt --list-ops`: the op table with a column per kind of rule.
#pragma once

#include <llvm/Support/raw_ostream.h>

namespace kiln {

void listOps(llvm::raw_ostream &out);

}  // namespace kiln
