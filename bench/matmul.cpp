// Matrix-product benchmark: Kiln's kernel template against oneDNN, libxsmm and OpenBLAS at the
// model zoo's shapes, on 1 and 2 threads, as GFLOP/s, % of the FMA peak measured in the same run,
// and Kiln's ratio to each peer. Run on demand (bench/run.sh), never in CI.
//
//   matmul [--fma-peak PATH] [--rounds N] [--library NAME] [kiln tiling options]
// Without --library it is the driver: it runs fma-peak, then itself once per library and thread
// count per round, each in its own process with its own environment (OMP_NUM_THREADS, KILN_NUM_THREADS,
// OPENBLAS_NUM_THREADS, and OPENBLAS_CORETYPE=SkylakeX for the second OpenBLAS row only), so no
// library's threads or CPU detection affect another's numbers; then prints one table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <cblas.h>
#include <dnnl.hpp>
#include <fmt/format.h>
#include <libxsmm.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/Jit.h"
#include "backends/cpu/MatmulKernel.h"
#include "runtime/Parallel.h"

namespace {

struct Shape {
  const char *origin;
  int64_t batch, m, n, k;
  double flops() const { return 2.0 * double(batch) * double(m) * double(n) * double(k); }
  std::string name() const {
    return batch > 1 ? fmt::format("{}x{}x{}x{}", batch, m, n, k) : fmt::format("{}x{}x{}", m, n, k);
  }
};

// The shapes, then the zoo's other products (B·T rows in gpt.kiln; lenet's fc1; the
// attention scores of gpt, 8 sequences × 4 heads of 64×64 over a head width of 16).
const std::vector<Shape> shapes = {
    {"issue", 1, 512, 512, 512},  {"issue", 1, 512, 512, 64},   {"issue", 1, 128, 512, 128},
    {"issue", 1, 64, 256, 784},   {"mlp", 1, 32, 128, 64},      {"issue", 1, 8, 128, 128},
    {"gpt ffn", 1, 512, 256, 64}, {"gpt ffn", 1, 512, 64, 256}, {"gpt head", 1, 512, 128, 64},
    {"lenet", 1, 64, 120, 400},   {"gpt attn", 32, 64, 64, 16},
};

struct Options {
  std::string fmaPeak = "../shared/tools/fma-peak";
  std::string library;
  int threads = 1;
  int rounds = 3;
  kiln::cpu::MatmulTiling tiling;
  unsigned vectorBits = 0;
  bool transposeB = false;   // Kiln only: B stored N×K, to see what packing a transposed B costs
  std::string forwarded;     // the Kiln options, passed on to the Kiln processes
  std::string assemblyPath;  // --emit-asm: write Kiln's kernels as assembly there instead of timing
};

// Best time of one call: warm up, size a sample to ~5 ms, keep the best of 31 samples. Short
// samples, many of them: on a shared machine the best one is the least disturbed.
double bestSeconds(const std::function<void()> &call) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 3; ++i) call();
  int64_t calls = 1;
  while (true) {
    auto start = Clock::now();
    for (int64_t i = 0; i < calls; ++i) call();
    if (std::chrono::duration<double>(Clock::now() - start).count() > 0.005 || calls > (int64_t(1) << 24)) break;
    calls *= 2;
  }
  double best = 1e30;
  for (int sample = 0; sample < 31; ++sample) {
    auto start = Clock::now();
    for (int64_t i = 0; i < calls; ++i) call();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count() / double(calls));
  }
  return best;
}

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape &s)
      : a(size_t(s.batch * s.m * s.k)), b(size_t(s.batch * s.k * s.n)), c(size_t(s.batch * s.m * s.n)) {
    std::mt19937 generator(7);
    std::uniform_real_distribution<float> distribution(-1, 1);
    for (float &value : a) value = distribution(generator);
    for (float &value : b) value = distribution(generator);
  }
};

// One GFLOP/s per shape, in the order of `shapes`.
using Runner = std::function<double(const Shape &, Operands &)>;

