// The verifier's errors that IR text cannot produce (the parser refuses such text first): they
// catch passes that break SSA order, results or function names, and say where.
#include <gtest/gtest.h>

#include "ir/Builder.h"
#include "ir/Diagnostics.h"
#include "ir/Verifier.h"

namespace kiln {
namespace {

TensorType vector4() { return {DType::F32, {4}}; }

TEST(Verifier, AWellFormedFunctionHasNoErrors) {
  Function function("f");
  Value *x = function.addArgument(vector4(), "x");
  Builder builder(function);
  function.setResults({builder.create(OpKind::Neg, {x})});
  EXPECT_TRUE(verify(function).empty());
}

TEST(Verifier, AnOperandUsedBeforeItsDefinitionIsReported) {
  Function function("f");
  Value *x = function.addArgument(vector4(), "x");
  Builder builder(function);
  Value *negated = builder.create(OpKind::Neg, {x});
  Value *absolute = builder.create(OpKind::Abs, {negated});
  function.setResults({absolute});
  // A broken pass moves the user above its operand's definition.
  function.ops().splice(function.ops().begin(), function.ops(), std::prev(function.ops().end()));
  std::vector<ProblemAtOp> errors = verify(function);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].op, absolute->definingOp());
  EXPECT_EQ(errors[0].message, "operand 0 of 'abs' is not defined before it is used");
}

TEST(Verifier, AResultFromAnotherFunctionIsReported) {
  Function other("other");
  Value *stray = other.addArgument(vector4(), "stray");
  Function function("f");
  function.addArgument(vector4(), "x");
  function.setResults({stray});
  std::vector<ProblemAtOp> errors = verify(function);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].op, nullptr);
  EXPECT_EQ(errors[0].message, "result 0 of @f is not defined in it");
}

TEST(Verifier, AFunctionNameUsedTwiceIsReported) {
  Module module;
  module.addFunction(std::make_unique<Function>("f"));
  module.addFunction(std::make_unique<Function>("f"));
  std::vector<ProblemAtOp> errors = verify(module);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "function @f is defined twice");
}

TEST(Verifier, ErrorsWithoutTextPositionsUseTheModelLocation) {
  Function function("f");
  Value *x = function.addArgument(vector4(), "x");
  Builder builder(function);
  builder.setLocation({"model.kiln", 12, 5});
  Value *negated = builder.create(OpKind::Neg, {x});
  function.setResults({negated});
  llvm::SourceMgr sources;
  std::string text;
  llvm::raw_string_ostream stream(text);
  Diagnostics diagnostics(sources, stream);
  diagnostics.report(ProblemAtOp{&function, negated->definingOp(), "something is wrong"}, nullptr);
  diagnostics.report(ProblemAtOp{&function, nullptr, "something else"}, nullptr);
  EXPECT_EQ(text, "model.kiln:12:5: error: something is wrong\nerror: in @f: something else\n");
  EXPECT_EQ(diagnostics.errorCount(), 2u);
}

}  // namespace
}  // namespace kiln
