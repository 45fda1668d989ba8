// Interpreter rules: Creation.
#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

std::span<const RuleEntry> creationRules() { return {}; }

}  // namespace kiln::interpreter
