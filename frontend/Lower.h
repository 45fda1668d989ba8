// Lowering of a checked model file to the tensor IR. The model's code is evaluated at compile
// time: loops unroll, `if` is decided, calls are inlined, and every tensor operation becomes an
// IR op built through the op table, whose type rules check shapes and dtypes. A model becomes
//   @forward(input %x..., param %p...) -> outputs
//   @init(%seed: i64[]) -> (parameters...)
//   @loss(input %x..., label %y..., param %p...) -> f32[]   (when the file has a `train` block)
// The arguments carry their roles, so later stages find the parameters by role, not position.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "ir/IR.h"

namespace kiln::lang {

struct LowerOptions {
  // `--dim B=32`: sizes of symbolic dimensions, ahead of the file's `dim` defaults.
  std::vector<std::pair<std::string, int64_t>> dims;
  // The model to lower; empty: the one the train block names, or the file's only model.
  std::string modelName;
};

// Lowers `user` (with `library` declarations visible to it). Errors are reported through
// `diagnostics`; the module is returned only when there were none.
std::unique_ptr<Module> lowerProgram(const File &user, const std::vector<const File *> &library,
                                     DiagnosticEngine &diagnostics, const LowerOptions &options);

}  // namespace kiln::lang
