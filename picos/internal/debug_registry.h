// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/debug_registry.h — the registry behind picos/debug.h: every live fiber, on
// per-thread lists.
//
// A fiber is added when a scheduler takes it in (Fiber::set_scheduler_data from null) and
// removed when it finishes (back to null), on whatever threads those happen. Each thread adds
// to its own list (a FiberShard, taken from a process-wide pool at the thread's first add and
// returned to it at thread exit; shards are never freed, so a fiber added on a thread that
// has exited is still removed safely). A fiber records its shard; removal takes that shard's
// lock, which is uncontended except while a dump reads the shard. Dumps walk every shard
// ever made.

#ifndef PICOS_INTERNAL_DEBUG_REGISTRY_H_
#define PICOS_INTERNAL_DEBUG_REGISTRY_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "picos/internal/spin_lock.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#else
#include <chrono>
#endif

namespace picos {
class Fiber;
namespace debug {
struct FiberInfo;
}  // namespace debug
}  // namespace picos

namespace picos::internal {

struct FiberShard {
  SpinLock lock;
  Fiber* head ABSL_GUARDED_BY(lock) = nullptr;
  FiberShard* next_all = nullptr;   // every shard ever made (immutable once published)
  FiberShard* next_free = nullptr;  // the pool (under the pool's mutex)

  // Adds `f` to the calling thread's shard. `f` is on no shard.
  static void add(Fiber* f) noexcept;
  // Removes `f` from the shard it is on.
  static void remove(Fiber* f) noexcept;
  // The first shard ever made (the rest follow through next_all); null if none.
  static FiberShard* first() noexcept;
  // Appends what each fiber on this shard says of itself (suspended_for holds the ticks at
  // suspension; holder_id is not filled). Takes the lock.
  void collect(std::vector<debug::FiberInfo>& out);

 private:
  static void describe(const Fiber& f, debug::FiberInfo& out);  // under the lock
};

// A cheap timestamp for "suspended since": the TSC on x86-64 (converted to time by the dump),
// steady_clock's count elsewhere.
inline std::uint64_t debug_ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_DEBUG_REGISTRY_H_
