// Located diagnostics for model files: `file:line:col: error: ...`, the source line, and a
// caret with the culprit's range underlined, printed by llvm::SourceMgr.
#pragma once

#include <set>
#include <string>

#include <llvm/ADT/Twine.h>
#include <llvm/Support/SMLoc.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

namespace kiln::lang {

class DiagnosticEngine {
public:
  explicit DiagnosticEngine(llvm::SourceMgr &sources, llvm::raw_ostream &out = llvm::errs())
      : sources_(sources), out_(out) {}

  void error(llvm::SMRange where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Error, message); }
  void warning(llvm::SMRange where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Warning, message); }
  void note(llvm::SMRange where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Note, message); }

  // For a failure with no place in any source, such as a compiler bug found by the verifier.
  void error(const llvm::Twine &message) {
    ++errors_;
    out_ << "kiln: error: " << message << "\n";
  }

  unsigned errorCount() const { return errors_; }
  // After this many errors the rest are noise: callers stop early.
  bool tooManyErrors() const { return errors_ >= kMaxErrors; }
  llvm::SourceMgr &sources() { return sources_; }

  static constexpr unsigned kMaxErrors = 30;

private:
  // Code lowered twice (into @forward and @loss) would report its problems twice: a message
  // already given at the same place is dropped, and so are the notes that follow it.
  void report(llvm::SMRange where, llvm::SourceMgr::DiagKind kind, const llvm::Twine &message) {
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

  llvm::SourceMgr &sources_;
  llvm::raw_ostream &out_;
  unsigned errors_ = 0;
  std::set<std::pair<const char *, std::string>> reported_;
  bool droppingNotes_ = false;
};

}  // namespace kiln::lang
