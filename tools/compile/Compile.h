// The compile pipeline of `kiln`: one straight, logged list of steps from a model file to the
// last stage asked for. Tools and tests call compileModel; each step is timed, verified and
// printable by name through the pass manager's StepRunner.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <llvm/Support/Error.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

#include "frontend/AST.h"
#include "frontend/Lower.h"
#include "ir/IR.h"
#include "passes/Pass.h"

namespace kiln {

// How far compileModel goes. The backend's stages (LLVM, objects, programs) follow in
// tools/compile/Backend.h, timed by the same steps.
enum class CompileStage {
  Ast,         // parsed and checked syntax tree
  Ir,          // @forward, @init and @loss
  GradientIr,  // plus @loss_grad (the loss and its gradient with respect to the parameters) and, with an
               // optimizer, @train_step; cleaned up
  Kernels,     // GradientIr when the model has a loss, then every func outlined into kernel calls
};

struct CompileOptions {
  lang::LowerOptions lower;
  CompileStage stopAfter = CompileStage::Ir;
  PassManagerOptions steps;  // --print-after-all, --print-after=STEP, --time-passes, --remarks, verification
  bool fusion = true;        // the fuse step (--no-fusion turns it off)
};

struct CompiledModel {
  llvm::SourceMgr sources;  // the model file and the standard library, for located diagnostics
  lang::File file;
  std::unique_ptr<Module> module;  // null at CompileStage::Ast
  // The steps' timers and printing, for the stages after compileModel; --time-passes reports
  // when the model is destroyed.
  PassManagerOptions stepOptions;
  std::unique_ptr<StepRunner> steps;
};

// The names of the steps, in order, for --print-after and the documentation.
std::vector<std::string> compileStepNames();

// Compiles the model file at `path` ('-': standard input), or the tensor IR file (.kir) there. Every problem is
// reported where it is (caret diagnostics on `errors`) before the failure returns, so a tool only exits 1 on a
// ReportedFailure; IR printed by --print-after goes to `out`.
llvm::Expected<std::unique_ptr<CompiledModel>> compileModel(llvm::StringRef path, const CompileOptions &options,
                                                            llvm::raw_ostream &out, llvm::raw_ostream &errors);

// A failure whose diagnostics have been printed already: the tool adds nothing and exits 1.
class ReportedFailure : public llvm::ErrorInfo<ReportedFailure> {
public:
  static char ID;
  explicit ReportedFailure(std::string summary) : summary_(std::move(summary)) {}
  void log(llvm::raw_ostream &out) const override { out << summary_; }
  std::error_code convertToErrorCode() const override { return llvm::inconvertibleErrorCode(); }

private:
  std::string summary_;
};

}  // namespace kiln