int runKiln(const Options &options, std::vector<double> &results) {
  kiln::cpu::TargetOptions targetOptions;
  targetOptions.preferredVectorBits = options.vectorBits;
  auto target = kiln::cpu::Target::create(targetOptions);
  if (!target) return fmt::print(stderr, "{}\n", llvm::toString(target.takeError())), 1;
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("bench", *context);
  std::vector<kiln::cpu::MatmulPlan> plans;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape &s = shapes[i];
    kiln::cpu::MatmulDescription d{
        kiln::cpu::MatmulElement::F32, s.batch, s.m * s.k, s.k * s.n, s.m * s.n, s.m, s.n, s.k};
    d.transposeB = options.transposeB;
    auto plan = kiln::cpu::emitMatmulKernel(*module, **target, d, fmt::format("matmul{}", i), {}, options.tiling);
    if (!plan) return fmt::print(stderr, "{}\n", llvm::toString(plan.takeError())), 1;
    plans.push_back(*plan);
    const auto &t = plan->tiling;
    fmt::print(stderr, "kiln {}: tile {}x{}, KC {}, MC {}, NC {}, pack {}, parallel {}, tasks {}\n", s.name(),
               t.tileRows, t.tileVectors * plan->lanes, t.kBlock, t.rowBlock, t.columnBlock, t.packB, t.parallel,
               plan->tasks);
  }
  if (!options.assemblyPath.empty()) {
    auto assembly = kiln::cpu::emitMachineCode(*module, **target, kiln::cpu::OutputKind::Assembly);
    if (!assembly) return fmt::print(stderr, "{}\n", llvm::toString(assembly.takeError())), 1;
    FILE *file = std::fopen(options.assemblyPath.c_str(), "w");
    if (!file) return fmt::print(stderr, "cannot write {}\n", options.assemblyPath), 1;
    std::fwrite(assembly->data(), 1, assembly->size(), file);
    std::fclose(file);
    return 0;
  }
  auto jit = kiln::cpu::Jit::create(**target);
  if (!jit) return fmt::print(stderr, "{}\n", llvm::toString(jit.takeError())), 1;
  if (auto error = (*jit)->addModule(std::move(module), std::move(context)))
    return fmt::print(stderr, "{}\n", llvm::toString(std::move(error))), 1;
  kiln::runtime::setThreadCount(options.threads);
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto kernel = (*jit)->lookup<void(const float *, const float *, float *, void *)>(fmt::format("matmul{}", i));
    if (!kernel) return fmt::print(stderr, "{}\n", llvm::toString(kernel.takeError())), 1;
    Operands operands(shapes[i]);
    void *scratch = plans[i].scratchBytes ? std::aligned_alloc(64, size_t(plans[i].scratchBytes)) : nullptr;
    double seconds = bestSeconds([&] { (*kernel)(operands.a.data(), operands.b.data(), operands.c.data(), scratch); });
    std::free(scratch);
    results.push_back(shapes[i].flops() / seconds / 1e9);
  }
  return 0;
}

double runOneDnn(const Shape &s, Operands &operands) {
  using namespace dnnl;
  engine cpu(engine::kind::cpu, 0);
  stream queue(cpu);
  auto descriptor = [&](memory::dim rows, memory::dim columns) {
    return s.batch > 1 ? memory::desc({s.batch, rows, columns}, memory::data_type::f32, memory::format_tag::abc)
                       : memory::desc({rows, columns}, memory::data_type::f32, memory::format_tag::ab);
  };
  memory::desc a = descriptor(s.m, s.k), b = descriptor(s.k, s.n), c = descriptor(s.m, s.n);
  matmul product(matmul::primitive_desc(matmul::desc(a, b, c), cpu));
  memory aMemory(a, cpu, operands.a.data()), bMemory(b, cpu, operands.b.data()), cMemory(c, cpu, operands.c.data());
  std::unordered_map<int, memory> arguments{
      {DNNL_ARG_SRC, aMemory}, {DNNL_ARG_WEIGHTS, bMemory}, {DNNL_ARG_DST, cMemory}};
  double seconds = bestSeconds([&] {
    product.execute(queue, arguments);
    queue.wait();
  });
  return s.flops() / seconds / 1e9;
}

// libxsmm's JIT kernels are column-major: row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ. With
// several threads, each takes a contiguous range of C's rows, run through Kiln's thread pool
// (an OpenMP loop around them was erratic here, at times 1000× slower on this busy machine).
double runLibxsmm(const Shape &s, Operands &operands, int threads) {
  int64_t rowsPerThread = (s.m + threads - 1) / threads;
  std::map<int64_t, libxsmm_smmfunction> kernels;
  for (int64_t begin = 0; begin < s.m; begin += rowsPerThread) {
    int64_t rows = std::min(rowsPerThread, s.m - begin);
    if (!kernels.count(rows)) {
      libxsmm_blasint m = s.n, n = rows, k = s.k, lda = s.n, ldb = s.k, ldc = s.n;
      kernels[rows] = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, nullptr, nullptr, nullptr, nullptr);
      if (!kernels[rows]) return 0;
    }
  }
  auto part = [&](int64_t batch, int64_t begin) {
    int64_t rows = std::min(rowsPerThread, s.m - begin);
    kernels.at(rows)(operands.b.data() + batch * s.k * s.n, operands.a.data() + batch * s.m * s.k + begin * s.k,
                     operands.c.data() + batch * s.m * s.n + begin * s.n);
  };
  int64_t parts = (s.m + rowsPerThread - 1) / rowsPerThread;
  double seconds = bestSeconds([&] {
    kiln::runtime::parallelFor(0, s.batch * parts,
                               [&](int64_t item) { part(item / parts, item % parts * rowsPerThread); });
  });
  return s.flops() / seconds / 1e9;
}

