// The op listing. Each rule column asks the library that owns the rule whether the op has one,
// so the table shows at a glance what is missing.
#include "tools/kiln-opt/OpListing.h"

#include <fmt/format.h>

#include "backends/interpreter/Interpreter.h"
#include "ir/OpTable.h"

namespace kiln {

namespace {
struct RuleColumn {
  std::string_view title;
  bool (*has)(OpKind);
};

// Every row of Ops.def names a result-type rule, so this column is full by construction.
bool hasTypeRule(OpKind kind) { return opInfo(kind).resultType != nullptr; }
// Autodiff and the CPU backend have not been written yet.
bool notYetWritten(OpKind) { return false; }

const RuleColumn kColumns[] = {
    {"type", hasTypeRule},
    {"interp", hasInterpreterRule},
    {"grad", notYetWritten},
    {"lower", notYetWritten},
};

std::string operandText(const OpInfo &info) {
  return info.operandCount == kVariadic ? "1+" : std::to_string(info.operandCount);
}

std::string attributesText(const OpInfo &info) {
  std::string text;
  for (const AttrSpec &spec : info.attributes) {
    if (!text.empty()) text += ", ";
    text += std::string(spec.name);
    if (spec.defaultValue) text += "=" + toString(*spec.defaultValue);
  }
  return text;
}
}  // namespace

void listOps(llvm::raw_ostream &out) {
  out << fmt::format("{:<20} {:>3}", "op", "in");
  for (const RuleColumn &column : kColumns) out << fmt::format(" {:>6}", column.title);
  out << "  attributes\n";
  std::vector<size_t> counts(std::size(kColumns), 0);
  for (const OpInfo &info : allOps()) {
    out << fmt::format("{:<20} {:>3}", info.name, operandText(info));
    for (size_t i = 0; i < std::size(kColumns); ++i) {
      bool has = kColumns[i].has(info.kind);
      counts[i] += has;
      out << fmt::format(" {:>6}", has ? "yes" : "-");
    }
    out << "  " << attributesText(info) << "\n";
  }
  out << fmt::format("{} ops;", allOps().size());
  for (size_t i = 0; i < std::size(kColumns); ++i) out << fmt::format(" {} {}", counts[i], kColumns[i].title);
  out << "\n";
}

}  // namespace kiln
