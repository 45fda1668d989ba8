// Diagnostics for IR text and for IR built from a model: `file:line:col: error: ...` with the
// source line and a caret, through llvm::SourceMgr.
#pragma once

#include <unordered_map>

#include <llvm/ADT/Twine.h>
#include <llvm/Support/SMLoc.h>
#include <llvm/Support/SourceMgr.h>

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

  void error(llvm::SMLoc where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Error, message); }
  void warning(llvm::SMLoc where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Warning, message); }
  void note(llvm::SMLoc where, const llvm::Twine &message) { report(where, llvm::SourceMgr::DK_Note, message); }

  // A verifier error, placed at the op's position in the IR text when it came from there,
  // else at its model location, else at its function.
  void report(const VerifierError &error, const TextPositions *positions);

  unsigned errorCount() const { return errors_; }
  llvm::SourceMgr &sources() { return sources_; }

private:
  void report(llvm::SMLoc where, llvm::SourceMgr::DiagKind kind, const llvm::Twine &message);

  llvm::SourceMgr &sources_;
  llvm::raw_ostream &out_;
  unsigned errors_ = 0;
};

}  // namespace kiln
