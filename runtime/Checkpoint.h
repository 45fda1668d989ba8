// Training checkpoints: a model's parameters and optimizer state with the progress of its training,
// written atomically and read back with every byte checked.
//
// The file is a .npz archive (numpy.load opens it): its first member, kiln-checkpoint.txt, is a
// text header; then one stored member NAME.npy per tensor, in the header's order. The header:
//
//   kiln-checkpoint 1                        the format and its version
//   model DigitClassifier                    the model's name (any text without a line break)
//   field epoch 3                            progress: a key of [a-z_0-9]+, a space, the value
//   tensor hidden.weight parameter f32[64,128]   name, role (parameter, state, input, label, none),
//                                            dtype (f32, f64, i32, i64, i1) and shape ([] for a scalar)
//
// each line ended by '\n'. Tensor names are made of letters, digits, '_', '.' and '-'. Reading checks
// the archive (sizes against the file's before any allocation, each member's CRC), the header, and
// every member's dtype and shape against its header line.
//
// Writing goes to a temporary file `.NAME.kiln-tmp-XXXXXXXX` beside `path` (NAME is the
// checkpoint's file name), locked with flock while it is written, then renamed over `path`. A writer
// killed midway leaves its temporary behind; the next write to the same `path` removes the
// temporaries of that pattern whose lock no live process holds, and nothing else.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/Npy.h"

namespace kiln::checkpoint {

inline constexpr int kFormatVersion = 1;
inline constexpr std::string_view kHeaderMember = "kiln-checkpoint.txt";

struct Tensor {
  std::string name;  // the IR argument name, e.g. "hidden.weight" or "adam.m.hidden.weight"
  int32_t role;      // KilnRole from runtime/ProgramTable.h (KILN_ROLE_PARAMETER or KILN_ROLE_STATE)
  npy::Array array;
};

// What a checkpoint holds: the model's name, progress fields, and tensors (parameters and optimizer
// state, in the order of the training step's arguments).
struct Checkpoint {
  std::string model;                                        // e.g. "DigitClassifier"
  std::vector<std::pair<std::string, std::string>> fields;  // progress, e.g. {"epoch","3"},{"batch","0"}
  std::vector<Tensor> tensors;
  const std::string *field(std::string_view key) const;  // nullptr when absent
};

// Writes atomically: a temporary file in the same directory, fsync, rename over `path`, fsync of the
// directory. On any failure (unwritable directory, full disk) the temporary is removed, `path` is
// untouched, and the returned message names `path` and the cause; empty string on success. (Should
// only the final fsync of the directory fail, `path` already holds the new checkpoint; the message
// says that the rename may not be durable.)
std::string write(const std::string &path, const Checkpoint &checkpoint);
// Reads and validates (format, version, CRCs, header against the members). Errors name the file.
npy::Result<Checkpoint> read(const std::string &path);
// The same from the bytes of a checkpoint file; `name` (its path) starts every error message.
npy::Result<Checkpoint> decode(std::string_view bytes, std::string_view name);
// The bytes `write` puts in the file, or an error message starting with `name`.
npy::Result<std::string> encode(const Checkpoint &checkpoint, std::string_view name);

// What the program expects: model name and, per tensor, name, role, dtype and shape.
struct ExpectedTensor {
  std::string name;
  int32_t role;
  npy::ElementType type;
  std::vector<int64_t> shape;
};
// Empty when `checkpoint` fits; else one message naming the first thing that differs: another model, a
// missing or extra tensor (by name), a role, dtype or shape difference ("hidden.weight is f32[64,128]
// in x.ckpt but the model has f32[64,256]"), or the same tensors in another order.
std::string checkFits(const Checkpoint &checkpoint, std::string_view path, std::string_view model,
                      std::span<const ExpectedTensor> expected);

// "f32[64,128]": the dtype's IR name and the shape, as the header and the messages write them.
std::string typeText(npy::ElementType type, const std::vector<int64_t> &shape);

}  // namespace kiln::checkpoint
