// Located diagnostics for IR text and model files: `file:line:col: error: ...`, the source
// line, and a caret with the culprit's range underlined, printed by llvm::SourceMgr.
#pragma once

#include <set>
#include <string>
#include <unordered_map>

#include <llvm/ADT/Twine.h>
#include <llvm/Support/SMLoc.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

#include "ir/IR.h"
#include "ir/Verifier.h"

namespace kiln {

// Where the parser found each op and function in the IR text.
struct TextPositions {
  std::unordered_map<const Operation *, llvm::SMLoc> ops;
  std::unordered_map<const Function *, llvm::SMLoc> functions;
};

class Diagnostics {
public:
  explicit Diagnostics(llvm::SourceMgr &sources, llvm::raw_ostream &out = llvm::errs())
      : sources_(sources), out_(out) {}

  void error(llvm::SMRange where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Error, message); }
  void warning(llvm::SMRange where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Warning, message); }
  void note(llvm::SMRange where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Note, message); }
  void error(llvm::SMLoc where, const llvm::Twine &message) { error(llvm::SMRange(where, where), message); }
  void warning(llvm::SMLoc where, const llvm::Twine &message) { warning(llvm::SMRange(where, where), message); }
  void note(llvm::SMLoc where, const llvm::Twine &message) { note(llvm::SMRange(where, where), message); }

  // For a failure with no place in any source, such as a compiler bug found by the verifier.
  void error(const llvm::Twine &message);

  // A verifier error, placed at the op's position in the IR text when it came from there,
  // else at its model location, else at its function.
  void report(const VerifierError &error, const TextPositions *positions);

  unsigned errorCount() const { return errors_; }
  // After this many errors the rest are noise: callers stop early.
  bool tooManyErrors() const { return errors_ >= kMaxErrors; }
  llvm::SourceMgr &sources() { return sources_; }

  static constexpr unsigned kMaxErrors = 30;

private:
  void report(llvm::SMRange where, llvm::SourceMgr::DiagKind kind, const llvm::Twine &message);

  llvm::SourceMgr &sources_;
  llvm::raw_ostream &out_;
  unsigned errors_ = 0;
  std::set<std::pair<const char *, std::string>> reported_;
  bool droppingNotes_ = false;
};

}  // namespace kiln
