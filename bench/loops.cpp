// Loop-kernel benchmark: softmax and sums through Kiln's loop kernels, on 1 and 2 threads, as
// ns per input element and GB/s moved (input read once plus output written once), side by side
// with a plain C++ loop over the same data compiled with the project's flags (the peer; scalar,
// one thread, double accumulation like the interpreter) and a read-only pass over the input
// (the memory ceiling). Memory-bound work: the FMA peak is no yardstick here. Run on demand
// (bench/run.sh loops), never in CI.
//
//   loops [--rounds N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/Compile.h"
#include "backends/cpu/Jit.h"
#include "ir/Parser.h"
#include "runtime/Parallel.h"

namespace {

struct Case {
  const char *name;
  int64_t rows, columns;  // the f32 input is rows × columns
  const char *op;         // IR of the op, over %x
  int64_t outputElements;
  std::function<void(const float *, float *, int64_t, int64_t)> peer;
};

void peerSoftmax(const float *x, float *y, int64_t rows, int64_t columns) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * columns;
    double maximum = -HUGE_VAL, sum = 0;
    for (int64_t c = 0; c < columns; ++c) maximum = std::max<double>(maximum, row[c]);
    for (int64_t c = 0; c < columns; ++c) sum += std::exp(double(row[c]) - maximum);
    for (int64_t c = 0; c < columns; ++c) y[r * columns + c] = float(std::exp(double(row[c]) - maximum) / sum);
  }
}

void peerSumRows(const float *x, float *y, int64_t rows, int64_t columns) {
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < columns; ++c) sum += x[r * columns + c];
    y[r] = float(sum);
  }
}

void peerSumColumns(const float *x, float *y, int64_t rows, int64_t columns) {
  std::vector<double> sums(size_t(columns), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < columns; ++c) sums[size_t(c)] += x[r * columns + c];
  for (int64_t c = 0; c < columns; ++c) y[c] = float(sums[size_t(c)]);
}

// Best time of `rounds` rounds, each repeating `body` for at least 50 ms; in seconds per call.
double timeIt(int rounds, const std::function<void()> &body) {
  body();
  double best = 1e30;
  for (int round = 0; round < rounds; ++round) {
    int64_t calls = 0;
    auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
      body();
      ++calls;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < 0.05);
    best = std::min(best, elapsed / double(calls));
  }
  return best;
}

}  // namespace

int main(int argc, char **argv) {
  int rounds = 5;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);

  const std::vector<Case> cases = {
      {"softmax [256,1024] axis 1", 256, 1024, "softmax %x {axis = 1} : f32[256,1024]", 256 * 1024, peerSoftmax},
      {"sum [1024,1024] axis 0", 1024, 1024, "sum %x {axes = [0]} : f32[1024]", 1024, peerSumColumns},
      {"sum [1024,1024] axis 1", 1024, 1024, "sum %x {axes = [1]} : f32[1024]", 1024, peerSumRows},
  };
  auto target = kiln::cpu::Target::create();
  if (!target) {
    fmt::print(stderr, "loops: {}\n", llvm::toString(target.takeError()));
    return 1;
  }
  fmt::print("host {}, {}-bit vectors preferred; best of {} rounds\n", (*target)->cpuName(),
             (*target)->preferredVectorBits(), rounds);
  fmt::print("{:<28} {:<22} {:>10} {:>8}\n", "case", "code", "ns/elem", "GB/s");
  std::mt19937 random(7);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  for (const Case &c : cases) {
    std::string resultType = std::string(c.op).substr(std::string(c.op).rfind(": ") + 2);
    std::string text = fmt::format("kernel @k(%x: f32[{},{}]) -> {} {{\n  %r = {}\n  return %r\n}}\n", c.rows,
                                   c.columns, resultType, c.op);
    auto module = kiln::parseModule(text);
    if (!module) {
      fmt::print(stderr, "loops: {}\n", llvm::toString(module.takeError()));
      return 1;
    }
    auto context = std::make_unique<llvm::LLVMContext>();
    auto compiled = kiln::cpu::compileModule(**module, **target, *context);
    if (!compiled) {
      fmt::print(stderr, "loops: {}\n", llvm::toString(compiled.takeError()));
      return 1;
    }
    auto jit = kiln::cpu::Jit::create(**target);
    if (!jit || (*jit)->addModule(std::move(*compiled), std::move(context))) {
      fmt::print(stderr, "loops: cannot set up the JIT\n");
      return 1;
    }
    auto kernel = (*jit)->lookup<void(const float *, float *)>("k");
    if (!kernel) {
      fmt::print(stderr, "loops: {}\n", llvm::toString(kernel.takeError()));
      return 1;
    }
    int64_t inputs = c.rows * c.columns;
    std::vector<float> x(static_cast<size_t>(inputs)), y(static_cast<size_t>(c.outputElements));
    for (float &value : x) value = uniform(random);
    double bytes = 4.0 * double(inputs + c.outputElements);
    auto report = [&](const std::string &code, double seconds) {
      fmt::print("{:<28} {:<22} {:>10.3f} {:>8.2f}\n", c.name, code, seconds * 1e9 / double(inputs),
                 bytes / seconds * 1e-9);
    };
    for (int threads : {1, 2}) {
      kiln::runtime::setThreadCount(threads);
      report(fmt::format("kiln, {} thread{}", threads, threads > 1 ? "s" : ""),
             timeIt(rounds, [&] { (*kernel)(x.data(), y.data()); }));
    }
    report("C++ loop, 1 thread", timeIt(rounds, [&] { c.peer(x.data(), y.data(), c.rows, c.columns); }));
    volatile float sink = 0;
    double readOnly = timeIt(rounds, [&] {
      float total = 0;
      for (int64_t offset = 0; offset < inputs; offset += 16) total += x[size_t(offset)];
      sink = sink + total;
    });
    fmt::print("{:<28} {:<22} {:>10.3f} {:>8.2f}\n", c.name, "read input (1 line/64B)", readOnly * 1e9 / double(inputs),
               4.0 * double(inputs) / readOnly * 1e-9);
  }
  return 0;
}
