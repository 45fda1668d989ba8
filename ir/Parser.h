// Reads IR text into a module. The first error ends the parse: it is reported with its line,
// column and a caret, and no module is returned.
#pragma once

#include <memory>
#include <optional>

#include <llvm/Support/Error.h>

#include "ir/Diagnostics.h"
#include "ir/IR.h"

namespace kiln {

struct ParsedModule {
  std::unique_ptr<Module> module;
  TextPositions positions;
};

// Parses buffer `bufferId` of `diagnostics.sources()`.
std::optional<ParsedModule> parseModule(unsigned bufferId, Diagnostics &diagnostics);

// Parses `text`; on failure the error holds the printed diagnostic.
llvm::Expected<std::unique_ptr<Module>> parseModule(llvm::StringRef text, llvm::StringRef bufferName = "<text>");

}  // namespace kiln
