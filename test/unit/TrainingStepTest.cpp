// One whole training step of the examples against PyTorch: the MLP, the char LSTM and the GPT,
// compiled from examples/ at small sizes, take one @train_step from the weights, the batch and
// the optimizer state that test/golden/training_step.py gave torch.nn and torch.optim, and must
// reach PyTorch's loss, parameters and optimizer state to f32 rounding: the forward pass, the
// loss, every gradient (through the first moments, beta1 m + (1 - beta1) g) and the update are
// all in the comparison. The reference interpreter runs the step, and so does the CPU backend's
// native code (at -O0, which compiles in a fraction of -O3's time).
#include <algorithm>
#include <filesystem>
#include <span>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <llvm/Support/raw_ostream.h>

#include "GoldenFiles.h"
#include "backends/cpu/Compile.h"
#include "backends/interpreter/Interpreter.h"
#include "tools/compile/Compile.h"

namespace kiln {
namespace {

const std::filesystem::path kSourceDirectory(KILN_SOURCE_DIR);
const std::filesystem::path kCases = kSourceDirectory / "test/golden/Inputs/training_step";

enum class Engine { Interpreter, Native };

std::string engineName(Engine engine) { return engine == Engine::Native ? "native" : "interpreter"; }
void PrintTo(Engine engine, std::ostream *out) { *out << engineName(engine); }

// The example and the sizes that model.txt names, compiled to @train_step, outlined into kernels
// for native code.
std::unique_ptr<CompiledModel> compile(const std::filesystem::path &folder, Engine engine) {
  std::istringstream description(golden::readText(folder / "model.txt"));
  std::string source;
  CompileOptions options;
  options.stopAfter = engine == Engine::Native ? CompileStage::Kernels : CompileStage::GradientIr;
  for (std::string keyword; description >> keyword;) {
    if (keyword == "source") {
      description >> source;
    } else if (keyword == "model") {
      description >> options.lower.modelName;
    } else if (keyword == "dim") {
      std::pair<std::string, int64_t> dim;
      description >> dim.first >> dim.second;
      options.lower.dims.push_back(dim);
    } else {
      ADD_FAILURE() << folder / "model.txt"
                    << ": unknown line '" << keyword << "'";
      return nullptr;
    }
  }
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  llvm::Expected<std::unique_ptr<CompiledModel>> model =
      compileModel((kSourceDirectory / source).string(), options, llvm::nulls(), errorStream);
  EXPECT_TRUE(bool(model)) << errors << (model ? "" : llvm::toString(model.takeError()));
  return model ? std::move(*model) : nullptr;
}

llvm::Expected<std::vector<Tensor>> runStep(Engine engine, const Module &module, const Function &step,
                                            std::span<const Tensor> arguments) {
  if (engine == Engine::Interpreter) return interpret(step, arguments);
  cpu::TargetOptions options;
  options.optLevel = 0;
  llvm::Expected<std::unique_ptr<cpu::Target>> target = cpu::Target::create(options);
  if (!target) return target.takeError();
  llvm::Expected<std::unique_ptr<cpu::CompiledModule>> compiled = cpu::CompiledModule::create(module, **target, &step);
  if (!compiled) return compiled.takeError();
  return (*compiled)->run(step, arguments);
}

class TrainingStepTest : public testing::TestWithParam<std::tuple<std::string, Engine>> {};

TEST_P(TrainingStepTest, OneStepMatchesPyTorch) {
  auto [name, engine] = GetParam();
  std::filesystem::path folder = kCases / name;
  std::unique_ptr<CompiledModel> model = compile(folder, engine);
  ASSERT_TRUE(model);
  const Function *step = model->module->lookup("train_step");
  ASSERT_TRUE(step);

  // @train_step(inputs..., labels..., params..., states...) -> (loss, params..., states...), every
  // argument as torch had it before the step.
  std::vector<Tensor> arguments;
  std::vector<std::string> updated;  // the names of the results after the loss
  for (size_t i = 0; i < step->arguments().size(); ++i) {
    const std::string &argument = step->argument(i)->name();
    arguments.push_back(golden::load(folder / (argument + ".npy")));
    if (step->role(i) == ArgumentRole::Parameter || step->role(i) == ArgumentRole::OptimizerState)
      updated.push_back(argument);
  }

  llvm::Expected<std::vector<Tensor>> results = runStep(engine, *model->module, *step, arguments);
  ASSERT_TRUE(bool(results)) << llvm::toString(results.takeError());
  ASSERT_EQ(results->size(), 1 + updated.size());
  golden::expectClose((*results)[0], golden::load(folder / "after/loss.npy"), "the loss");
  for (size_t i = 0; i < updated.size(); ++i)
    golden::expectClose((*results)[i + 1], golden::load(folder / "after" / (updated[i] + ".npy")),
                        fmt::format("%{} after the step", updated[i]));
  // Every golden value was compared: PyTorch has no state that Kiln's step lacks.
  size_t goldenFiles = std::distance(std::filesystem::directory_iterator(folder / "after"), {});
  EXPECT_EQ(goldenFiles, results->size());
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto &entry : std::filesystem::directory_iterator(kCases)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(PyTorch, TrainingStepTest,
                         testing::Combine(testing::ValuesIn(cases()),
                                          testing::Values(Engine::Interpreter, Engine::Native)),
                         [](const testing::TestParamInfo<TrainingStepTest::ParamType> &info) {
                           return std::get<0>(info.param) + "_" + engineName(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace kiln
