// Shared command-line handling of the tools.
#include "tools/compile/ToolOptions.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/PrintPasses.h>
#include <llvm/Pass.h>
#include <range/v3/algorithm/find.hpp>

namespace kiln {

namespace {
constexpr const char *kAdopted[] = {"print-after-all", "print-after", "time-passes"};
// The kinds of remark some pass makes.
constexpr std::string_view kRemarkKinds[] = {"fusion"};

llvm::cl::list<std::string> remarkKinds("remarks",
                                        llvm::cl::desc("Print the passes' remarks of these kinds at the model lines "
                                                       "they concern: fusion (each producer-consumer edge of the "
                                                       "fuse pass, fused or not and why)"),
                                        llvm::cl::CommaSeparated, llvm::cl::value_desc("kind"));
}  // namespace

void adoptPipelineOptions(llvm::cl::OptionCategory &category, llvm::StringRef tool) {
  auto &registered = llvm::cl::getRegisteredOptions();
  for (const char *name : kAdopted)
    if (auto it = registered.find(name); it != registered.end()) {
      it->second->addCategory(category);
      it->second->setHiddenFlag(llvm::cl::NotHidden);
    }
  remarkKinds.addCategory(category);
  static std::string toolName;
  toolName = tool.str();
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &out) {
    out << fmt::format("{} (Kiln) {}\n  built with LLVM {}\n", toolName, KILN_VERSION, LLVM_VERSION_STRING);
  });
}

llvm::Expected<PassManagerOptions> takePipelineOptions(std::span<const std::string> stepNames) {
  PassManagerOptions options;
  options.printAfterAll = llvm::shouldPrintAfterAll();
  options.printAfter = llvm::printAfterPasses();
  options.timePasses = llvm::TimePassesIsEnabled;
  for (const std::string &name : options.printAfter)
    if (ranges::find(stepNames, name) == stepNames.end())
      return llvm::createStringError(
          fmt::format("--print-after={}: no such step; the steps are {}", name, fmt::join(stepNames, ", ")));
  for (const std::string &kind : remarkKinds) {
    if (ranges::find(kRemarkKinds, kind) == std::end(kRemarkKinds))
      return llvm::createStringError(
          fmt::format("--remarks={}: no such kind of remark; the kinds are {}", kind, fmt::join(kRemarkKinds, ", ")));
    options.remarkKinds.push_back(kind);
  }
  auto &registered = llvm::cl::getRegisteredOptions();
  for (const char *name : {"print-after-all", "print-after"})
    if (auto it = registered.find(name); it != registered.end()) it->second->setDefault();
  return options;
}

void printRemarks(const PassManagerOptions &options, std::span<const Remark> remarks, Diagnostics &diagnostics) {
  for (const Remark &remark : remarks)
    if (ranges::find(options.remarkKinds, remark.kind) != options.remarkKinds.end())
      diagnostics.remark(remark.location, remark.message);
}

}  // namespace kiln
