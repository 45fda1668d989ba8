// Interpreter rules: Convolutions.
#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

std::span<const RuleEntry> convolutionRules() { return {}; }

}  // namespace kiln::interpreter
