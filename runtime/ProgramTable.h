// The table a compiled model's object file carries so that the runtime's program main can call its
// functions: for each `func`, its name, its entry and the name, role, dtype and shape of every
// argument and result. Plain C layout: the compiler emits it as an LLVM constant of the same
// shape (backends/cpu/ProgramTable.cpp), so the two must change together; `version` guards that.
#pragma once

#include <cstdint>

extern "C" {

enum { KILN_PROGRAM_TABLE_VERSION = 2 };

// The numbering of ir/IR.h's DType and ArgumentRole, fixed here because it is written into objects.
enum KilnDType : int32_t { KILN_F32 = 0, KILN_F64 = 1, KILN_I32 = 2, KILN_I64 = 3, KILN_I1 = 4 };
enum KilnRole : int32_t {
  KILN_ROLE_NONE = 0,
  KILN_ROLE_INPUT = 1,
  KILN_ROLE_LABEL = 2,
  KILN_ROLE_PARAMETER = 3,
  KILN_ROLE_STATE = 4,
  KILN_ROLE_BUFFER = 5,  // updated by training without a gradient: batch norm's running statistics
  KILN_ROLE_KEY = 6      // i64[]: the random key of one training step
};

struct KilnTensorInfo {
  const char *name;  // the argument's name in the IR (a result's is "result0", "result1", ...)
  int32_t role;      // a KilnRole
  int32_t dtype;     // a KilnDType
  int32_t rank;
  const int64_t *shape;  // `rank` extents
};

// void entry(void **arguments, void **results): one pointer per argument and per result, each to
// row-major elements of its dtype; results are written, arguments only read.
using KilnEntry = void (*)(void **arguments, void **results);

struct KilnFunctionInfo {
  const char *name;
  KilnEntry entry;
  int32_t argumentCount;
  int32_t resultCount;
  const KilnTensorInfo *arguments;
  const KilnTensorInfo *results;
};

// The train block's settings (ir/IR.h's TrainingSettings), for `prog train`.
struct KilnTrainingInfo {
  const char *model;  // the trained model's name, which checkpoints record
  const char *data;   // the default data file: an absolute path, or `generated:NAME`
  int64_t batch;
  int64_t epochs;
  double validationSplit;
  int64_t earlyStopping;  // patience in epochs, 0 for none
  int64_t seed;
  int32_t metricCount;
  const char *const *metrics;  // `metricCount` names; @eval_step returns the loss, then the [B]
                               // values of each of them that is per example (accuracy, mse, mae)
};

struct KilnProgramTable {
  int32_t version;  // KILN_PROGRAM_TABLE_VERSION
  int32_t functionCount;
  const char *modelName;  // the model file's name, for --help
  const KilnFunctionInfo *functions;
  const KilnTrainingInfo *training;  // null when the model has no train block
};

// Defined by the compiled model's object file (`kiln build -o`).
extern const KilnProgramTable kiln_program_table;
}
