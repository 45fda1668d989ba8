// Diagnostic placement and printing.
#include "ir/Diagnostics.h"

#include <fmt/format.h>

namespace kiln {

void Diagnostics::report(llvm::SMLoc where, llvm::SourceMgr::DiagKind kind, const llvm::Twine &message) {
  if (kind == llvm::SourceMgr::DK_Error) ++errors_;
  sources_.PrintMessage(out_, where, kind, message);
}

void Diagnostics::report(const VerifierError &error, const TextPositions *positions) {
  if (positions) {
    if (error.op)
      if (auto it = positions->ops.find(error.op); it != positions->ops.end()) return this->error(it->second, error.message);
    if (auto it = positions->functions.find(error.function); it != positions->functions.end())
      return this->error(it->second, error.message);
  }
  ++errors_;
  const Location *location = error.op ? &error.op->location() : &error.function->location();
  if (location->known())
    out_ << fmt::format("{}:{}:{}: error: {}\n", location->file, location->line, location->column, error.message);
  else
    out_ << fmt::format("error: in @{}: {}\n", error.function->name(), error.message);
}

}  // namespace kiln
