// The examples a built program trains and evaluates on: read from a .npz archive or a folder of
// IDX files, checked against the training step's inputs and labels before training starts,
// split, shuffled and gathered into batches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/Npy.h"
#include "runtime/ProgramSupport.h"

namespace kiln::program {

// One array [N, ...] per input and label of @train_step, in argument order: example i of every
// array together is one example.
struct Examples {
  std::vector<const KilnTensorInfo *> arguments;  // the inputs and labels, each with a batch axis
  std::vector<npy::Array> arrays;
  int64_t count = 0;
};

// What a data file holds. A .npz archive has an array NAME for each input and label NAME
// (the training examples) and, optionally, NAME_test for each (the test split). A folder holds
// the IDX files of MNIST and Fashion-MNIST (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), for a step with one input and one label;
// integer images are scaled to [0, 1].
//
// A text file (.txt) is bytes as tokens, for a step with one input and one label of the same
// shape i32[B, T]: example i is the T bytes from i*T and, as its label, the T bytes after each of
// them (the next character). Its validation split is the tail of the text, not a random choice.
struct DataSet {
  Examples training;
  Examples test;         // count 0 when the file holds no test split
  bool ordered = false;  // a sequence: hold out its tail for validation
};

// `generated:reverse` makes its examples from the seed, for a step with inputs source i32[B, S]
// and target i32[B, S] and a label expected i32[B, S]: the source is S random decimal digits (as
// ASCII), the expected output the same reversed, and the target that output shifted right behind a
// start token (1), as a decoder reads it; 16,384 training and 1,024 test examples.
//
// Reads `path` and checks it: every array's dtype (i64 labels narrow to i32, f64 to f32, checked)
// and its extents after the first against the step's argument, one example count per split, no
// NaN or infinity in a float input, and integer labels in [0, classes) when `classes` > 0.
Outcome loadDataSet(const std::string &path, const KilnFunctionInfo &step, int64_t classes, int64_t seed,
                    DataSet &data);

// The indices 0..count-1 in a seeded random order (Fisher–Yates over Philox draws), the same on
// every machine and thread count.
std::vector<int64_t> shuffled(int64_t count, int64_t seed, int64_t stream);

// Copies examples `indices` of `examples` into `batch`, one array per argument, each [B, ...].
void gatherBatch(const Examples &examples, const std::vector<int64_t> &indices, std::vector<npy::Array> &batch);

}  // namespace kiln::program
