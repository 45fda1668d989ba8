// OpErrors: problems with ops that a pass returns and the tool reports, each at its op. The
// lit tests cover autodiff's; these cover what no pass in the tree produces on purpose (IR a
// pass broke) and the places an op without a text position falls back to.
#include <algorithm>

#include <gtest/gtest.h>

#include "ir/Builder.h"
#include "ir/Diagnostics.h"
#include "ir/Parser.h"
#include "passes/Pass.h"

namespace kiln {
namespace {

constexpr const char *kDoubling = R"(func @double(%x: f32[2]) -> f32[2] {
  %y = add %x, %x : f32[2]
  return %y
}
)";

// Appends an op whose declared type its operands contradict, without a location.
llvm::Error breakTheIr(Module &module, const PassOptions &) {
  Function &function = *module.lookup("double");
  function.insert(function.ops().end(),
                  std::make_unique<Operation>(OpKind::Neg, std::vector<Value *>{function.argument(0)}, Attributes{},
                                              TensorType{DType::F32, {3}}, Location{}, "wrong"));
  return llvm::Error::success();
}

TEST(OpErrors, InvalidIrAfterAPassIsReportedAtItsFunctionInTheText) {
  llvm::SourceMgr sources;
  unsigned buffer =
      sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(kDoubling, "double.kir"), llvm::SMLoc());
  std::string text;
  llvm::raw_string_ostream stream(text);
  Diagnostics diagnostics(sources, stream);
  std::optional<ParsedModule> parsed = parseModule(buffer, diagnostics);
  ASSERT_TRUE(parsed.has_value()) << text;

  const PassInfo breaking{"break", "makes an op with a wrong type", breakTheIr};
  const PipelineStep steps[] = {{&breaking, {}}};
  llvm::Error failure = runPipeline(*parsed->module, steps, {}, llvm::nulls());
  ASSERT_TRUE(failure.isA<OpErrors>());
  diagnostics.reportFailure(std::move(failure), &parsed->positions, "kiln-opt");
  // The new op has no place of its own: its function's header is shown, and the op is named.
  EXPECT_EQ(text, "double.kir:1:1: error: %wrong = neg: 'neg' gives f32[2], but its result is declared f32[3]\n"
                  "func @double(%x: f32[2]) -> f32[2] {\n"
                  "^\n"
                  "kiln-opt: error: pass 'break' produced invalid IR: 1 problem\n");
  EXPECT_EQ(diagnostics.errorCount(), 2u);
}

TEST(OpErrors, ALocationInALoadedModelFileShowsItsLine) {
  llvm::SourceMgr sources;
  sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy("dim B = 2\nlet y = neg(x)\n", "model.kiln"),
                             llvm::SMLoc());
  Function function("f");
  Value *x = function.addArgument(TensorType{DType::F32, {2}}, "x");
  Builder builder(function);
  builder.setLocation({"model.kiln", 2, 9});
  Value *inModel = builder.create(OpKind::Neg, {x});
  builder.setLocation({"elsewhere.kiln", 7, 3});
  Value *elsewhere = builder.create(OpKind::Neg, {x});
  builder.setLocation({"model.kiln", 40, 1});  // past the file's end: no line to show
  Value *pastTheEnd = builder.create(OpKind::Neg, {x});

  std::string text;
  llvm::raw_string_ostream stream(text);
  Diagnostics diagnostics(sources, stream);
  diagnostics.report(ProblemAtOp{&function, inModel->definingOp(), "first"}, nullptr);
  diagnostics.report(ProblemAtOp{&function, elsewhere->definingOp(), "second"}, nullptr);
  diagnostics.report(ProblemAtOp{&function, pastTheEnd->definingOp(), "third"}, nullptr);
  EXPECT_EQ(text, "model.kiln:2:9: error: first\n"
                  "let y = neg(x)\n"
                  "        ^\n"
                  "elsewhere.kiln:7:3: error: second\n"
                  "model.kiln:40:1: error: third\n");
  EXPECT_EQ(diagnostics.errorCount(), 3u);
}

// The gradient check differentiates a copy and returns its problems after the copy is gone.
TEST(OpErrors, OutliveTheirModuleAndStringifyWithoutText) {
  llvm::Error failure = llvm::Error::success();
  {
    Module module;
    Function *function = module.addFunction(std::make_unique<Function>("f"));
    Value *x = function->addArgument(TensorType{DType::F32, {2}}, "x");
    Builder builder(*function);
    Value *unnamed = builder.create(OpKind::Neg, {x});
    builder.setLocation({"model.kiln", 3, 4});
    Value *located = builder.create(OpKind::Exp, {unnamed});
    located->setName("e");
    failure = llvm::make_error<OpErrors>("cannot differentiate @f",
                                         std::vector<ProblemAtOp>{{function, unnamed->definingOp(), "first"},
                                                                  {function, located->definingOp(), "second"},
                                                                  {function, nullptr, "third"}});
  }
  EXPECT_EQ(llvm::toString(std::move(failure)), "cannot differentiate @f: 3 problems\n"
                                                "error: in @f: neg: first\n"
                                                "model.kiln:3:4: error: second\n"
                                                "error: in @f: third");
}

// Past Diagnostics::kMaxErrors the rest are noise; the summary still counts them all.
TEST(OpErrors, ReportingStopsAtTheErrorCap) {
  Function function("f");
  std::vector<ProblemAtOp> problems(Diagnostics::kMaxErrors + 5, ProblemAtOp{&function, nullptr, "wrong"});
  llvm::SourceMgr sources;
  std::string text;
  llvm::raw_string_ostream stream(text);
  Diagnostics diagnostics(sources, stream);
  diagnostics.reportFailure(llvm::make_error<OpErrors>("pass 'p' produced invalid IR", problems), nullptr, "kiln-opt");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), Diagnostics::kMaxErrors + 1);
  std::string summary =
      "kiln-opt: error: pass 'p' produced invalid IR: " + std::to_string(problems.size()) + " problems\n";
  EXPECT_TRUE(llvm::StringRef(text).ends_with(summary)) << text;
}

}  // namespace
}  // namespace kiln
