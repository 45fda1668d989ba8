// libFuzzer target: IR text through the parser and the verifier; what verifies is printed and
// must parse back to the same text, then goes through every registered pass, after each of
// which it must still verify. A pass may refuse a module (an llvm::Error), never break one.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <llvm/Support/raw_ostream.h>

#include "backends/interpreter/Tensor.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"

namespace {
// Reports a broken invariant the way libFuzzer records a crash, with the text that broke it.
[[noreturn]] void fail(const char *what, const std::string &text) {
  std::fprintf(stderr, "fuzz-ir: %s\n%s\n", what, text.c_str());
  std::abort();
}

// The order kiln's compile pipeline and typical kiln-opt runs use, then the kernel outlining.
constexpr std::string_view kPasses[] = {"inline", "simplify",       "constant-fold",  "cse",
                                        "dce",    "autodiff",       "simplify",       "cse",
                                        "dce",    "merge-products", "outline-kernels"};
}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  // Constant folding evaluates ops: keep the tensors it may build small.
  kiln::setTensorByteLimit(int64_t{1} << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<std::unique_ptr<kiln::Module>> parsed = kiln::parseModule(text, "fuzz.kir");
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return 0;
  }
  kiln::Module &module = **parsed;
  if (!kiln::verify(module).empty()) return 0;

  std::string printed = kiln::toString(module);
  llvm::Expected<std::unique_ptr<kiln::Module>> reparsed = kiln::parseModule(printed, "printed.kir");
  if (!reparsed) {
    std::string message = llvm::toString(reparsed.takeError());
    fail("the printed module does not parse", printed + "\n" + message);
  }
  if (kiln::toString(**reparsed) != printed) fail("the printed module prints differently", printed);

  for (std::string_view name : kPasses) {
    const kiln::PassInfo *pass = kiln::lookupPass(name);
    if (llvm::Error error = pass->run(module, {})) {
      llvm::consumeError(std::move(error));
      return 0;
    }
    if (std::vector<kiln::ProblemAtOp> problems = kiln::verify(module); !problems.empty())
      fail(("pass " + std::string(name) + " broke the module: " + problems.front().message).c_str(),
           kiln::toString(module));
  }
  return 0;
}
