// The compile pipeline, step by step. Each step is named for --print-after and --time-passes.
#include "tools/compile/Compile.h"

#include <fmt/format.h>
#include <llvm/Support/MemoryBuffer.h>

#include "frontend/Parser.h"
#include "frontend/Stdlib.h"
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/Passes.h"
#include "tools/compile/ToolOptions.h"

namespace kiln {

char ReportedFailure::ID = 0;

namespace {
// The clean-up after autodiff: what it leaves to the general passes.
constexpr std::string_view kCleanUp[] = {"simplify", "constant-fold", "cse", "dce"};

class Compilation {
public:
  Compilation(const CompileOptions &options, llvm::raw_ostream &out, llvm::raw_ostream &errors)
      : options_(options), model_(std::make_unique<CompiledModel>()), diagnostics_(model_->sources, errors) {
    model_->stepOptions = options.steps;
    model_->steps = std::make_unique<StepRunner>(model_->stepOptions, out);
  }

  llvm::Expected<std::unique_ptr<CompiledModel>> run(llvm::StringRef path);

private:
  llvm::Error parse(std::unique_ptr<llvm::MemoryBuffer> buffer);
  llvm::Error parseIr(std::unique_ptr<llvm::MemoryBuffer> buffer);
  llvm::Error lower();
  llvm::Error differentiateLoss();
  // A failure reported here, at its ops or model lines, becomes a ReportedFailure.
  llvm::Error reported(llvm::Error failure);

  const CompileOptions &options_;
  std::unique_ptr<CompiledModel> model_;
  Diagnostics diagnostics_;
  std::vector<lang::File> library_;
  StepRunner &steps() { return *model_->steps; }
};

// 1. parse: the model file and the standard library, checked. A tensor IR file (.kir) is read and
//    verified instead, and goes straight to step 5: its funcs are compiled as they are written.
// 2. lower: @forward, @init and @loss, with every shape checked.
// 2a. fuse-attention: softmax(q kᵀ · scale [+ bias]) v becomes one attention op (unless
//    --no-fusion), so that autodiff's rule for it gives the fused backward.
// 3. autodiff: @loss_grad, the loss and its gradient with respect to @loss's parameters.
// 3a. train-step, inline: with an optimizer, @train_step calls @loss_grad and @update, and then
//    holds their ops itself.
// 4. simplify, constant-fold, cse, dce: the clean-up autodiff leaves to the general passes.
// 4a. merge-products: sums of matrix products become deeper products (unless --no-fusion).
// 5. outline-kernels: every func becomes a sequence of kernel calls, for the backend
//    (tools/compile/Backend.cpp continues from there).
// 6. fuse: elementwise kernels merge into the loop kernels that read them, and into matrix
//    products as their epilogues (unless --no-fusion); its remarks are printed at the model's
//    lines when --remarks=fusion asks for them.
// 7. dedupe-kernels: the copies of a kernel that several funcs repeat become one, compiled once.
llvm::Expected<std::unique_ptr<CompiledModel>> Compilation::run(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/true);
  if (!buffer)
    return reported(
        llvm::createStringError(fmt::format("cannot read '{}': {}", path.str(), buffer.getError().message())));
  bool isIr = path.ends_with(".kir");
  if (isIr && (options_.stopAfter == CompileStage::Ast || options_.stopAfter == CompileStage::GradientIr))
    return reported(llvm::createStringError(
        fmt::format("'{}' is tensor IR: it has no syntax tree and no train block (give a .kiln model)", path.str())));
  if (auto error =
          steps().run("parse", nullptr, [&] { return isIr ? parseIr(std::move(*buffer)) : parse(std::move(*buffer)); }))
    return reported(std::move(error));
  if (options_.stopAfter == CompileStage::Ast) return std::move(model_);

  if (!isIr) {
    model_->module = std::make_unique<Module>();
    if (auto error = steps().run("lower", model_->module.get(), [&] { return lower(); }))
      return reported(std::move(error));
  }
  if (options_.stopAfter == CompileStage::Ir) return std::move(model_);

  Module &module = *model_->module;
  if (options_.fusion) {
    std::vector<Remark> remarks;
    PassOptions attentionOptions;
    if (!options_.steps.remarkKinds.empty()) attentionOptions.remarks = &remarks;
    const PassInfo *fuseAttention = lookupPass("fuse-attention");
    llvm::Error failure =
        steps().run("fuse-attention", &module, [&] { return fuseAttention->run(module, attentionOptions); });
    printRemarks(options_.steps, remarks, diagnostics_);
    if (failure) return reported(std::move(failure));
  }
  if (!module.lookup("loss") && options_.stopAfter == CompileStage::GradientIr)
    return reported(llvm::createStringError(
        fmt::format("'{}' has no train block, so there is no loss to differentiate", path.str())));
  if (!isIr && module.lookup("loss")) {
    if (auto error = steps().run("autodiff", &module, [&] { return differentiateLoss(); }))
      return reported(std::move(error));
    if (module.lookup("update"))
      for (std::string_view name : {"train-step", "inline"}) {
        const PassInfo *pass = lookupPass(name);
        if (auto error = steps().run(name, &module, [&] { return pass->run(module, {}); }))
          return reported(std::move(error));
      }
    for (std::string_view name : kCleanUp) {
      const PassInfo *pass = lookupPass(name);
      if (auto error = steps().run(name, &module, [&] { return pass->run(module, {}); }))
        return reported(std::move(error));
    }
  }
  if (options_.stopAfter == CompileStage::GradientIr) return std::move(model_);

