// Line tables for generated code: a compile unit per module, a subprogram per function, and each
// instruction at the line of the op it was emitted for (else its function's line).
#include "backends/cpu/DebugInfo.h"

#include <mutex>

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/IR/DebugInfoMetadata.h>
#include <llvm/Support/Path.h>

namespace kiln::cpu {

namespace {
// The module each DebugInfo belongs to, so that emitters deep in the backend find it without
// every emitter signature carrying it.
std::mutex registryMutex;
std::unordered_map<const llvm::Module *, DebugInfo *> &registry() {
  static std::unordered_map<const llvm::Module *, DebugInfo *> modules;
  return modules;
}
}  // namespace

DebugInfo::DebugInfo(llvm::Module &module, const std::string &mainFile) : module_(module), builder_(module) {
  unit_ = builder_.createCompileUnit(llvm::dwarf::DW_LANG_C, file(mainFile), "kiln", /*isOptimized=*/true, "", 0,
                                     llvm::StringRef(), llvm::DICompileUnit::LineTablesOnly);
  std::lock_guard<std::mutex> lock(registryMutex);
  registry()[&module] = this;
}

DebugInfo::~DebugInfo() {
  std::lock_guard<std::mutex> lock(registryMutex);
  registry().erase(&module_);
}

DebugInfo *DebugInfo::of(const llvm::Module &module) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto found = registry().find(&module);
  return found == registry().end() ? nullptr : found->second;
}

llvm::DIFile *DebugInfo::file(const std::string &path) {
  llvm::DIFile *&made = files_[path];
  if (!made) {
    llvm::StringRef directory = llvm::sys::path::parent_path(path);
    made = builder_.createFile(llvm::sys::path::filename(path), directory.empty() ? "." : directory);
  }
  return made;
}

llvm::DISubprogram *DebugInfo::subprogram(llvm::Function &function, const Location &location) {
  if (llvm::DISubprogram *existing = function.getSubprogram()) return existing;
  llvm::DIFile *where = file(location.known() ? location.file : unit_->getFilename().str());
  auto *type = builder_.createSubroutineType(builder_.getOrCreateTypeArray({}));
  llvm::DISubprogram *made = builder_.createFunction(
      where, function.getName(), function.getName(), where, location.line, type, location.line, llvm::DINode::FlagZero,
      llvm::DISubprogram::SPFlagDefinition | llvm::DISubprogram::SPFlagOptimized);
  function.setSubprogram(made);
  return made;
}

llvm::DILocation *DebugInfo::at(llvm::Function &function, const Location &location) {
  llvm::DISubprogram *scope = subprogram(function, location.known() ? location : functionLocation(function));
  llvm::DIScope *inFile = scope;
  if (location.known() && file(location.file) != scope->getFile()) {
    llvm::DILexicalBlockFile *&block = fileBlocks_[{scope, file(location.file)}];
    if (!block) block = builder_.createLexicalBlockFile(scope, file(location.file));
    inFile = block;
  }
  unsigned line = location.known() ? location.line : scope->getLine();
  return llvm::DILocation::get(module_.getContext(), line, location.known() ? location.column : 0, inFile);
}

void DebugInfo::setFunctionLocation(const std::string &name, const Location &location) {
  functionLocations_[name] = location;
}

Location DebugInfo::functionLocation(const llvm::Function &function) const {
  std::string name = function.getName().str();
  // `kernel.matmul.task` belongs to `kernel`: try the longest prefix that names one.
  while (true) {
    if (auto found = functionLocations_.find(name); found != functionLocations_.end()) return found->second;
    size_t dot = name.rfind('.');
    if (dot == std::string::npos) return {};
    name.resize(dot);
  }
}

void DebugInfo::finish() {
  for (llvm::Function &function : module_) {
    if (function.isDeclaration()) continue;
    Location location = functionLocation(function);
    llvm::DISubprogram *scope = subprogram(function, location);
    llvm::DILocation *fallback = llvm::DILocation::get(module_.getContext(), scope->getLine(), 0, scope);
    for (llvm::BasicBlock &block : function)
      for (llvm::Instruction &instruction : block)
        if (!instruction.getDebugLoc()) instruction.setDebugLoc(fallback);
  }
  builder_.finalize();
  module_.addModuleFlag(llvm::Module::Warning, "Debug Info Version", llvm::DEBUG_METADATA_VERSION);
  module_.addModuleFlag(llvm::Module::Warning, "Dwarf Version", 5);
}

DebugLocationScope::DebugLocationScope(llvm::IRBuilder<> &builder, const Location &location)
    : builder_(builder), saved_(builder.getCurrentDebugLocation()) {
  llvm::BasicBlock *block = builder.GetInsertBlock();
  if (!block || !location.known()) return;
  llvm::Function *function = block->getParent();
  if (DebugInfo *debugInfo = DebugInfo::of(*function->getParent()))
    builder.SetCurrentDebugLocation(debugInfo->at(*function, location));
}

DebugLocationScope::~DebugLocationScope() { builder_.SetCurrentDebugLocation(saved_); }

}  // namespace kiln::cpu
