// Reads a Kiln model file into its syntax tree. Syntax errors are reported as they are found;
// the parser then skips to the next line or closing brace and goes on, so that one run shows
// several errors.
#pragma once

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"

namespace kiln::lang {

// Parses buffer `bufferId` of the diagnostics' source manager. The tree holds what parsed;
// `diagnostics.errorCount()` says whether anything did not.
File parseFile(unsigned bufferId, DiagnosticEngine &diagnostics);

}  // namespace kiln::lang
