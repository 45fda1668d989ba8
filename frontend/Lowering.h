// The lowering's internal interface, shared by its files: LowerExpr.cpp (expressions and
// statements), LowerCalls.cpp (calls, argument binding, type annotations), Builtins.cpp
// (functions by name: the op table and the frontend's own) and LowerModule.cpp (models and
// the IR functions made from them).
#pragma once

#include <unordered_map>
#include <unordered_set>

#include "frontend/Lower.h"
#include "frontend/Object.h"
#include "ir/Builder.h"

namespace kiln::lang {

// Arguments of a call, evaluated, in source order.
struct Arguments {
  struct Entry {
    std::string name;  // empty: positional
    llvm::SMRange range;
    Object value;
  };
  std::vector<Entry> entries;
  bool hasPoison() const {
    for (const Entry &entry : entries)
      if (entry.value.isPoison()) return true;
    return false;
  }
};

// Guards against runaway compile-time evaluation on hostile input.
constexpr int kMaxCallDepth = 64;
constexpr int kMaxEvaluationDepth = 2000;
constexpr int64_t kMaxUnrolledSteps = 200000;
// Every evaluated expression costs one unit and every list element built one more, so that
// recursion fanning out (a function calling itself twice per level), lists doubled again and
// again and long chains of list appends stop with an error instead of running for minutes.
// The examples use a few thousand steps; char_rnn.kiln at --dim T=8000 uses about 430,000.
constexpr int64_t kMaxEvaluationWork = 5'000'000;
constexpr int64_t kMaxListLength = kMaxUnrolledSteps;

class Lowerer {
public:
  Lowerer(DiagnosticEngine &diagnostics, const LowerOptions &options) : diagnostics_(diagnostics), options_(options) {}

  std::unique_ptr<Module> run(const File &user, const std::vector<const File *> &library);

  // LowerExpr.cpp
  Object evaluate(const Expr &expr, Scope &scope);
  Object evaluateBlock(const Block &block, Scope &scope);
  void finishScope(Scope &scope);

  // LowerCalls.cpp
  Object call(const CallExpr &expr, Scope &scope);
  Object callObject(const Object &callee, Arguments arguments, llvm::SMRange where);
  Object callFunction(const FnDecl &fn, Scope &definingScope, const std::shared_ptr<Instance> &instance,
                      Arguments arguments, llvm::SMRange where);
  Object instantiate(const ComponentDecl &decl, Arguments arguments, llvm::SMRange where);
  bool bindArguments(const std::vector<Parameter> &parameters, Arguments &arguments, Scope &calleeScope,
                     llvm::SMRange where, std::string_view calleeName, bool warnUnused);
  bool checkType(const TypeExpr &type, Object &value, Scope &scope, llvm::SMRange valueRange, const std::string &what);
  std::optional<TensorType> staticTensorType(const TypeExpr &type, Scope &scope, const std::string &what);
  std::optional<DType> namedDType(const TypeExpr &type, Scope &scope);
  std::optional<int64_t> evaluateSize(const Expr &expr, Scope &scope);

  // Builtins.cpp
  bool isBuiltin(llvm::StringRef name) const;
  Object callBuiltin(const std::string &name, Arguments &arguments, llvm::SMRange where);

  // Tensor helpers (LowerExpr.cpp).
  void setLocation(llvm::SMRange where);
  kiln::Value *asTensor(const Object &object, std::optional<DType> dtype, llvm::SMRange where);
  Object createOp(OpKind kind, std::vector<kiln::Value *> operands, std::vector<NamedAttribute> attributes,
                  std::optional<TensorType> declared, llvm::SMRange where);
  bool checkElementCount(const Shape &shape, llvm::SMRange where);
  void noteDeclarations(const std::vector<kiln::Value *> &operands);

  DiagnosticEngine &diagnostics() { return diagnostics_; }
  const std::vector<ParameterSlot> &parameters() const { return parameters_; }

private:
  friend class BuiltinCall;
  // LowerExpr.cpp
  Object evaluateUnguarded(const Expr &expr, Scope &scope);
  Object evaluateName(const NameExpr &expr, Scope &scope);
  Object evaluateMember(const MemberExpr &expr, Scope &scope);
  Object evaluateIndex(const IndexExpr &expr, Scope &scope);
  Object evaluateUnary(const UnaryExpr &expr, Scope &scope);
  Object evaluateBinary(const BinaryExpr &expr, Scope &scope);
  Object evaluateIf(const IfExpr &expr, Scope &scope);
  Object evaluateSequenceOf(const Expr &iterable, Scope &scope);
  Object evaluateComprehension(const ComprehensionExpr &expr, Scope &scope);
  Object binaryOnNumbers(const BinaryExpr &expr, const Object &lhs, const Object &rhs);
  Object sliceTensor(const IndexExpr &expr, kiln::Value *tensor, Scope &scope);
  void execute(const Stmt &stmt, Scope &scope, Object &last);
  bool appendInPlace(const AssignStmt &assign, Scope &scope);
  bool countStep(llvm::SMRange where);
  bool chargeWork(int64_t units, llvm::SMRange where);
  bool admitList(int64_t length, llvm::SMRange where);
  Object parameterTensor(const Object &parameter, llvm::SMRange where);

