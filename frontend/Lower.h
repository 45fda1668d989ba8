// Lowering of a checked model file to the tensor IR. The model's code is evaluated at compile
// time: loops unroll, `if` is decided, calls are inlined, and every tensor operation becomes an
// IR op built through the op table, whose type rules check shapes and dtypes. A model becomes
//   @forward(inputs..., parameters...) -> outputs
//   @init(%seed: i64[]) -> (parameters...)
//   @loss(inputs..., labels..., parameters...) -> f32[]   (when the file has a `train` block)
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

// The names of the model's parameters, which are @init's results and the last arguments of
// @forward and @loss, in that order. Empty when the module has no @init.
std::vector<std::string> parameterNames(const Module &module);

}  // namespace kiln::lang
