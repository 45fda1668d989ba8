// Interpreter rules: Elementwise.
#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

std::span<const RuleEntry> elementwiseRules() { return {}; }

}  // namespace kiln::interpreter
