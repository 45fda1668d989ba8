// Interpreter rules: Reductions.
#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

std::span<const RuleEntry> reductionRules() { return {}; }

}  // namespace kiln::interpreter
