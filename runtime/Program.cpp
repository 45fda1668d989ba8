// The main of the programs `kiln build MODEL.kiln -o prog` links: a command line over the model's
// functions, described by the table its object file carries (runtime/ProgramTable.h).
//
//   prog run --function F [--input NAME=FILE.npy ...] --output DIR   any func; DIR/result<i>.npy
//   prog predict --load PARAMS --input x.npy --output y.npy          @forward with stored parameters
//   prog train ...                                                   (arrives with training)
//
// Exit codes: 0 success, 1 a file or its contents were wrong, 2 the command line was.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/Npy.h"
#include "runtime/Parallel.h"
#include "runtime/ProgramTable.h"

namespace kiln::program {

namespace {
enum ExitCode { kSuccess = 0, kBadData = 1, kBadUsage = 2 };

// A failure: its message and the exit code it ends the program with.
struct Failure {
  ExitCode code;
  std::string message;
};
using Outcome = std::optional<Failure>;
Failure usageError(std::string message) { return {kBadUsage, std::move(message)}; }
Failure dataError(std::string message) { return {kBadData, std::move(message)}; }

std::string programName = "program";

constexpr std::string_view kDTypeNames[] = {"f32", "f64", "i32", "i64", "i1"};
constexpr npy::ElementType kElementTypes[] = {npy::ElementType::F32, npy::ElementType::F64, npy::ElementType::I32,
                                              npy::ElementType::I64, npy::ElementType::Bool};

std::string typeText(int32_t dtype, const int64_t *shape, size_t rank) {
  return fmt::format("{}[{}]", kDTypeNames[dtype], fmt::join(shape, shape + rank, ","));
}
std::string typeText(const KilnTensorInfo &info) { return typeText(info.dtype, info.shape, size_t(info.rank)); }
std::string typeText(const npy::Array &array) {
  int32_t dtype = 0;
  while (kElementTypes[dtype] != array.type) ++dtype;
  return typeText(dtype, array.shape.data(), array.shape.size());
}

bool matches(const KilnTensorInfo &info, const npy::Array &array) {
  return kElementTypes[info.dtype] == array.type &&
         std::equal(array.shape.begin(), array.shape.end(), info.shape, info.shape + info.rank);
}

npy::Array emptyArray(const KilnTensorInfo &info) {
  npy::Array array;
  array.type = kElementTypes[info.dtype];
  array.shape.assign(info.shape, info.shape + info.rank);
  array.data.resize(size_t(array.elementCount()) * npy::byteSize(array.type));
  return array;
}

std::span<const KilnFunctionInfo> functions() {
  return {kiln_program_table.functions, size_t(kiln_program_table.functionCount)};
}

std::string functionNames() {
  std::vector<std::string> names;
  for (const KilnFunctionInfo &function : functions()) names.push_back(function.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

const KilnFunctionInfo *findFunction(std::string_view name) {
  for (const KilnFunctionInfo &function : functions())
    if (name == function.name) return &function;
  return nullptr;
}

std::string signature(const KilnFunctionInfo &function) {
  std::vector<std::string> arguments, results;
  for (int32_t i = 0; i < function.argumentCount; ++i) {
    const KilnTensorInfo &argument = function.arguments[i];
    constexpr std::string_view kRoles[] = {"", "input ", "label ", "param ", "state "};
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
                  "  {0} predict --load PARAMS --input x.npy --output y.npy\n"
                  "      Runs @forward with its parameters read from PARAMS, a directory holding NAME.npy for\n"
                  "      every parameter NAME, on the input in x.npy (NAME=FILE.npy when there are several),\n"
                  "      and writes the result to y.npy.\n"
                  "  {0} train\n"
                  "      Not available yet.\n"
                  "\n"
                  "OPTIONS:\n"
                  "  --threads N   run on N threads (default: KILN_NUM_THREADS, else every core)\n"
                  "  --help        print this text\n"
                  "\n"
                  "EXIT CODES: 0 success, 1 a file or its contents were wrong, 2 the command line was wrong.\n"
                  "\n"
                  "FUNCTIONS:\n",
                  programName, kiln_program_table.modelName);
  for (const KilnFunctionInfo &function : functions()) text += fmt::format("  {}\n", signature(function));
  std::fputs(text.c_str(), stdout);
}

// The options of one command, in any order: each `--name value` (or `--name=value`) once, except
// the names in `repeatable`.
struct Options {
  std::map<std::string, std::vector<std::string>, std::less<>> values;

  const std::string *single(std::string_view name) const {
    auto found = values.find(name);
    return found == values.end() ? nullptr : &found->second.front();
  }
  std::vector<std::string> all(std::string_view name) const {
    auto found = values.find(name);
    return found == values.end() ? std::vector<std::string>{} : found->second;
  }
};

Outcome parseOptions(std::string_view command, std::vector<std::string_view> words,
                     std::span<const std::string_view> known, std::string_view repeatable, Options &options) {
  for (size_t i = 0; i < words.size(); ++i) {
    std::string_view word = words[i];
    if (!word.starts_with("--"))
      return usageError(fmt::format("{}: unexpected argument '{}' (options start with --)", command, word));
    std::string_view name = word.substr(2), value;
    bool inlineValue = false;
    if (size_t equals = name.find('='); equals != std::string_view::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      inlineValue = true;
    }
    if (std::find(known.begin(), known.end(), name) == known.end())
      return usageError(fmt::format("{}: unknown option --{} (its options: --{})", command, name,
                                    fmt::join(known.begin(), known.end(), ", --")));
    if (!inlineValue) {
      if (i + 1 == words.size()) return usageError(fmt::format("{}: --{} needs a value", command, name));
      value = words[++i];
    }
    auto &slot = options.values[std::string(name)];
    if (!slot.empty() && name != repeatable) return usageError(fmt::format("{}: --{} is given twice", command, name));
    slot.emplace_back(value);
  }
  return std::nullopt;
}

// Reads the .npy file for an argument and checks it against the argument's dtype and shape.
Outcome readArgument(const KilnFunctionInfo &function, const KilnTensorInfo &argument, const std::string &path,
                     npy::Array &array) {
  npy::Result<npy::Array> read = npy::read(path);
  if (!read) return dataError(fmt::format("argument %{}: {}", argument.name, read.error()));
  if (!matches(argument, *read))
    return dataError(fmt::format("argument %{} of @{} expects {}, but {} holds {}", argument.name, function.name,
                                 typeText(argument), path, typeText(*read)));
  array = std::move(*read);
  return std::nullopt;
}

// `files`: NAME=FILE.npy for arguments, matched to `function`'s arguments by name.
Outcome parseInputs(const KilnFunctionInfo &function, std::string_view command, const std::vector<std::string> &inputs,
                    std::map<std::string, std::string, std::less<>> &files) {
  for (const std::string &input : inputs) {
    size_t equals = input.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == input.size())
      return usageError(fmt::format("{}: --input '{}' should be NAME=FILE.npy", command, input));
    std::string name = input.substr(0, equals);
    bool known = false;
    std::vector<std::string> names;
    for (int32_t i = 0; i < function.argumentCount; ++i) {
      known |= name == function.arguments[i].name;
      names.push_back(std::string("%") + function.arguments[i].name);
    }
    if (!known)
      return usageError(fmt::format("{}: --input names %{}, which is not an argument of @{} (its arguments: {})",
                                    command, name, function.name,
                                    names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    if (!files.emplace(name, input.substr(equals + 1)).second)
      return usageError(fmt::format("{}: argument %{} is given twice with --input", command, name));
  }
  return std::nullopt;
}

// Calls the function on `arguments` (all checked) and returns its results.
std::vector<npy::Array> call(const KilnFunctionInfo &function, std::vector<npy::Array> &arguments) {
  std::vector<npy::Array> results;
  for (int32_t i = 0; i < function.resultCount; ++i) results.push_back(emptyArray(function.results[i]));
  std::vector<void *> argumentPointers, resultPointers;
  for (npy::Array &argument : arguments) argumentPointers.push_back(argument.data.data());
  for (npy::Array &result : results) resultPointers.push_back(result.data.data());
  function.entry(argumentPointers.data(), resultPointers.data());
  return results;
}

Outcome writeArray(const std::string &path, const npy::Array &array) {
  // Through a temporary file and a rename, so that a failure never leaves half a file.
  std::string temporary = path + ".partial";
  if (std::string error = npy::write(temporary, array); !error.empty()) {
    std::filesystem::remove(temporary);
    if (error.starts_with(temporary)) error.replace(0, temporary.size(), path);
    return dataError(error);
  }
  std::error_code status;
  std::filesystem::rename(temporary, path, status);
  if (status) {
    std::filesystem::remove(temporary);
    return dataError(fmt::format("{}: cannot write the file: {}", path, status.message()));
  }
  return std::nullopt;
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

// Where predict's parameters come from. A directory of NAME.npy files for now; a checkpoint file
// (.npz) gets its reader here, returning the same arrays.
Outcome loadParameter(const std::string &source, const KilnFunctionInfo &function, const KilnTensorInfo &parameter,
                      npy::Array &array) {
  std::error_code status;
  if (!std::filesystem::is_directory(source, status)) {
    if (!std::filesystem::exists(source, status)) return dataError(fmt::format("--load {}: no such directory", source));
    return dataError(fmt::format("--load {}: not a directory (give a directory holding NAME.npy for every parameter; "
                                 "checkpoint files are not supported yet)",
                                 source));
  }
  std::string path = (std::filesystem::path(source) / (std::string(parameter.name) + ".npy")).string();
  if (!std::filesystem::exists(path, status))
    return dataError(
        fmt::format("--load {}: parameter %{} ({}) has no file {}", source, parameter.name, typeText(parameter), path));
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
  if (!load) return usageError("predict: give --load PARAMS, the directory holding the parameters");
  if (!output) return usageError("predict: give --output FILE.npy, the file the prediction is written to");

  std::vector<const KilnTensorInfo *> inputs;
  for (int32_t i = 0; i < function->argumentCount; ++i)
    if (function->arguments[i].role != KILN_ROLE_PARAMETER) inputs.push_back(&function->arguments[i]);
  // With a single input, --input x.npy; with several, NAME=FILE.npy each.
  std::vector<std::string> given = options.all("input");
  if (inputs.size() == 1 && given.size() == 1 && given[0].find('=') == std::string::npos)
    given[0] = std::string(inputs[0]->name) + "=" + given[0];
  std::map<std::string, std::string, std::less<>> files;
  if (Outcome failure = parseInputs(*function, "predict", given, files)) return failure;

  for (int32_t i = 0; i < function->argumentCount; ++i)
    if (function->arguments[i].role == KILN_ROLE_PARAMETER && files.count(function->arguments[i].name))
      return usageError(
          fmt::format("predict: %{} is a parameter, read from --load, not an --input", function->arguments[i].name));
  std::vector<npy::Array> arguments(size_t(function->argumentCount));
  for (int32_t i = 0; i < function->argumentCount; ++i) {
    const KilnTensorInfo &argument = function->arguments[i];
    if (argument.role == KILN_ROLE_PARAMETER) {
      if (Outcome failure = loadParameter(*load, *function, argument, arguments[i])) return failure;
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

Outcome setThreads(std::string_view text) {
  int count = 0;
  auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (status != std::errc() || end != text.data() + text.size() || count < 1)
    return usageError(fmt::format("--threads expects a positive integer, not '{}'", text));
  kiln_set_thread_count(count);
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
    return usageError(fmt::format("give a command: run, predict or train (see {} --help)", programName));
  std::string_view command = words.front();
  words.erase(words.begin());
  if (command == "run") return runCommand(words);
  if (command == "predict") return predictCommand(words);
  if (command == "train") return usageError("train: training is not available in this program yet");
  return usageError(
      fmt::format("unknown command '{}' (the commands: run, predict, train; see {} --help)", command, programName));
}
}  // namespace

}  // namespace kiln::program

int main(int argc, char **argv) {
  if (argc > 0) kiln::program::programName = std::filesystem::path(argv[0]).filename().string();
  std::optional<kiln::program::Failure> failure = kiln::program::runProgram(argc, argv);
  if (!failure) return 0;
  std::fprintf(stderr, "%s: error: %s\n", kiln::program::programName.c_str(), failure->message.c_str());
  return failure->code;
}
