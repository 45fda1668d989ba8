// Model files report through the same engine as IR text (ir/Diagnostics.h).
#pragma once

#include "ir/Diagnostics.h"

namespace kiln::lang {

using DiagnosticEngine = kiln::Diagnostics;

}  // namespace kiln::lang
