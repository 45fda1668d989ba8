// The op listing. Each rule column asks the library that owns the rule whether the op has one,
// so the table shows at a glance what is missing.
#include "tools/kiln-opt/OpListing.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backends/cpu/Compile.h"
#include "backends/interpreter/Interpreter.h"
#include "ir/OpTable.h"
#include "passes/gradients/GradientRules.h"

namespace kiln {

namespace {
struct RuleColumn {
  std::string_view title;
  bool (*has)(OpKind);
  // Ops that need no rule in this column (shown `n/d`, not differentiable); counted as covered.
  bool (*exempt)(OpKind) = nullptr;
};

// Every row names its result-type rule in Ops.def, so there is no column for it.
const RuleColumn kColumns[] = {
    {"interp", hasInterpreterRule},
    {"grad", hasGradientRule, isNonDifferentiable},
    {"lower", cpu::hasLoweringRule},
};

// `commutative, copies 0, indexes 1`; `-` for none.
std::string traitsText(const OpInfo &info) {
  std::vector<std::string> traits;
  if (info.isCommutative()) traits.push_back("commutative");
  if (info.has(kCopiesEveryOperand)) traits.push_back("copies all");
  if (info.has(kCostly)) traits.push_back("costly");
  if (info.has(kTakesEpilogue)) traits.push_back("takes epilogue");
  for (unsigned operand = 0; operand < 8; ++operand) {
    if (info.has(copies(operand))) traits.push_back(fmt::format("copies {}", operand));
    if (info.indexesWith(operand)) traits.push_back(fmt::format("indexes {}", operand));
  }
  return traits.empty() ? "-" : fmt::format("{}", fmt::join(traits, ", "));
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
  out << fmt::format("{:<20} {:>3} {:<12}", "op", "in", "class");
  for (const RuleColumn &column : kColumns) out << fmt::format(" {:>6}", column.title);
  out << fmt::format("  {:<28} attributes\n", "traits");
  std::vector<size_t> counts(std::size(kColumns), 0);
  for (const OpInfo &info : allOps()) {
    out << fmt::format("{:<20} {:>3} {:<12}", info.name, info.operandCountText(), opClassName(info.opClass));
    for (size_t i = 0; i < std::size(kColumns); ++i) {
      bool has = kColumns[i].has(info.kind);
      bool exempt = !has && kColumns[i].exempt && kColumns[i].exempt(info.kind);
      counts[i] += has || exempt;
      out << fmt::format(" {:>6}", has ? "yes" : exempt ? "n/d" : "-");
    }
    out << fmt::format("  {:<28} {}\n", traitsText(info), attributesText(info));
  }
  out << fmt::format("{} ops;", allOps().size());
  for (size_t i = 0; i < std::size(kColumns); ++i) out << fmt::format(" {} {}", counts[i], kColumns[i].title);
  out << "\n";
}

}  // namespace kiln
