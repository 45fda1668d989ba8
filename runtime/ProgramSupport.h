// What the commands of a built program share (runtime/Program.cpp, runtime/Train.cpp): failures
// with their exit codes, the function table read as tensors, options, and .npy arguments and
// results.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/Npy.h"
#include "runtime/ProgramTable.h"

namespace kiln::program {

// 130 is what a shell reports for a program ended by Ctrl-C.
enum ExitCode { kSuccess = 0, kBadData = 1, kBadUsage = 2, kInterrupted = 130 };

// A failure: its message and the exit code it ends the program with.
struct Failure {
  ExitCode code;
  std::string message;
};
using Outcome = std::optional<Failure>;
inline Failure usageError(std::string message) { return {kBadUsage, std::move(message)}; }
inline Failure dataError(std::string message) { return {kBadData, std::move(message)}; }

// The program's file name, for messages and --help.
extern std::string programName;

inline constexpr std::string_view kDTypeNames[] = {"f32", "f64", "i32", "i64", "i1"};
inline constexpr npy::ElementType kElementTypes[] = {
    npy::ElementType::F32, npy::ElementType::F64, npy::ElementType::I32, npy::ElementType::I64, npy::ElementType::Bool};

// `f32[32,64]`.
std::string typeText(int32_t dtype, const int64_t *shape, size_t rank);
std::string typeText(const KilnTensorInfo &info);
std::string typeText(const npy::Array &array);
bool matches(const KilnTensorInfo &info, const npy::Array &array);
// Zeroed elements of the tensor's dtype and shape.
npy::Array emptyArray(const KilnTensorInfo &info);

std::span<const KilnFunctionInfo> functions();
std::string functionNames();
const KilnFunctionInfo *findFunction(std::string_view name);

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
                     std::span<const std::string_view> known, std::string_view repeatable, Options &options);

// An integer option's value, in [minimum, maximum]; otherwise a usage error naming the option.
Outcome parseCount(std::string_view option, std::string_view text, int64_t minimum, int64_t &count,
                   int64_t maximum = INT64_MAX);
// The same for an option that may be absent: then `count` keeps its value.
Outcome parseCount(const Options &options, std::string_view option, int64_t minimum, int64_t &count,
                   int64_t maximum = INT64_MAX);

// Reads the .npy file for an argument and checks it against the argument's dtype and shape.
Outcome readArgument(const KilnFunctionInfo &function, const KilnTensorInfo &argument, const std::string &path,
                     npy::Array &array);
// `inputs`: NAME=FILE.npy for arguments, matched to `function`'s arguments by name.
Outcome parseInputs(const KilnFunctionInfo &function, std::string_view command, const std::vector<std::string> &inputs,
                    std::map<std::string, std::string, std::less<>> &files);

// Calls the function on `arguments` (all checked) and returns its results.
std::vector<npy::Array> call(const KilnFunctionInfo &function, std::vector<npy::Array> &arguments);
// Writes through a temporary file and a rename, so that a failure never leaves half a file.
Outcome writeArray(const std::string &path, const npy::Array &array);
Outcome writeText(const std::string &path, const std::string &text);

}  // namespace kiln::program
