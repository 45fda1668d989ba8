// What the commands of a built program share: see ProgramSupport.h.
#include "runtime/ProgramSupport.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln::program {

std::string programName = "program";

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

Outcome parseCount(std::string_view option, std::string_view text, int64_t minimum, int64_t &count, int64_t maximum) {
  int64_t parsed = 0;
  auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (status != std::errc() || end != text.data() + text.size() || parsed < minimum || parsed > maximum)
    return usageError(fmt::format("--{} expects {}, not '{}'", option,
                                  minimum == 1           ? std::string("a positive integer")
                                  : minimum == INT64_MIN ? std::string("an integer")
                                                         : fmt::format("an integer of at least {}", minimum),
                                  text));
  count = parsed;
  return std::nullopt;
}

Outcome parseCount(const Options &options, std::string_view option, int64_t minimum, int64_t &count, int64_t maximum) {
  const std::string *text = options.single(option);
  return text ? parseCount(option, *text, minimum, count, maximum) : std::nullopt;
}

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

Outcome writeText(const std::string &path, const std::string &text) {
  std::string temporary = path + ".partial";
  std::FILE *file = std::fopen(temporary.c_str(), "wb");
  bool written = file && std::fwrite(text.data(), 1, text.size(), file) == text.size();
  written = file && std::fclose(file) == 0 && written;
  std::error_code status;
  if (written) std::filesystem::rename(temporary, path, status);
  if (!written || status) {
    std::filesystem::remove(temporary, status);
    return dataError(fmt::format("{}: cannot write the file", path));
  }
  return std::nullopt;
}

}  // namespace kiln::program
