// The standard library's optimizers, lr schedules and gradient clipping against torch.optim: a
// Linear(4, 3) regressor trained three steps on one batch through @init_optimizer and @train_step (the reference
// interpreter) must reach PyTorch's parameters after every step, to f32 rounding. The cases and their golden values are
// written by test/golden/optimizers.py.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <llvm/Support/raw_ostream.h>

#include "GoldenFiles.h"
#include "backends/interpreter/Interpreter.h"
#include "tools/compile/Compile.h"

namespace kiln {
namespace {

using golden::expectClose;
using golden::load;
using golden::readText;

const std::filesystem::path kCases = std::filesystem::path(KILN_SOURCE_DIR) / "test/golden/Inputs/optimizers";

// The regressor of optimizers.py with the case's settings, compiled to @train_step.
std::unique_ptr<CompiledModel> compile(const std::string &settings, const std::filesystem::path &folder) {
  std::filesystem::path source =
      std::filesystem::temp_directory_path() / ("kiln-optimizer-" + folder.filename().string() + ".kiln");
  std::ofstream(source) << "model Regressor {\n"
                           "  fc = Linear(4, 3)\n"
                           "  fn forward(x: f32[5, 4]) -> f32[5, 3] { fc(x) }\n"
                           "}\n"
                           "train Regressor {\n"
                           "  input x: f32[5, 4]\n"
                           "  label y: f32[5, 3]\n"
                           "  loss = mse(forward(x), y)\n"
                        << settings << "}\n";
  CompileOptions options;
  options.stopAfter = CompileStage::GradientIr;
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  llvm::Expected<std::unique_ptr<CompiledModel>> model =
      compileModel(source.string(), options, llvm::nulls(), errorStream);
  std::filesystem::remove(source);
  EXPECT_TRUE(bool(model)) << errors << (model ? "" : llvm::toString(model.takeError()));
  return model ? std::move(*model) : nullptr;
}

class OptimizerTest : public testing::TestWithParam<std::string> {};

TEST_P(OptimizerTest, ThreeStepsMatchPyTorch) {
  std::filesystem::path folder = kCases / GetParam();
  std::unique_ptr<CompiledModel> model = compile(readText(folder / "settings.txt"), folder);
  ASSERT_TRUE(model);
  const Function *init = model->module->lookup("init_optimizer");
  const Function *step = model->module->lookup("train_step");
  ASSERT_TRUE(init && step);

  llvm::Expected<std::vector<Tensor>> state = interpret(*init, {});
  ASSERT_TRUE(bool(state)) << llvm::toString(state.takeError());
  // @train_step(x, y, fc.w, fc.b, states...) -> (loss, fc.w, fc.b, states...)
  std::vector<Tensor> arguments;
  for (const char *name : {"x", "y", "w", "b"}) arguments.push_back(load(folder / (std::string(name) + ".npy")));
  for (Tensor &tensor : *state) arguments.push_back(std::move(tensor));
  ASSERT_EQ(arguments.size(), step->arguments().size());
  for (int number = 1; number <= 3; ++number) {
    llvm::Expected<std::vector<Tensor>> results = interpret(*step, arguments);
    ASSERT_TRUE(bool(results)) << llvm::toString(results.takeError());
    ASSERT_EQ(results->size(), arguments.size() - 1);
    for (size_t i = 1; i < results->size(); ++i) arguments[i + 1] = std::move((*results)[i]);
    expectClose(arguments[2], load(folder / fmt::format("w.{}.npy", number)), fmt::format("w after step {}", number));
    expectClose(arguments[3], load(folder / fmt::format("b.{}.npy", number)), fmt::format("b after step {}", number));
  }
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto &entry : std::filesystem::directory_iterator(kCases)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(PyTorch, OptimizerTest, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<std::string> &info) { return info.param; });

}  // namespace
}  // namespace kiln
