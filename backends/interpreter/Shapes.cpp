// Interpreter rules: Shapes.
#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

std::span<const RuleEntry> shapeRules() { return {}; }

}  // namespace kiln::interpreter
