// `kiln-opt --run` and `--jit`: picks the function, reads its arguments from .npy or .npz files, evaluates it
// and writes the results as .npy files or prints them as text.
#include "backends/interpreter/RunFunction.h"

#include <cstring>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

#include "backends/interpreter/Interpreter.h"
#include "backends/interpreter/Rules.h"
#include "runtime/Npz.h"

namespace kiln {

namespace {
DType dtypeOf(npy::ElementType type) {
  switch (type) {
  case npy::ElementType::F32: return DType::F32;
  case npy::ElementType::F64: return DType::F64;
  case npy::ElementType::I32: return DType::I32;
  case npy::ElementType::I64: return DType::I64;
  case npy::ElementType::Bool: return DType::I1;
  }
  llvm_unreachable("unknown npy element type");
}

npy::ElementType elementTypeOf(DType dtype) {
  switch (dtype) {
  case DType::F32: return npy::ElementType::F32;
  case DType::F64: return npy::ElementType::F64;
  case DType::I32: return npy::ElementType::I32;
  case DType::I64: return npy::ElementType::I64;
  case DType::I1: return npy::ElementType::Bool;
  }
  llvm_unreachable("unknown dtype");
}

llvm::Expected<const Function *> chooseFunction(const Module &module, const std::string &name) {
  // Kernels are run through the funcs that call them, so only funcs are offered, if any.
  std::vector<std::string> names;
  for (const auto &function : module.functions())
    if (!function->isKernel()) names.push_back("@" + function->name());
  if (names.empty())
    for (const auto &function : module.functions()) names.push_back("@" + function->name());
  if (!name.empty()) {
    if (const Function *function = module.lookup(name)) return function;
    return llvm::createStringError(
        fmt::format("no function @{} in the module (it has {})", name, fmt::join(names, ", ")));
  }
  if (names.size() == 1) return module.lookup(names[0].substr(1));
  if (names.empty()) return llvm::createStringError("the module has no function to run");
  return llvm::createStringError(fmt::format("the module has {} functions ({}); choose one with --function",
                                             names.size(), fmt::join(names, ", ")));
}

// NAME=FILE.npy reads the file; NAME=FILE.npz reads the array called NAME in the archive.
npy::Result<npy::Array> readInput(const std::string &name, const std::string &path) {
  if (!llvm::StringRef(path).ends_with(".npz")) return npy::read(path);
  npy::Result<std::vector<npz::NamedArray>> arrays = npz::read(path);
  if (!arrays) return npy::Result<npy::Array>::failure(arrays.error());
  return npz::find(*arrays, name, path);
}

// One tensor per argument of `function`, read from the file named for it in NAME=FILE.
llvm::Expected<std::vector<Tensor>> readArguments(const Function &function, const std::vector<std::string> &inputs) {
  std::map<std::string, std::string, std::less<>> files;
  for (const std::string &input : inputs) {
    size_t equals = input.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == input.size())
      return llvm::createStringError(fmt::format("--input '{}' should be NAME=FILE.npy", input));
    std::string name = input.substr(0, equals);
    if (!name.empty() && name[0] == '%') name.erase(0, 1);
    bool isArgument = false;
    for (const auto &argument : function.arguments()) isArgument |= argument->name() == name;
    if (!isArgument) {
      std::vector<std::string> names;
      for (const auto &argument : function.arguments()) names.push_back("%" + argument->name());
      return llvm::createStringError(
          fmt::format("--input names %{}, which is not an argument of @{} (its arguments: {})", name, function.name(),
                      names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    if (!files.emplace(name, input.substr(equals + 1)).second)
      return llvm::createStringError(fmt::format("argument %{} is given twice with --input", name));
  }
  std::vector<Tensor> arguments;
  for (const auto &argument : function.arguments()) {
    auto file = files.find(argument->name());
    if (file == files.end())
      return llvm::createStringError(fmt::format("argument %{} of @{} ({}) has no --input {}=FILE.npy",
                                                 argument->name(), function.name(), toString(argument->type()),
                                                 argument->name()));
    npy::Result<npy::Array> array = readInput(argument->name(), file->second);
    if (!array) return llvm::createStringError(fmt::format("argument %{}: {}", argument->name(), array.error()));
    llvm::Expected<Tensor> tensor = tensorFromNpy(*array);
    if (!tensor)
      return llvm::createStringError(
          fmt::format("argument %{}: {}: {}", argument->name(), file->second, llvm::toString(tensor.takeError())));
    if (tensor->type() != argument->type())
      return llvm::createStringError(fmt::format("argument %{} of @{} expects {}, but {} holds {}", argument->name(),
                                                 function.name(), toString(argument->type()), file->second,
                                                 toString(tensor->type())));
    arguments.push_back(std::move(*tensor));
  }
  return arguments;
}

llvm::Error writeResults(const std::vector<Tensor> &results, const std::string &directory) {
  if (std::error_code error = llvm::sys::fs::create_directories(directory))
    return llvm::createStringError(
        fmt::format("cannot create the output directory {}: {}", directory, error.message()));
  for (size_t i = 0; i < results.size(); ++i) {
    llvm::SmallString<256> path(directory);
    llvm::sys::path::append(path, fmt::format("result{}.npy", i));
    if (std::string error = npy::write(std::string(path), npyFromTensor(results[i])); !error.empty())
      return llvm::createStringError(error);
  }
  return llvm::Error::success();
}
}  // namespace

llvm::Expected<Tensor> tensorFromNpy(const npy::Array &array) {
  TensorType type{dtypeOf(array.type), array.shape};
  if (llvm::Error error = checkTensorSize(type)) return error;
  Tensor tensor(type);
  interpreter::visitDType(type.dtype, [&](auto zero) {
    using T = decltype(zero);
    if (!array.data.empty()) std::memcpy(tensor.values<T>().data(), array.data.data(), array.data.size());
  });
  return tensor;
}

npy::Array npyFromTensor(const Tensor &tensor) {
  npy::Array array;
  array.type = elementTypeOf(tensor.dtype());
  array.shape = tensor.shape();
  array.data.resize(tensor.elementCount() * npy::byteSize(array.type));
  interpreter::visitDType(tensor.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if (!array.data.empty()) std::memcpy(array.data.data(), tensor.values<T>().data(), array.data.size());
  });
  return array;
}

llvm::Error runFunction(const Module &module, const RunOptions &options, llvm::raw_ostream &out, Evaluator evaluate) {
  llvm::Expected<const Function *> function = chooseFunction(module, options.functionName);
  if (!function) return function.takeError();
  llvm::Expected<std::vector<Tensor>> arguments = readArguments(**function, options.inputs);
  if (!arguments) return arguments.takeError();
  llvm::Expected<std::vector<Tensor>> results =
      evaluate ? evaluate(**function, *arguments) : interpret(**function, *arguments);
  if (!results) return results.takeError();
  if (!options.outputDirectory.empty()) return writeResults(*results, options.outputDirectory);
  for (size_t i = 0; i < results->size(); ++i) out << "result " << i << ": " << toString((*results)[i]) << "\n";
  return llvm::Error::success();
}

}  // namespace kiln
