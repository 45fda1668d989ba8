// DWARF line tables for generated code (`kiln build -g`): every function the backend emits is a
// subprogram, and the instructions an op's loop rule emits carry that op's source line, so that
// gdb, perf and sanitizer reports name the model's line (mlp.kiln:13) for generated code.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <llvm/IR/DIBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "ir/IR.h"

namespace kiln::cpu {

class DebugInfo {
public:
  // Starts the compile unit of `module`, named after `mainFile` (the model or IR file), and makes
  // it the module's (DebugInfo::of) until this object goes.
  DebugInfo(llvm::Module &module, const std::string &mainFile);
  ~DebugInfo();
  DebugInfo(const DebugInfo &) = delete;
  DebugInfo &operator=(const DebugInfo &) = delete;

  // The debug information being built for `module`, or null (no -g).
  static DebugInfo *of(const llvm::Module &module);

  // A location at `location` inside `function`, whose subprogram is made on first use.
  llvm::DILocation *at(llvm::Function &function, const Location &location);

  // Where a function with no located instruction of its own is said to be: the source location
  // of the kernel or func it implements, by LLVM function name (helpers named `NAME.*` too).
  void setFunctionLocation(const std::string &name, const Location &location);

  // Gives every defined function a subprogram and every instruction without a location its
  // function's line, then finishes the debug information and marks the module as carrying it.
  void finish();

private:
  llvm::DIFile *file(const std::string &path);
  llvm::DISubprogram *subprogram(llvm::Function &function, const Location &location);
  Location functionLocation(const llvm::Function &function) const;

  llvm::Module &module_;
  llvm::DIBuilder builder_;
  llvm::DICompileUnit *unit_;
  std::unordered_map<std::string, llvm::DIFile *> files_;
  // A function's lines in another file than its subprogram's go through a block of that file.
  std::map<std::pair<llvm::DISubprogram *, llvm::DIFile *>, llvm::DILexicalBlockFile *> fileBlocks_;
  std::unordered_map<std::string, Location> functionLocations_;
};

// While alive, the instructions `builder` emits carry `location` (nothing without -g).
class DebugLocationScope {
public:
  DebugLocationScope(llvm::IRBuilder<> &builder, const Location &location);
  ~DebugLocationScope();

private:
  llvm::IRBuilder<> &builder_;
  llvm::DebugLoc saved_;
};

}  // namespace kiln::cpu
