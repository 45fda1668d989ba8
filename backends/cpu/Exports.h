// What a compiled model shows to code outside it: the entry symbol of each `func`, the table the
// runtime's program main reads (runtime/ProgramTable.h), and the C functions over plain pointers
// of a static library with the header that declares them.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <llvm/IR/Module.h>

#include "ir/IR.h"

namespace kiln::cpu {

// The LLVM name of a func's entry `void (void **arguments, void **results)`: prefixed, so that a
// func named `exp` or `free` does not collide with the C library.
std::string entrySymbol(std::string_view functionName);

// A C identifier for `name` (an IR name such as `hidden.w`): every other character becomes '_'.
std::string cIdentifier(std::string_view name);

// Defines `kiln_program_table` describing every func of `source` whose entry is in `module`.
void emitProgramTable(llvm::Module &module, const Module &source, std::string_view modelName);

// Defines, for every func F of `source` whose entry is in `module`, `void PREFIX_F(const T *argument..., T *result...)`
// calling F's entry.
void emitLibraryFunctions(llvm::Module &module, const Module &source, std::string_view prefix);

// The C header declaring emitLibraryFunctions' functions for `functions`, a comment per argument
// giving its role and shape.
std::string libraryHeader(std::span<const Function *const> functions, std::string_view prefix,
                          std::string_view modelName);

}  // namespace kiln::cpu