  // CheckNames.cpp
  void checkNames(const File &user);

  // LowerModule.cpp
  void declareGlobals(const File &file, bool isLibrary);
  const ComponentDecl *chooseModel(const File &user);
  std::shared_ptr<Instance> instantiateModel(const ComponentDecl &model);
  void lowerForward(Module &module, const std::shared_ptr<Instance> &model);
  void lowerInit(Module &module);
  void setTraining(bool training);
  std::vector<size_t> slotsInArgumentOrder() const;
  void assignBuffer(const Object &slot, Object value, llvm::SMRange where);

  // LowerTrain.cpp
  void lowerLoss(Module &module, const TrainDecl &train, const std::shared_ptr<Instance> &model, bool evaluation);
  Object withMetrics(const TrainDecl &train, Scope &scope, const Arguments &arguments, Object loss);
  Object withBuffers(Object loss, llvm::SMRange where);
  void checkTrainSettings(const TrainDecl &train, Scope &scope);
  std::string dataPath(const std::string &written) const;
  std::shared_ptr<Instance> createOptimizer(const Expr &expr, Scope &scope);
  std::shared_ptr<Instance> createSchedule(const Expr &expr, Scope &scope);
  void lowerUpdate(Module &module, llvm::SMRange where);
  bool clipGradients(std::vector<kiln::Value *> &gradients, llvm::SMRange where);
  kiln::Value *scheduleRate(kiln::Value *step, kiln::Value *rate, llvm::SMRange where);
  void lowerOptimizerInit(Module &module, std::optional<double> rate,
                          const std::vector<std::pair<kiln::Value *, const StateDecl *>> &stateArguments,
                          llvm::SMRange where);
  Function *beginFunction(Module &module, const std::string &name, llvm::SMRange where);
  void addParameterArguments(Function &function, bool withBuffers = true);
  bool setResults(Function &function, const Object &result, llvm::SMRange where);
  void warnUnusedParameters(const Function &function);

public:
  // Set while a `param` initializer is evaluated in @init: initializers fill this parameter.
  const ParameterSlot *initializing = nullptr;
  // The random key of the parameter being initialized, seed + its index, built when first used.
  kiln::Value *randomKey();
  // A key of its own for each random draw of a training step: the step's `key` argument (added
  // on first use) + the draw's number. Null, with an error, outside training code.
  kiln::Value *trainingKey(std::string_view what, llvm::SMRange where);
  // True while the training step's functions are lowered: the language's `training`.
  bool training() const { return trainingCode_; }
  // Names the instances created while a layer's members are evaluated: `blocks.2`.
  std::vector<std::string> instancePath;
  bool creatingInstances = false;
  int callDepth = 0;
  // Set while a train block's `optimizer = ...` is evaluated: the one place an optimizer is made.
  bool creatingOptimizer_ = false;

private:
  DiagnosticEngine &diagnostics_;
  const LowerOptions &options_;
  Scope globals_;
  std::unordered_map<std::string, llvm::SMRange> userGlobals_;
  std::vector<ParameterSlot> parameters_;
  // The current value of each slot in the function being built: its argument, or for a buffer
  // assigned while training, the assigned value.
  std::vector<kiln::Value *> parameterValues_;
  std::unique_ptr<Builder> builder_;
  Function *function_ = nullptr;
  unsigned userBuffer_ = 0;  // the source buffer of the user's file, 0 when it declares nothing
  int64_t unrolledSteps_ = 0;
  int64_t evaluationWork_ = 0;
  int evaluationDepth_ = 0;
  kiln::Value *seed_ = nullptr;
  // The train block's optimizer, lr schedule and clip_grad_norm, once checked.
  std::shared_ptr<Instance> optimizer_, schedule_;
  std::optional<double> clipNorm_;
  TrainingSettings training_;  // the train block's settings, once checked
  int64_t initializingIndex_ = 0;
  kiln::Value *key_ = nullptr;
  bool trainingCode_ = false;
  kiln::Value *trainingKey_ = nullptr;  // the current function's `key` argument, once used
  int64_t randomDraws_ = 0;             // random draws of the current function so far
  std::unordered_map<const kiln::Value *, llvm::SMRange> declaredAt_;
  std::unordered_set<const char *> warnedAt_;
};

}  // namespace kiln::lang
