// The arenas of generated functions (the memory plan's one buffer per call), kept for the next
// call instead of returned to the system: an arena above glibc's mmap threshold (32 MB at most)
// would otherwise be mapped afresh on every call, and each of its pages faulted in again.
#pragma once

#include <cstdint>

extern "C" {
// A 64-byte aligned block of at least `bytes` bytes: a kept one that fits, else a new one.
// Null only when the system has no memory left.
void *kiln_arena_acquire(int64_t bytes);
// Gives back a block from kiln_arena_acquire of `bytes` bytes (the same count) for later calls;
// beyond the few kept, it is freed.
void kiln_arena_release(void *arena, int64_t bytes);
}
