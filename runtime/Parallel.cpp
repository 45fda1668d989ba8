// The thread pool behind parallelFor: workers that wait for a job, take items from a shared
// counter until none is left, and report back. Which thread runs which item varies between runs;
// that is harmless because items are independent.
#include "runtime/Parallel.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::runtime {

namespace {

thread_local bool insideParallelFor = false;

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Short waits spin, so a sequence of small kernels does not pay a sleep and a wake-up each; a
// wait longer than this sleeps, so idle or waiting threads leave the cores to others.
constexpr auto spinTime = std::chrono::microseconds(500);

template <typename Predicate> bool spinUntil(Predicate predicate) {
  auto deadline = std::chrono::steady_clock::now() + spinTime;
  while (!predicate()) {
    for (int i = 0; i < 32; ++i) pause();
    if (std::chrono::steady_clock::now() > deadline) return predicate();
  }
  return true;
}

int defaultThreadCount() {
  if (const char *text = std::getenv("KILN_NUM_THREADS")) {
    int count = 0;
    const char *end = text + std::strlen(text);
    auto [stop, status] = std::from_chars(text, end, count);
    if (status == std::errc() && stop == end && count > 0) return count;
    std::fprintf(stderr, "kiln: ignoring KILN_NUM_THREADS='%s': not a positive integer\n", text);
  }
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

// One parallelFor call, on the caller's stack. Workers join it under the pool's lock while it is
// published; the caller withdraws it when no item is left and then waits only for the workers
// that joined. A worker that is slow to wake (the machine is busy) never delays the caller.
struct Job {
  void (*body)(int64_t, void *);
  void *context;
  int64_t count;
  std::atomic<int64_t> next{0};
  int members = 0;               // workers that joined; guarded by the pool's lock
  std::atomic<int> finished{0};  // members that are done with it; changed under the pool's lock

  void runItems() {
    for (int64_t index = next.fetch_add(1, std::memory_order_relaxed); index < count;
         index = next.fetch_add(1, std::memory_order_relaxed))
      body(index, context);
  }
};

class Pool {
public:
  explicit Pool(int threads) { start(threads); }
  ~Pool() { stop(); }

  int size() {
    std::lock_guard submitLock(submitMutex_);
    return static_cast<int>(workers_.size()) + 1;
  }

  void resize(int threads) {
    std::lock_guard submitLock(submitMutex_);
    stop();
    start(threads);
  }

  void run(int64_t count, void (*body)(int64_t, void *), void *context) {
    std::unique_lock submitLock(submitMutex_, std::defer_lock);
    // Nested, single-item or single-thread work, and work submitted while another thread's job
    // runs, go serially on the calling thread rather than wait or deadlock.
    if (insideParallelFor || count <= 1 || !submitLock.try_lock() || workers_.empty()) {
      runSerially(count, body, context);
      return;
    }
    Job job{body, context, count};
    {
      std::lock_guard stateLock(stateMutex_);
      current_ = &job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    insideParallelFor = true;
    job.runItems();
    insideParallelFor = false;
    int members;
    {
      std::lock_guard stateLock(stateMutex_);
      current_ = nullptr;
      members = job.members;
    }
    auto allFinished = [&] { return job.finished.load(std::memory_order_acquire) == members; };
    if (spinUntil(allFinished)) return;
    std::unique_lock stateLock(stateMutex_);
    done_.wait(stateLock, allFinished);
  }

private:
  static void runSerially(int64_t count, void (*body)(int64_t, void *), void *context) {
    bool outer = !insideParallelFor;
    insideParallelFor = true;
    for (int64_t index = 0; index < count; ++index) body(index, context);
    if (outer) insideParallelFor = false;
  }

  void work() {
    insideParallelFor = true;
    uint64_t seen = 0;
    while (true) {
      spinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
      Job *job;
      {
        std::unique_lock stateLock(stateMutex_);
        wake_.wait(stateLock, [&] { return stopping_ || generation_.load(std::memory_order_acquire) != seen; });
        if (stopping_) return;
        seen = generation_.load(std::memory_order_acquire);
        job = current_;
        if (!job) continue;  // withdrawn before this worker woke up
        ++job->members;
      }
      job->runItems();
      {
        std::lock_guard stateLock(stateMutex_);
        job->finished.fetch_add(1, std::memory_order_release);  // the job may end here: not touched again
      }
      done_.notify_all();
    }
  }

  void start(int threads) {
    stopping_ = false;
    for (int worker = 1; worker < threads; ++worker) workers_.emplace_back([this] { work(); });
  }

  void stop() {
    {
      std::lock_guard stateLock(stateMutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread &worker : workers_) worker.join();
    workers_.clear();
  }

  std::mutex submitMutex_;  // one job at a time
  std::mutex stateMutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  Job *current_ = nullptr;               // the published job, if any; guarded by stateMutex_
  std::atomic<uint64_t> generation_{0};  // counts publications, for workers spinning without the lock
};

Pool &pool() {
  static Pool instance(defaultThreadCount());
  return instance;
}

}  // namespace

int threadCount() { return pool().size(); }

void setThreadCount(int count) { pool().resize(count < 1 ? 1 : count); }

void parallelFor(int64_t begin, int64_t end, const std::function<void(int64_t)> &body) {
  if (end <= begin) return;
  struct Range {
    int64_t begin;
    const std::function<void(int64_t)> &body;
  } range{begin, body};
  pool().run(
      end - begin,
      [](int64_t index, void *context) {
        auto &range = *static_cast<Range *>(context);
        range.body(range.begin + index);
      },
      &range);
}

}  // namespace kiln::runtime

extern "C" {

void kiln_parallel_for(int64_t count, void (*body)(int64_t index, void *context), void *context) {
  if (count > 0) kiln::runtime::pool().run(count, body, context);
}

int32_t kiln_thread_count(void) { return kiln::runtime::threadCount(); }

void kiln_set_thread_count(int32_t count) { kiln::runtime::setThreadCount(count); }
}
