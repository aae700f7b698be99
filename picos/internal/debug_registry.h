// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/debug_registry.h — the registry behind picos/debug.h: every live fiber, on
// per-thread lists.
//
// A scheduler lists a fiber when it takes it in and unlists it when the fiber finishes,
// through a FiberListing it owns (in its record: mux/common/kernel.h's RecordBase), on
// whatever threads those happen. Each thread lists on its own list (a FiberShard, taken from
// a process-wide pool at the thread's first listing and returned at thread exit; shards are
// never freed, so a listing made on a thread that has exited is still removed safely). A
// listing records its shard; removal takes that shard's lock, which is uncontended except
// while a dump reads the shard. Dumps walk every shard ever made. The listed fiber must stay
// alive until it is unlisted.

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

struct FiberShard;

// One listed fiber: what a dump reads besides the fiber itself, and the list links.
struct FiberListing {
  const Fiber* fiber = nullptr;
  const char* scheduler = nullptr;  // static storage; null: "no scheduler"
  int worker = -1;
  FiberShard* shard = nullptr;  // the list it is on (null: none); links under its lock
  FiberListing* prev = nullptr;
  FiberListing* next = nullptr;
};

struct FiberShard {
  SpinLock lock;
  FiberListing* head ABSL_GUARDED_BY(lock) = nullptr;
  FiberShard* next_all = nullptr;   // every shard ever made (immutable once published)
  FiberShard* next_free = nullptr;  // the pool (under the pool's mutex)

  // Lists `l` (its fiber, scheduler and worker set) on the calling thread's shard; `l` is on
  // none. May list nothing if memory for a new shard runs out (the fiber is then not shown).
  static void add(FiberListing* l) noexcept;
  // Unlists `l` from the shard it is on, if any.
  static void remove(FiberListing* l) noexcept;
  // The first shard ever made (the rest follow through next_all); null if none.
  static FiberShard* first() noexcept;
  // Appends what each fiber on this shard says of itself (suspended_for holds the ticks at
  // suspension; holder_id is not filled). Takes the lock.
  void collect(std::vector<debug::FiberInfo>& out);

 private:
  static void describe(const FiberListing& l, debug::FiberInfo& out);  // under the lock
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
