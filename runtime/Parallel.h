// Work split across cores: a persistent thread pool and parallel_for. Callers split their work
// into independent items (e.g. output tiles, never parts of one reduction), so results do not
// depend on the thread count or on which thread runs which item.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln::runtime {

// The pool's size, the calling thread included: the last setThreadCount, else KILN_NUM_THREADS,
// else the number of hardware threads.
int threadCount();
// Resizes the pool (at least 1); waits for a running parallelFor to finish first.
void setThreadCount(int count);

// Runs body(i) once for every i in [begin, end), on up to threadCount() threads; returns when
// all have run. Called from inside a body, it runs serially on the calling thread.
void parallelFor(int64_t begin, int64_t end, const std::function<void(int64_t)> &body);

}  // namespace kiln::runtime

extern "C" {
// parallelFor over [0, count) for generated code: body(index, context) for every index.
void kiln_parallel_for(int64_t count, void (*body)(int64_t index, void *context), void *context);
int32_t kiln_thread_count(void);
void kiln_set_thread_count(int32_t count);
}
