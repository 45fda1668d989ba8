// The training loop of the programs Kiln builds, around the model's compiled @train_step and
// @eval_step: `prog train` and `prog eval`.
#pragma once

#include <string_view>
#include <vector>

#include "runtime/ProgramSupport.h"

namespace kiln::program {

// The --help text of the two commands.
std::string trainingHelp();
Outcome trainCommand(const std::vector<std::string_view> &words);
Outcome evalCommand(const std::vector<std::string_view> &words);

}  // namespace kiln::program
