// The main of the programs `kiln build MODEL.kiln -o prog` links: a command line over the model's
// functions, described by the table its object file carries (runtime/ProgramTable.h).
//
//   prog run --function F [--input NAME=FILE.npy ...] --output DIR   any func; DIR/result<i>.npy
//   prog predict --load CKPT --input x.npy --output y.npy            @forward with stored parameters
//   prog train [--data F] [--epochs N] ...                           the train block's loop (Train.cpp)
//   prog time --function F [--repeat N] [--warmup W]                 seconds per call, for bench/
//
// Exit codes: 0 success, 1 a file or its contents were wrong, 2 the command line was.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/Checkpoint.h"
#include "runtime/Parallel.h"
#include "runtime/ProgramSupport.h"
#include "runtime/Train.h"

namespace kiln::program {

namespace {
std::string signature(const KilnFunctionInfo &function) {
  std::vector<std::string> arguments, results;
  for (int32_t i = 0; i < function.argumentCount; ++i) {
    const KilnTensorInfo &argument = function.arguments[i];
    constexpr std::string_view kRoles[] = {"", "input ", "label ", "param ", "state ", "buffer ", "key "};
    arguments.push_back(fmt::format("{}{}: {}", kRoles[argument.role], argument.name, typeText(argument)));
  }
  for (int32_t i = 0; i < function.resultCount; ++i) results.push_back(typeText(function.results[i]));
  return fmt::format("{}({}) -> ({})", function.name, fmt::join(arguments, ", "), fmt::join(results, ", "));
}

void printHelp() {
  std::string text =
      fmt::format("{0}: a model compiled by Kiln from {1}\n"
                  "\n"
                  "USAGE:\n"
                  "  {0} run --function F [--input NAME=FILE.npy ...] --output DIR\n"
                  "      Runs a function on arguments read from .npy files (one --input per argument) and writes\n"
                  "      its results to DIR/result0.npy, DIR/result1.npy, ...\n"
                  "  {0} predict --load CKPT --input x.npy --output y.npy\n"
                  "      Runs @forward with its parameters read from CKPT, a checkpoint of `train --save` (or a\n"
                  "      directory holding NAME.npy for every parameter NAME), on the input in x.npy\n"
                  "      (NAME=FILE.npy when there are several), and writes the result to y.npy.\n"
                  "  {0} eval --load CKPT [--data F]\n"
                  "      The loss and metrics of a checkpoint on the data's test split (else on all of it).\n"
                  "{2}"
                  "  {0} time --function F [--repeat N] [--warmup W]\n"
                  "      Calls F on made-up arguments N times (default 20) after W warm-up calls (default 3) and\n"
                  "      prints the median and the fastest seconds per call, for benchmarks (bench/train.py).\n"
                  "      Parameters and inputs are drawn uniformly from [-0.1, 0.1), optimizer state, buffers and\n"
                  "      integers (labels, tokens) are zeros.\n"
                  "\n"
                  "OPTIONS:\n"
                  "  --threads N   run on N threads (default: KILN_NUM_THREADS, else every core)\n"
                  "  --help        print this text\n"
                  "\n"
                  "EXIT CODES: 0 success, 1 a file or its contents were wrong, 2 the command line was wrong,\n"
                  "130 training was interrupted (Ctrl-C).\n"
                  "\n"
                  "FUNCTIONS:\n",
                  programName, kiln_program_table.modelName, trainingHelp());
  for (const KilnFunctionInfo &function : functions()) text += fmt::format("  {}\n", signature(function));
  std::fputs(text.c_str(), stdout);
}

Outcome runCommand(const std::vector<std::string_view> &words) {
  constexpr std::string_view kKnown[] = {"function", "input", "output"};
  Options options;
  if (Outcome failure = parseOptions("run", words, kKnown, "input", options)) return failure;
  const std::string *name = options.single("function");
  if (!name) {
    if (functions().size() != 1)
      return usageError(fmt::format("run: choose a function with --function (the model has {})", functionNames()));
  } else if (!findFunction(*name)) {
    return usageError(fmt::format("run: no function @{} in the model (it has {})", *name, functionNames()));
  }
  const KilnFunctionInfo &function = name ? *findFunction(*name) : functions()[0];
  const std::string *output = options.single("output");
  if (!output) return usageError("run: give --output DIR, the directory the results are written to");

  std::map<std::string, std::string, std::less<>> files;
  if (Outcome failure = parseInputs(function, "run", options.all("input"), files)) return failure;
  std::vector<npy::Array> arguments(size_t(function.argumentCount));
  for (int32_t i = 0; i < function.argumentCount; ++i) {
    const KilnTensorInfo &argument = function.arguments[i];
    auto file = files.find(argument.name);
    if (file == files.end())
      return usageError(fmt::format("run: argument %{} of @{} ({}) has no --input {}=FILE.npy", argument.name,
                                    function.name, typeText(argument), argument.name));
    if (Outcome failure = readArgument(function, argument, file->second, arguments[i])) return failure;
  }
  std::error_code status;
  std::filesystem::create_directories(*output, status);
  if (status) return dataError(fmt::format("cannot create the output directory {}: {}", *output, status.message()));
  std::vector<npy::Array> results = call(function, arguments);
  for (size_t i = 0; i < results.size(); ++i)
    if (Outcome failure =
            writeArray((std::filesystem::path(*output) / fmt::format("result{}.npy", i)).string(), results[i]))
      return failure;
  return std::nullopt;
}

// The arguments predict reads from --load: the model's params and buffers.
bool isLoaded(const KilnTensorInfo &argument) {
  return argument.role == KILN_ROLE_PARAMETER || argument.role == KILN_ROLE_BUFFER;
}
std::string_view roleWord(const KilnTensorInfo &argument) {
  return argument.role == KILN_ROLE_BUFFER ? "buffer" : "parameter";
}

// Where predict's parameters come from: a checkpoint file (`train --save`), or a directory
// holding NAME.npy for every parameter and buffer.
Outcome loadParameter(const std::string &source, const KilnFunctionInfo &function, const KilnTensorInfo &parameter,
                      std::optional<checkpoint::Checkpoint> &loaded, npy::Array &array) {
  std::error_code status;
  if (!std::filesystem::exists(source, status))
    return dataError(fmt::format("--load {}: no such checkpoint or directory", source));
  if (!std::filesystem::is_directory(source, status)) {
    if (!loaded) {
      npy::Result<checkpoint::Checkpoint> read = checkpoint::read(source);
      if (!read) return dataError(read.error());
      loaded = std::move(*read);
    }
    // Under early stopping, `best.NAME` holds the best epoch's value: the one training gives.
    const checkpoint::Tensor *stored = nullptr;
    for (const std::string &name : {"best." + std::string(parameter.name), std::string(parameter.name)})
      for (const checkpoint::Tensor &tensor : loaded->tensors)
        if (!stored && tensor.name == name && tensor.role == parameter.role) stored = &tensor;
    if (!stored)
      return dataError(fmt::format("--load {}: the checkpoint (of model {}) has no {} %{} ({})", source, loaded->model,
                                   roleWord(parameter), parameter.name, typeText(parameter)));
    if (!matches(parameter, stored->array))
      return dataError(fmt::format("--load {}: {} %{} is {} there, but @{} takes {}", source, roleWord(parameter),
                                   parameter.name, typeText(stored->array), function.name, typeText(parameter)));
    array = stored->array;
    return std::nullopt;
  }
  std::string path = (std::filesystem::path(source) / (std::string(parameter.name) + ".npy")).string();
  if (!std::filesystem::exists(path, status))
    return dataError(fmt::format("--load {}: {} %{} ({}) has no file {}", source, roleWord(parameter), parameter.name,
                                 typeText(parameter), path));
  return readArgument(function, parameter, path, array);
}

Outcome predictCommand(const std::vector<std::string_view> &words) {
  constexpr std::string_view kKnown[] = {"load", "input", "output"};
  Options options;
  if (Outcome failure = parseOptions("predict", words, kKnown, "input", options)) return failure;
  const KilnFunctionInfo *function = findFunction("forward");
  if (!function)
    return usageError(fmt::format("predict: the model has no @forward to predict with (it has {})", functionNames()));
  if (function->resultCount != 1)
    return usageError(fmt::format("predict: @forward returns {} results; use run", function->resultCount));
  const std::string *load = options.single("load");
  const std::string *output = options.single("output");
  if (!load) return usageError("predict: give --load CKPT, the checkpoint (or directory) holding the parameters");
  if (!output) return usageError("predict: give --output FILE.npy, the file the prediction is written to");

  std::vector<const KilnTensorInfo *> inputs;
  for (int32_t i = 0; i < function->argumentCount; ++i)
    if (!isLoaded(function->arguments[i])) inputs.push_back(&function->arguments[i]);
  // With a single input, --input x.npy; with several, NAME=FILE.npy each.
  std::vector<std::string> given = options.all("input");
  if (inputs.size() == 1 && given.size() == 1 && given[0].find('=') == std::string::npos)
    given[0] = std::string(inputs[0]->name) + "=" + given[0];
  std::map<std::string, std::string, std::less<>> files;
  if (Outcome failure = parseInputs(*function, "predict", given, files)) return failure;

  for (int32_t i = 0; i < function->argumentCount; ++i)
    if (isLoaded(function->arguments[i]) && files.count(function->arguments[i].name))
      return usageError(fmt::format("predict: %{} is a {}, read from --load, not an --input",
                                    function->arguments[i].name, roleWord(function->arguments[i])));
  std::vector<npy::Array> arguments(size_t(function->argumentCount));
  std::optional<checkpoint::Checkpoint> loaded;
  for (int32_t i = 0; i < function->argumentCount; ++i) {
    const KilnTensorInfo &argument = function->arguments[i];
    if (isLoaded(argument)) {
      if (Outcome failure = loadParameter(*load, *function, argument, loaded, arguments[i])) return failure;
      continue;
    }
    auto file = files.find(argument.name);
    if (file == files.end())
      return usageError(inputs.size() == 1 ? fmt::format("predict: give --input FILE.npy, the input %{} ({})",
                                                         argument.name, typeText(argument))
                                           : fmt::format("predict: input %{} ({}) has no --input {}=FILE.npy",
                                                         argument.name, typeText(argument), argument.name));
    if (Outcome failure = readArgument(*function, argument, file->second, arguments[i])) return failure;
  }
  std::vector<npy::Array> results = call(*function, arguments);
  return writeArray(*output, results[0]);
}

// An argument for `time`: parameters, inputs and arguments of no role drawn uniformly from
// [-0.1, 0.1); optimizer state and buffers zeros, since Adam's second moments and a running
// variance must not be negative; integers zeros, which are valid labels and token indices.
npy::Array madeUpArgument(const KilnTensorInfo &argument, std::mt19937 &generator) {
  npy::Array array = emptyArray(argument);
  bool drawn = argument.role != KILN_ROLE_STATE && argument.role != KILN_ROLE_BUFFER;
  std::uniform_real_distribution<double> uniform(-0.1, 0.1);
  if (drawn && array.type == npy::ElementType::F32)
    for (int64_t i = 0; i < array.elementCount(); ++i)
      reinterpret_cast<float *>(array.data.data())[i] = float(uniform(generator));
  if (drawn && array.type == npy::ElementType::F64)
    for (int64_t i = 0; i < array.elementCount(); ++i)
      reinterpret_cast<double *>(array.data.data())[i] = uniform(generator);
  return array;
}

// Times calls of one function in this process, so that neither start-up nor file reading counts.
// Each call is timed alone (steady_clock); the median is robust to a busy machine's outliers.
Outcome timeCommand(const std::vector<std::string_view> &words) {
  constexpr std::string_view kKnown[] = {"function", "repeat", "warmup"};
  Options options;
  if (Outcome failure = parseOptions("time", words, kKnown, "", options)) return failure;
  const std::string *name = options.single("function");
  if (!name)
    return usageError(fmt::format("time: choose a function with --function (the model has {})", functionNames()));
  const KilnFunctionInfo *function = findFunction(*name);
  if (!function)
    return usageError(fmt::format("time: no function @{} in the model (it has {})", *name, functionNames()));
  int64_t repeat = 20, warmup = 3;
  if (Outcome failure = parseCount(options, "repeat", 1, repeat, INT_MAX)) return failure;
  if (Outcome failure = parseCount(options, "warmup", 0, warmup, INT_MAX)) return failure;

  std::mt19937 generator(20261201);
  std::vector<npy::Array> arguments, results;
  std::vector<void *> argumentPointers, resultPointers;
  for (int32_t i = 0; i < function->argumentCount; ++i)
    arguments.push_back(madeUpArgument(function->arguments[i], generator));
  for (int32_t i = 0; i < function->resultCount; ++i) results.push_back(emptyArray(function->results[i]));
  for (npy::Array &argument : arguments) argumentPointers.push_back(argument.data.data());
  for (npy::Array &result : results) resultPointers.push_back(result.data.data());

  for (int i = 0; i < warmup; ++i) function->entry(argumentPointers.data(), resultPointers.data());
  std::vector<double> seconds;
  for (int i = 0; i < repeat; ++i) {
    auto start = std::chrono::steady_clock::now();
    function->entry(argumentPointers.data(), resultPointers.data());
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  size_t middle = seconds.size() / 2;
  double median = seconds.size() % 2 ? seconds[middle] : (seconds[middle - 1] + seconds[middle]) / 2;
  fmt::print("@{}: median {:.6e} s, min {:.6e} s per call ({} calls after {} warm-up, threads: {})\n", function->name,
             median, seconds.front(), repeat, warmup, kiln_thread_count());
  return std::nullopt;
}

Outcome setThreads(std::string_view text) {
  int64_t count = 0;
  if (Outcome failure = parseCount("threads", text, 1, count, INT_MAX)) return failure;
  kiln_set_thread_count(int(count));
  return std::nullopt;
}

Outcome runProgram(int argc, char **argv) {
  if (kiln_program_table.version != KILN_PROGRAM_TABLE_VERSION)
    return dataError(fmt::format("the model's function table has version {}, but this runtime reads version {}; "
                                 "rebuild the program with the same Kiln",
                                 kiln_program_table.version, int(KILN_PROGRAM_TABLE_VERSION)));
  // --threads and --help may stand anywhere; the rest belongs to the command.
  std::vector<std::string_view> words;
  for (int i = 1; i < argc; ++i) {
    std::string_view word = argv[i];
    if (word == "--help" || word == "-h" || word == "help") {
      printHelp();
      return std::nullopt;
    }
    if (word == "--threads" || word.starts_with("--threads=")) {
      if (word == "--threads" && i + 1 == argc) return usageError("--threads needs a value");
      if (Outcome failure = setThreads(word == "--threads" ? std::string_view(argv[++i]) : word.substr(10)))
        return failure;
      continue;
    }
    words.push_back(word);
  }
  if (words.empty())
    return usageError(fmt::format("give a command: run, predict, train, eval or time (see {} --help)", programName));
  std::string_view command = words.front();
  words.erase(words.begin());
  if (command == "run") return runCommand(words);
  if (command == "predict") return predictCommand(words);
  if (command == "train") return trainCommand(words);
  if (command == "eval") return evalCommand(words);
  if (command == "time") return timeCommand(words);
  return usageError(fmt::format("unknown command '{}' (the commands: run, predict, train, eval, time; see {} --help)",
                                command, programName));
}
}  // namespace

}  // namespace kiln::program

int main(int argc, char **argv) {
  if (argc > 0) kiln::program::programName = std::filesystem::path(argv[0]).filename().string();
  std::optional<kiln::program::Failure> failure = kiln::program::runProgram(argc, argv);
  if (!failure) return 0;
  // An interruption is the user's request, not an error.
  std::fprintf(stderr, "%s: %s%s\n", kiln::program::programName.c_str(),
               failure->code == kiln::program::kInterrupted ? "" : "error: ", failure->message.c_str());
  return failure->code;
}