double runOpenBlas(const Shape &s, Operands &operands) {
  double seconds = bestSeconds([&] {
    for (int64_t batch = 0; batch < s.batch; ++batch)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0f,
                  operands.a.data() + batch * s.m * s.k, int(s.k), operands.b.data() + batch * s.k * s.n, int(s.n),
                  0.0f, operands.c.data() + batch * s.m * s.n, int(s.n));
  });
  return s.flops() / seconds / 1e9;
}

// A library's process: one "gflops" line per shape on stdout.
int runLibrary(const Options &options) {
  std::vector<double> results;
  if (options.library == "kiln") {
    if (int status = runKiln(options, results)) return status;
  } else {
    Runner runner;
    if (options.library == "onednn") runner = runOneDnn;
    if (options.library == "libxsmm") {
      libxsmm_init();
      kiln::runtime::setThreadCount(options.threads);
      runner = [&](const Shape &s, Operands &operands) { return runLibxsmm(s, operands, options.threads); };
    }
    if (options.library == "openblas") {
      openblas_set_num_threads(options.threads);
      runner = runOpenBlas;
    }
    if (!runner) return fmt::print(stderr, "unknown library '{}'\n", options.library), 1;
    for (const Shape &s : shapes) {
      Operands operands(s);
      results.push_back(runner(s, operands));
    }
  }
  for (double gflops : results) fmt::print("{:.2f}\n", gflops);
  return 0;
}

std::vector<double> readNumbers(const std::string &command) {
  std::vector<double> numbers;
  FILE *pipe = popen(command.c_str(), "r");
  if (!pipe) return numbers;
  double value;
  while (std::fscanf(pipe, "%lf", &value) == 1) numbers.push_back(value);
  pclose(pipe);
  return numbers;
}

// Runs fma-peak and keeps, per thread count, the highest peak seen so far.
void measurePeak(const Options &options, std::map<int, double> &peak) {
  FILE *pipe = popen((options.fmaPeak + " 2>&1").c_str(), "r");
  char line[256];
  while (pipe && std::fgets(line, sizeof line, pipe)) {
    int threads;
    double gflops;
    if (std::sscanf(line, "fma peak %*s %d thread(s): %lf", &threads, &gflops) == 2)
      peak[threads] = std::max(peak[threads], gflops);
  }
  if (pipe) pclose(pipe);
}

