// Diagnostic placement and printing.
#include "ir/Diagnostics.h"

#include <fmt/format.h>

namespace kiln {

// Code lowered twice (into @forward and @loss) would report its problems twice: a message
// already given at the same place is dropped, and so are the notes that follow it.
void Diagnostics::report(llvm::SMRange where, llvm::SourceMgr::DiagKind kind, const llvm::Twine &message) {
  if (kind != llvm::SourceMgr::DK_Note && !callSites_.empty() && where.isValid()) {
    llvm::SMRange site = callSites_.back();
    if (sources_.FindBufferContainingLoc(where.Start) != sources_.FindBufferContainingLoc(site.Start)) {
      std::string text = message.str();
      report(site, kind, text);
      report(where, llvm::SourceMgr::DK_Note, "inside the library, here");
      return;
    }
  }
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

OpProblem::OpProblem(const ProblemAtOp &error)
    : function(error.function), op(error.op), message(error.message),
      location(error.op ? error.op->location() : error.function->location()), functionName(error.function->name()) {
  if (op) {
    // A call may have no results, or several (named after the first).
    std::string result = op->resultCount() > 0 ? op->result(0)->name() : std::string();
    opText = result.empty() ? std::string(op->name()) : fmt::format("%{} = {}", result, op->name());
  }
}

std::string OpProblem::placedWithoutText() const {
  if (location.known())
    return fmt::format("{}:{}:{}: error: {}", location.file, location.line, location.column, message);
  if (opText.empty()) return fmt::format("error: in @{}: {}", functionName, message);
  return fmt::format("error: in @{}: {}: {}", functionName, opText, message);
}

char OpErrors::ID = 0;

OpErrors::OpErrors(std::string subject, const std::vector<ProblemAtOp> &problems) : subject_(std::move(subject)) {
  for (const ProblemAtOp &problem : problems) problems_.emplace_back(problem);
}

std::string OpErrors::summary() const {
  return fmt::format("{}: {} problem{}", subject_, problems_.size(), problems_.size() == 1 ? "" : "s");
}

void OpErrors::rekey(const std::unordered_map<const Operation *, const Operation *> &originalOps,
                     const std::unordered_map<const Function *, const Function *> &originalFunctions) {
  for (OpProblem &problem : problems_) {
    if (auto it = originalOps.find(problem.op); problem.op && it != originalOps.end()) problem.op = it->second;
    if (auto it = originalFunctions.find(problem.function); it != originalFunctions.end())
      problem.function = it->second;
  }
}

void OpErrors::log(llvm::raw_ostream &out) const {
  out << summary();
  for (const OpProblem &problem : problems_) out << "\n" << problem.placedWithoutText();
}

llvm::SMLoc Diagnostics::find(const Location &location) {
  for (unsigned buffer = 1; buffer <= sources_.getNumBuffers(); ++buffer)
    if (sources_.getMemoryBuffer(buffer)->getBufferIdentifier() == location.file)
      return sources_.FindLocForLineAndColumn(buffer, location.line, location.column);
  return {};
}

void Diagnostics::remark(const Location &location, const llvm::Twine &message) {
  if (location.known()) {
    if (llvm::SMLoc where = find(location); where.isValid())
      return sources_.PrintMessage(out_, where, llvm::SourceMgr::DK_Remark, message);
    out_ << fmt::format("{}:{}:{}: remark: ", location.file, location.line, location.column) << message << "\n";
    return;
  }
  out_ << "remark: " << message << "\n";
}

void Diagnostics::report(const OpProblem &problem, const TextPositions *positions) {
  if (positions) {
    if (problem.op) {
      if (auto it = positions->ops.find(problem.op); it != positions->ops.end())
        return error(it->second, problem.message);
    } else if (auto it = positions->functions.find(problem.function); it != positions->functions.end()) {
      return error(it->second, problem.message);
    }
  }
  if (problem.location.known()) {
    if (llvm::SMLoc where = find(problem.location); where.isValid()) return error(where, problem.message);
  } else if (positions && problem.op) {
    // An op a pass created in a function read from text: point at the function, name the op.
    if (auto it = positions->functions.find(problem.function); it != positions->functions.end())
      return error(it->second, problem.opText + ": " + problem.message);
  }
  ++errors_;
  out_ << problem.placedWithoutText() << "\n";
}

void Diagnostics::reportFailure(llvm::Error failure, const TextPositions *positions, llvm::StringRef tool) {
  llvm::handleAllErrors(
      std::move(failure),
      [&](const OpErrors &errors) {
        for (const OpProblem &problem : errors.problems()) {
          if (tooManyErrors()) break;
          report(problem, positions);
        }
        ++errors_;
        out_ << tool << ": error: " << errors.summary() << "\n";
      },
      [&](const llvm::ErrorInfoBase &other) {
        ++errors_;
        out_ << tool << ": error: " << other.message() << "\n";
      });
}

}  // namespace kiln
