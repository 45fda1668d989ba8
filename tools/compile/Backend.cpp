// The backend's steps after outline-kernels, each timed by the model's StepRunner.
//
// 1. lower-to-llvm: every func that lowers, with its kernels, to one LLVM module (a func with an
//    op that has no lowering rule yet is left out with a warning; none left is an error); a
//    library gets its C functions, every other output the runtime's function table.
// 2. llvm-optimize: LLVM's O0..O3 pipeline for the target.
// 3. codegen: assembly or an object for the target.
// 4. link (a program: the object, libkiln_main.a, libkiln_runtime_formats.a and libkiln_runtime.a through the system
// C++
//    compiler driver) or archive (a library: the object and the runtime's members in one .a,
//    with its header next to it).
#include "tools/compile/Backend.h"

#include <fmt/format.h>
#include <llvm/Object/Archive.h>
#include <llvm/Object/ArchiveWriter.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/FileUtilities.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>
#include <llvm/Support/ToolOutputFile.h>

#include "backends/cpu/Compile.h"
#include "backends/cpu/Exports.h"
#include "backends/cpu/Jit.h"
#include "backends/cpu/MemoryPlan.h"

namespace kiln {

namespace {
constexpr const char *kRuntimeLibrary = "libkiln_runtime.a";
constexpr const char *kMainLibrary = "libkiln_main.a";
// The .npz, IDX and checkpoint formats the training loop reads, through libzip and zlib.
constexpr const char *kFormatsLibrary = "libkiln_runtime_formats.a";
// What the runtime needs besides the C++ standard library the driver adds.
constexpr const char *kSystemLibraries[] = {"-lzip", "-lz", "-lfmt", "-lpthread", "-lm"};

// The funcs that lower on their own; each other one is reported on `errors` and left out.
llvm::Expected<std::vector<const Function *>> lowerableFunctions(const Module &module, const cpu::Target &target,
                                                                 llvm::raw_ostream &errors) {
  std::vector<const Function *> lowerable;
  for (const auto &function : module.functions()) {
    if (function->isKernel()) continue;
    llvm::LLVMContext scratch;
    auto lowered = cpu::compileModule(module, target, scratch, function.get());
    if (lowered) {
      lowerable.push_back(function.get());
      continue;
    }
    errors << fmt::format("kiln: warning: @{} is left out: {}\n", function->name(),
                          llvm::toString(lowered.takeError()));
  }
  if (lowerable.empty()) return llvm::createStringError("no function of the model lowers to native code yet");
  return lowerable;
}

llvm::Error writeFile(llvm::StringRef path, llvm::StringRef bytes, llvm::sys::fs::OpenFlags flags) {
  std::error_code status;
  llvm::ToolOutputFile output(path, status, flags);
  if (status) return llvm::createStringError(fmt::format("cannot write '{}': {}", path.str(), status.message()));
  output.os() << bytes;
  output.os().close();
  if (output.os().has_error())
    return llvm::createStringError(fmt::format("cannot write '{}': {}", path.str(), output.os().error().message()));
  output.keep();
  return llvm::Error::success();
}

llvm::Expected<std::string> runtimeFile(const BackendOptions &options, const char *name) {
  llvm::SmallString<256> path(options.runtimeDirectory);
  llvm::sys::path::append(path, name);
  if (!llvm::sys::fs::is_regular_file(path))
    return llvm::createStringError(
        fmt::format("cannot find the runtime library '{}' (it is built next to kiln, in ../lib/)", path.str().str()));
  return std::string(path);
}

// The object and the runtime's members in one archive, so that a program embedding the model
// links one library.
llvm::Error writeLibrary(const BackendOptions &options, llvm::StringRef object) {
  auto runtimePath = runtimeFile(options, kRuntimeLibrary);
  if (!runtimePath) return runtimePath.takeError();
  auto runtimeBuffer = llvm::MemoryBuffer::getFile(*runtimePath);
  if (!runtimeBuffer)
    return llvm::createStringError(
        fmt::format("cannot read '{}': {}", *runtimePath, runtimeBuffer.getError().message()));
  auto runtime = llvm::object::Archive::create((*runtimeBuffer)->getMemBufferRef());
  if (!runtime) return runtime.takeError();

  std::vector<llvm::NewArchiveMember> members;
  std::string objectName = (llvm::sys::path::stem(options.outputPath) + ".o").str();
  members.emplace_back(llvm::MemoryBufferRef(object, objectName));
  llvm::Error childError = llvm::Error::success();
  for (const llvm::object::Archive::Child &child : (*runtime)->children(childError)) {
    auto member = llvm::NewArchiveMember::getOldMember(child, /*Deterministic=*/true);
    if (!member) return member.takeError();
    members.push_back(std::move(*member));
  }
  if (childError) return childError;
  if (llvm::Error error = llvm::writeArchive(options.outputPath, members, llvm::SymtabWritingMode::NormalSymtab,
                                             llvm::object::Archive::K_GNU, /*Deterministic=*/true, /*Thin=*/false))
    return llvm::createStringError(
        fmt::format("cannot write '{}': {}", options.outputPath, llvm::toString(std::move(error))));
  return llvm::Error::success();
}

// The program: the object linked with the runtime's main and library by the system's `c++`.
llvm::Error linkProgram(const BackendOptions &options, llvm::StringRef object) {
  auto mainPath = runtimeFile(options, kMainLibrary);
  if (!mainPath) return mainPath.takeError();
  auto runtimePath = runtimeFile(options, kRuntimeLibrary);
  if (!runtimePath) return runtimePath.takeError();
  auto formatsPath = runtimeFile(options, kFormatsLibrary);
  if (!formatsPath) return formatsPath.takeError();
  llvm::ErrorOr<std::string> driver = llvm::sys::findProgramByName("c++");
  if (!driver)
    return llvm::createStringError(fmt::format("cannot link '{}': no C++ compiler driver 'c++' on PATH (install g++ or "
                                               "clang, or use --emit=obj or --emit=lib)",
                                               options.outputPath));

  llvm::SmallString<256> objectPath;
  if (std::error_code status = llvm::sys::fs::createTemporaryFile("kiln-model", "o", objectPath))
    return llvm::createStringError(fmt::format("cannot create a temporary object file: {}", status.message()));
  llvm::FileRemover removeObject(objectPath);
  if (llvm::Error error = writeFile(objectPath, object, llvm::sys::fs::OF_None)) return error;

  std::vector<llvm::StringRef> arguments{*driver, objectPath, *mainPath, *formatsPath, *runtimePath};
  arguments.insert(arguments.end(), std::begin(kSystemLibraries), std::end(kSystemLibraries));
  arguments.insert(arguments.end(), {"-o", options.outputPath});
  std::string message;
  int status = llvm::sys::ExecuteAndWait(*driver, arguments, std::nullopt, {}, 0, 0, &message);
  if (status != 0)
    return llvm::createStringError(
        fmt::format("cannot link '{}': {} {}", options.outputPath, *driver,
                    status < 0 ? "could not run: " + message : fmt::format("failed with exit code {}", status)));
  return llvm::Error::success();
}
}  // namespace

std::string runtimeDirectory(const char *argv0, void *addressInKiln) {
  std::string executable = llvm::sys::fs::getMainExecutable(argv0, addressInKiln);
  llvm::SmallString<256> directory(llvm::sys::path::parent_path(llvm::sys::path::parent_path(executable)));
  llvm::sys::path::append(directory, "lib");
  return std::string(directory);
}

llvm::Error buildModel(CompiledModel &model, const BackendOptions &options, llvm::raw_ostream &errors) {
  StepRunner &steps = *model.steps;
  auto target = cpu::Target::create(options.target);
  if (!target) return target.takeError();
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> lowered;
  std::vector<const Function *> functions;
  if (auto error = steps.run("lower-to-llvm", nullptr, [&]() -> llvm::Error {
        auto lowerable = lowerableFunctions(*model.module, **target, errors);
        if (!lowerable) return lowerable.takeError();
        functions = std::move(*lowerable);
        cpu::ModuleOptions moduleOptions;
        moduleOptions.entries = functions;
        moduleOptions.externalEntries = false;
        moduleOptions.planMemory = options.planMemory;
        moduleOptions.debugInfoFile = options.debugInfoFile;
        // Everything but a library carries the table, which keeps the entries alive: an object
        // linked with libkiln_main.a is the program, and LLVM IR or assembly shows what it holds.
        if (options.output != BackendOutput::Library) moduleOptions.programTableModel = options.modelName;
        if (options.output == BackendOutput::Library) moduleOptions.libraryPrefix = options.libraryPrefix;
        auto compiled = cpu::compileModule(*model.module, **target, context, moduleOptions);
        if (!compiled) return compiled.takeError();
        lowered = std::move(*compiled);
        return llvm::Error::success();
      }))
    return error;
  if (auto error = steps.run("llvm-optimize", nullptr, [&] { return cpu::optimizeModule(*lowered, **target); }))
    return error;
  if (options.output == BackendOutput::Llvm) {
    std::string text;
    llvm::raw_string_ostream stream(text);
    lowered->print(stream, nullptr);
    return writeFile(options.outputPath, text, llvm::sys::fs::OF_Text);
  }

  llvm::SmallVector<char, 0> code;
  auto kind = options.output == BackendOutput::Assembly ? cpu::OutputKind::Assembly : cpu::OutputKind::Object;
  if (auto error = steps.run("codegen", nullptr, [&]() -> llvm::Error {
        auto generated = cpu::generateMachineCode(*lowered, **target, kind);
        if (!generated) return generated.takeError();
        code = std::move(*generated);
        return llvm::Error::success();
      }))
    return error;
  llvm::StringRef bytes(code.data(), code.size());
  switch (options.output) {
  case BackendOutput::Assembly: return writeFile(options.outputPath, bytes, llvm::sys::fs::OF_Text);
  case BackendOutput::Object: return writeFile(options.outputPath, bytes, llvm::sys::fs::OF_None);
  case BackendOutput::Library:
    return steps.run("archive", nullptr, [&]() -> llvm::Error {
      if (auto error = writeLibrary(options, bytes)) return error;
      llvm::SmallString<256> header(options.outputPath);
      llvm::sys::path::replace_extension(header, "h");
      return writeFile(header, cpu::libraryHeader(functions, options.libraryPrefix, options.modelName),
                       llvm::sys::fs::OF_Text);
    });
  case BackendOutput::Program: return steps.run("link", nullptr, [&] { return linkProgram(options, bytes); });
  case BackendOutput::Llvm: break;
  }
  return llvm::Error::success();
}

llvm::Error runModel(CompiledModel &model, const RunOptions &run, const cpu::TargetOptions &targetOptions,
                     bool planMemory, llvm::raw_ostream &out) {
  auto target = cpu::Target::create(targetOptions);
  if (!target) return target.takeError();
  StepRunner &steps = *model.steps;
  return runFunction(
      *model.module, run, out,
      [&](const Function &function, std::span<const Tensor> arguments) -> llvm::Expected<std::vector<Tensor>> {
        auto context = std::make_unique<llvm::LLVMContext>();
        std::unique_ptr<llvm::Module> lowered;
        if (auto error = steps.run("lower-to-llvm", nullptr, [&]() -> llvm::Error {
              cpu::ModuleOptions moduleOptions;
              moduleOptions.entries = {&function};
              moduleOptions.planMemory = planMemory;
              auto compiled = cpu::compileModule(*model.module, **target, *context, moduleOptions);
              if (!compiled) return compiled.takeError();
              lowered = std::move(*compiled);
              return llvm::Error::success();
            }))
          return error;
        std::unique_ptr<cpu::CompiledModule> compiled;
        if (auto error = steps.run("jit", nullptr, [&]() -> llvm::Error {
              auto created = cpu::CompiledModule::create(std::move(lowered), std::move(context), **target);
              if (!created) return created.takeError();
              compiled = std::move(*created);
              return llvm::Error::success();
            }))
          return error;
        std::vector<Tensor> results;
        if (auto error = steps.run("run", nullptr, [&]() -> llvm::Error {
              auto ran = compiled->run(function, arguments);
              if (!ran) return ran.takeError();
              results = std::move(*ran);
              return llvm::Error::success();
            }))
          return error;
        return results;
      });
}

llvm::Error printMemoryPlans(const Module &module, const cpu::TargetOptions &targetOptions, llvm::raw_ostream &out) {
  auto target = cpu::Target::create(targetOptions);
  if (!target) return target.takeError();
  for (const auto &function : module.functions()) {
    if (function->isKernel()) continue;
    cpu::MemoryPlan plan = cpu::planMemory(module, *function);
    // Each func lowered alone, as lowerableFunctions does: one that does not lower still has its
    // plan, without the temporaries of its kernels.
    llvm::LLVMContext context;
    auto lowered = cpu::compileModule(module, **target, context, function.get());
    if (!lowered) {
      cpu::printMemoryPlan(*function, plan, out);
      out << fmt::format("  peak: unknown, @{} does not lower: {}\n", function->name(),
                         llvm::toString(lowered.takeError()));
      continue;
    }
    cpu::PeakMemory peak = cpu::peakMemory(module, *function, plan, **lowered);
    cpu::printMemoryPlan(*function, plan, out, &peak);
  }
  return llvm::Error::success();
}

}  // namespace kiln