// Rounds alternate the libraries, so that each meets the machine's quiet and busy moments; a
// cell is the best of its rounds, and the spread table says how far apart the rounds were.
int drive(const Options &options) {
  struct Column {
    const char *title, *library, *environment;
  };
  const std::vector<Column> columns = {{"Kiln", "kiln", ""},
                                       {"oneDNN", "onednn", ""},
                                       {"libxsmm", "libxsmm", ""},
                                       {"OpenBLAS", "openblas", ""},
                                       {"OpenBLAS-SKX", "openblas", "OPENBLAS_CORETYPE=SkylakeX "}};
  const std::vector<int> threadCounts = {1, 2};
  std::map<int, double> peak;  // GFLOP/s by thread count
  // results[threads][column][round][shape]
  std::map<int, std::vector<std::vector<std::vector<double>>>> results;
  for (int round = 0; round < options.rounds; ++round) {
    measurePeak(options, peak);
    for (int threads : threadCounts)
      for (size_t column = 0; column < columns.size(); ++column) {
        const Column &c = columns[column];
        std::string command =
            fmt::format("{}OMP_NUM_THREADS={} OPENBLAS_NUM_THREADS={} KILN_NUM_THREADS={} /proc/{}/exe --library {} "
                        "--threads {}{} 2>/dev/null",
                        c.environment, threads, threads, threads, getpid(), c.library, threads,
                        std::string(c.library) == "kiln" ? options.forwarded : "");
        results[threads].resize(columns.size());
        results[threads][column].push_back(readNumbers(command));
        results[threads][column].back().resize(shapes.size(), 0);
      }
  }
  measurePeak(options, peak);
  if (!peak.count(1)) return fmt::print(stderr, "no FMA peak from '{}'\n", options.fmaPeak), 1;

  fmt::print("FMA peak (fma-peak, best of {} runs in this run): {}\n", options.rounds + 1, [&] {
    std::string text;
    for (auto [threads, gflops] : peak) text += fmt::format("{} thread(s) {:.1f} GFLOP/s; ", threads, gflops);
    return text;
  }());
  fmt::print("GFLOP/s (% of the FMA peak at that thread count), best of {} rounds, each the best of 31 samples of\n"
             "~5 ms; ratios are Kiln / peer, best2 = the better of oneDNN and libxsmm.\n"
             "OpenBLAS-SKX: OPENBLAS_CORETYPE=SkylakeX set for that process only.\n\n",
             options.rounds);
  auto best = [&](int threads, size_t column, size_t shape) {
    double value = 0;
    for (const auto &round : results[threads][column]) value = std::max(value, round[shape]);
    return value;
  };
  fmt::print("{:<15} {:>3}", "shape", "thr");
  for (const Column &column : columns) fmt::print(" {:>16}", column.title);
  fmt::print(" {:>8} {:>8} {:>8} {:>9}\n", "/oneDNN", "/xsmm", "/best2", "/OpenBLAS");
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0; };
  for (int threads : threadCounts) {
    if (!peak.count(threads)) continue;
    for (size_t i = 0; i < shapes.size(); ++i) {
      fmt::print("{:<15} {:>3}", shapes[i].name(), threads);
      std::vector<double> cell;
      for (size_t column = 0; column < columns.size(); ++column) {
        cell.push_back(best(threads, column, i));
        fmt::print(" {:>8.1f} ({:>3.0f}%)", cell.back(), 100 * cell.back() / peak[threads]);
      }
      fmt::print(" {:>8.2f} {:>8.2f} {:>8.2f} {:>9.2f}\n", ratio(cell[0], cell[1]), ratio(cell[0], cell[2]),
                 ratio(cell[0], std::max(cell[1], cell[2])), ratio(cell[0], std::max(cell[3], cell[4])));
    }
  }
  if (options.rounds < 2) return 0;
  fmt::print("\nSpread between rounds, (best - worst) / best, in %:\n{:<15} {:>3}", "shape", "thr");
  for (const Column &column : columns) fmt::print(" {:>12}", column.title);
  fmt::print("\n");
  for (int threads : threadCounts)
    for (size_t i = 0; i < shapes.size(); ++i) {
      fmt::print("{:<15} {:>3}", shapes[i].name(), threads);
      for (size_t column = 0; column < columns.size(); ++column) {
        double worst = 1e30;
        for (const auto &round : results[threads][column]) worst = std::min(worst, round[i]);
        fmt::print(" {:>12.0f}", 100 * (1 - ratio(worst, best(threads, column, i))));
      }
      fmt::print("\n");
    }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", argument);
        std::exit(2);
      }
      return argv[++i];
    };
    auto forward = [&](const std::string &value) {
      options.forwarded += fmt::format(" {} {}", argument, value);
      return std::stoll(value);
    };
    if (argument == "--fma-peak")
      options.fmaPeak = next();
    else if (argument == "--library")
      options.library = next();
    else if (argument == "--rounds")
      options.rounds = std::max(1, std::stoi(next()));
    else if (argument == "--emit-asm")
      options.assemblyPath = next();
    else if (argument == "--threads")
      options.threads = std::stoi(next());
    else if (argument == "--tile-rows")
      options.tiling.tileRows = int(forward(next()));
    else if (argument == "--tile-vectors")
      options.tiling.tileVectors = int(forward(next()));
    else if (argument == "--k-block")
      options.tiling.kBlock = forward(next());
    else if (argument == "--row-block")
      options.tiling.rowBlock = forward(next());
    else if (argument == "--column-block")
      options.tiling.columnBlock = forward(next());
    else if (argument == "--pack-b")
      options.tiling.packB = int(forward(next()));
    else if (argument == "--parallel")
      options.tiling.parallel = int(forward(next()));
    else if (argument == "--transpose-b")
      options.transposeB = true, options.forwarded += " --transpose-b";
    else if (argument == "--vector-bits")
      options.vectorBits = unsigned(forward(next()));
    else {
      fmt::print(stderr, "unknown option '{}'\n", argument);
      return 2;
    }
  }
  return options.library.empty() ? drive(options) : runLibrary(options);
}
