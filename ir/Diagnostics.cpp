// Diagnostic placement and printing.
#include "ir/Diagnostics.h"

#include <fmt/format.h>

namespace kiln {

// Code lowered twice (into @forward and @loss) would report its problems twice: a message
// already given at the same place is dropped, and so are the notes that follow it.
void Diagnostics::report(llvm::SMRange where, llvm::SourceMgr::DiagKind kind, const llvm::Twine &message) {
  if (kind == llvm::SourceMgr::DK_Note) {
    if (droppingNotes_) return;
  } else {
    droppingNotes_ = !reported_.emplace(where.Start.getPointer(), message.str()).second;
    if (droppingNotes_) return;
  }
  if (kind == llvm::SourceMgr::DK_Error) ++errors_;
  llvm::ArrayRef<llvm::SMRange> ranges;
  // A range that spans lines would underline nothing useful: show the caret alone.
  bool oneLine = where.isValid() && where.Start != where.End &&
                 sources_.FindLineNumber(where.Start) == sources_.FindLineNumber(where.End);
  if (oneLine) ranges = where;
  sources_.PrintMessage(out_, where.Start, kind, message, ranges);
}

void Diagnostics::error(const llvm::Twine &message) {
  ++errors_;
  out_ << "kiln: error: " << message << "\n";
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