  if (options_.fusion) {
    const PassInfo *merge = lookupPass("merge-products");
    if (auto error = steps().run("merge-products", &module, [&] { return merge->run(module, {}); }))
      return reported(std::move(error));
  }
  const PassInfo *outline = lookupPass("outline-kernels");
  if (auto error = steps().run("outline-kernels", &module, [&] { return outline->run(module, {}); }))
    return reported(std::move(error));
  if (options_.fusion) {
    std::vector<Remark> remarks;
    PassOptions fuseOptions;
    if (!options_.steps.remarkKinds.empty()) fuseOptions.remarks = &remarks;
    const PassInfo *fuse = lookupPass("fuse");
    llvm::Error failure = steps().run("fuse", &module, [&] { return fuse->run(module, fuseOptions); });
    printRemarks(options_.steps, remarks, diagnostics_);
    if (failure) return reported(std::move(failure));
  }
  const PassInfo *dedupe = lookupPass("dedupe-kernels");
  if (auto error = steps().run("dedupe-kernels", &module, [&] { return dedupe->run(module, {}); }))
    return reported(std::move(error));
  return std::move(model_);
}

llvm::Error Compilation::parse(std::unique_ptr<llvm::MemoryBuffer> buffer) {
  llvm::StringRef path = buffer->getBufferIdentifier();
  unsigned bufferId = model_->sources.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  model_->file = lang::parseFile(bufferId, diagnostics_);
  for (unsigned libraryId : lang::addStandardLibrary(model_->sources))
    library_.push_back(lang::parseFile(libraryId, diagnostics_));
  if (diagnostics_.errorCount() > 0)
    return llvm::make_error<ReportedFailure>(fmt::format("{} error(s) in {}", diagnostics_.errorCount(), path.str()));
  return llvm::Error::success();
}

llvm::Error Compilation::parseIr(std::unique_ptr<llvm::MemoryBuffer> buffer) {
  llvm::StringRef path = buffer->getBufferIdentifier();
  unsigned bufferId = model_->sources.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  std::optional<ParsedModule> parsed = parseModule(bufferId, diagnostics_);
  if (parsed)
    for (const ProblemAtOp &problem : verify(*parsed->module)) diagnostics_.report(problem, &parsed->positions);
  if (!parsed || diagnostics_.errorCount() > 0)
    return llvm::make_error<ReportedFailure>(fmt::format("{} error(s) in {}", diagnostics_.errorCount(), path.str()));
  model_->module = std::move(parsed->module);
  return llvm::Error::success();
}

llvm::Error Compilation::lower() {
  std::vector<const lang::File *> libraryFiles;
  for (const lang::File &libraryFile : library_) libraryFiles.push_back(&libraryFile);
  std::unique_ptr<Module> lowered = lang::lowerProgram(model_->file, libraryFiles, diagnostics_, options_.lower);
  if (!lowered || diagnostics_.errorCount() > 0)
    return llvm::make_error<ReportedFailure>(fmt::format("{} error(s) while lowering", diagnostics_.errorCount()));
  // Functions move one by one: each knows the module that holds it.
  while (!lowered->functions().empty())
    model_->module->addFunction(lowered->removeFunction(lowered->functions().front().get()));
  model_->module->training = std::move(lowered->training);
  return llvm::Error::success();
}

llvm::Error Compilation::differentiateLoss() {
  const Function *loss = model_->module->lookup("loss");
  std::vector<Value *> parameters = loss->argumentsWithRole(ArgumentRole::Parameter);
  if (parameters.empty()) return llvm::createStringError("the model has no parameters to differentiate");
  std::vector<const Value *> wrt(parameters.begin(), parameters.end());
  auto gradient = differentiate(*model_->module, *loss, wrt);
  return gradient ? llvm::Error::success() : gradient.takeError();
}

llvm::Error Compilation::reported(llvm::Error failure) {
  return llvm::handleErrors(
      std::move(failure), [](std::unique_ptr<ReportedFailure> done) { return llvm::Error(std::move(done)); },
      [&](std::unique_ptr<llvm::ErrorInfoBase> other) {
        diagnostics_.reportFailure(llvm::Error(std::move(other)), nullptr, "kiln");
        return llvm::make_error<ReportedFailure>("compilation failed");
      });
}
}  // namespace

std::vector<std::string> compileStepNames() {
  std::vector<std::string> names{"parse", "lower", "fuse-attention", "autodiff", "train-step", "inline"};
  names.insert(names.end(), std::begin(kCleanUp), std::end(kCleanUp));
  names.emplace_back("merge-products");
  names.emplace_back("outline-kernels");
  names.emplace_back("fuse");
  names.emplace_back("dedupe-kernels");
  return names;
}

llvm::Expected<std::unique_ptr<CompiledModel>> compileModel(llvm::StringRef path, const CompileOptions &options,
                                                            llvm::raw_ostream &out, llvm::raw_ostream &errors) {
  return Compilation(options, out, errors).run(path);
}

}  // namespace kiln
