// Located diagnostics for IR text and model files: `file:line:col: error: ...`, the source
// line, and a caret with the culprit's range underlined, printed by llvm::SourceMgr.
#pragma once

#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <llvm/ADT/Twine.h>
#include <llvm/Support/Error.h>
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

// A problem with one op, or with a function when `op` is null, in a form that outlives both:
// the gradient check differentiates a copy of a function and returns its problems after the
// copy is gone. The pointers are keys into TextPositions only and are never followed.
struct OpProblem {
  explicit OpProblem(const ProblemAtOp &error);

  // `model.kiln:4:9: error: MESSAGE` at the location, else `error: in @f: %c = cast: MESSAGE`.
  std::string placedWithoutText() const;

  const Function *function;
  const Operation *op;
  std::string message;
  Location location;  // the op's loc(...), or the function's when `op` is null
  std::string functionName;
  std::string opText;  // `%c = cast`; empty for a problem with the function
};

// The problems a pass or analysis found with particular ops, kept apart so that the tool
// reports each where the op is (Diagnostics::reportFailure) and then the one-line summary
// `SUBJECT: N problems`. Stringified (llvm::toString) it gives the summary, then one line per
// problem placed at its loc(...) or by name.
class OpErrors : public llvm::ErrorInfo<OpErrors> {
public:
  static char ID;

  OpErrors(std::string subject, const std::vector<ProblemAtOp> &problems);

  // `pass 'autodiff': cannot differentiate @f: 2 problems`.
  std::string summary() const;
  const std::vector<OpProblem> &problems() const { return problems_; }
  // The pass manager names the pass that failed: `pass 'autodiff': ` goes in front.
  void prefixSubject(llvm::StringRef prefix) { subject_.insert(0, prefix.str()); }
  // Problems found on a copy of a function (the gradient check's f64 copy) are re-keyed to
  // the original's ops and function, so that the tool places them in the original's text.
  void rekey(const std::unordered_map<const Operation *, const Operation *> &originalOps,
             const std::unordered_map<const Function *, const Function *> &originalFunctions);

  void log(llvm::raw_ostream &out) const override;
  std::error_code convertToErrorCode() const override { return llvm::inconvertibleErrorCode(); }

private:
  std::string subject_;
  std::vector<OpProblem> problems_;
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

  // A pass's remark at a model location: with the line and a caret when that file is in
  // `sources`, as `file:line:col: remark: ...` when it is not, else as `remark: ...`.
  void remark(const Location &location, const llvm::Twine &message);

  // A verifier error, placed like any problem with an op (below).
  void report(const ProblemAtOp &error, const TextPositions *positions) { report(OpProblem(error), positions); }
  // Placed at the op in the text; else at its loc(...), with the model line and a caret when
  // that file is in `sources`; else at its function in the text; else by function and op name.
  void report(const OpProblem &problem, const TextPositions *positions);

  // The last word of a tool on a failure: each problem of an OpErrors at its op, then
  // `TOOL: error: SUMMARY`; any other error as `TOOL: error: MESSAGE`.
  void reportFailure(llvm::Error failure, const TextPositions *positions, llvm::StringRef tool);

  // While library code runs for a call written in the user's file (the frontend inlines every
  // call), errors and warnings inside the library are reported at that call, and the library
  // line follows as a note. Calls nest: the innermost pushed call site is used.
  void pushCallSite(llvm::SMRange site) { callSites_.push_back(site); }
  void popCallSite() { callSites_.pop_back(); }

  unsigned errorCount() const { return errors_; }
  // After this many errors the rest are noise: callers stop early.
  bool tooManyErrors() const { return errors_ >= kMaxErrors; }
  llvm::SourceMgr &sources() { return sources_; }

  static constexpr unsigned kMaxErrors = 30;

private:
  void report(llvm::SMRange where, llvm::SourceMgr::DiagKind kind, const llvm::Twine &message);
  // Where `location` is in a buffer of `sources_` named like its file, or an invalid SMLoc.
  llvm::SMLoc find(const Location &location);

  llvm::SourceMgr &sources_;
  llvm::raw_ostream &out_;
  unsigned errors_ = 0;
  std::set<std::pair<const char *, std::string>> reported_;
  bool droppingNotes_ = false;
  std::vector<llvm::SMRange> callSites_;
};

}  // namespace kiln
