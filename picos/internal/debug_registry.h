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
// listing records its shard. The thread that holds a shard (its owner) lists and unlists on
// it without a locked instruction; a dump, or a thread unlisting a fiber that another thread
// listed, takes the shard's lock and keeps the owner out through an asymmetric handshake (see
// FiberShard). Dumps walk every shard ever made. The listed fiber must stay alive until it is
// unlisted.
//
// Counters (debug::stats()): each scheduler (each worker of a multi-threaded one) owns a
// SchedulerCounters, enrolled in a process-wide list while it lives; the fibers it lists
// point at it, so stats() can say how many of them are live and runnable.

#ifndef PICOS_INTERNAL_DEBUG_REGISTRY_H_
#define PICOS_INTERNAL_DEBUG_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <string>
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
struct SchedulerStats;
}  // namespace debug
}  // namespace picos

namespace picos::internal {

struct FiberShard;

// A statistic that one thread at a time writes (its owner, or whoever holds the owner's lock)
// and any thread reads: relaxed atomics, so bump() is a load, an add and a store, with no
// locked instruction.
class Counter {
 public:
  // The new value. Single writer.
  std::uint64_t bump() noexcept {
    const std::uint64_t v = v_.load(std::memory_order_relaxed) + 1;
    v_.store(v, std::memory_order_relaxed);
    return v;
  }
  // Any thread.
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// What one scheduler (or one worker of it) counts, for debug::stats(). The owner bumps the
// counters; enroll() makes it visible to stats() until withdraw() (or destruction).
struct SchedulerCounters {
  SchedulerCounters() noexcept = default;
  SchedulerCounters(const SchedulerCounters&) = delete;
  SchedulerCounters& operator=(const SchedulerCounters&) = delete;
  ~SchedulerCounters() { withdraw(); }

  Counter spawns;    // fibers taken in (a run's main fiber included)
  Counter finishes;  // fibers ended (abandoned ones are not counted)
  Counter switches;  // scheduling decisions: each time the owner picked the next fiber to run
  Counter steals;    // fibers taken from another worker's queue
  Counter io_waits;  // waits registered with the scheduler's reactor (bumped by it)
  Counter timers;    // cancel_after calls

  // Enrolls under `scheduler` (static storage) and `worker` (-1: none); idempotent (a second
  // call renames). Any thread.
  void enroll(const char* scheduler, int worker) noexcept;
  // Leaves stats(); waits for a stats() in progress. Idempotent.
  void withdraw() noexcept;
  // Appends the stats of every enrolled SchedulerCounters (live and runnable not filled);
  // `ids[i]` gets the address of the i-th one. Under the list's lock, which `tally` also needs.
  static void collect(std::vector<debug::SchedulerStats>& out, std::vector<const void*>& ids);

  const char* scheduler = nullptr;
  int worker = -1;
  bool enrolled = false;  // under the list's lock
  SchedulerCounters* prev = nullptr;
  SchedulerCounters* next = nullptr;
};

// One listed fiber: what a dump reads besides the fiber itself, and the list links.
struct FiberListing {
  const Fiber* fiber = nullptr;
  const char* scheduler = nullptr;  // static storage; null: "no scheduler"
  int worker = -1;
  // The counters of the scheduler that listed it (stats(): live and runnable), or null.
  // Compared, never dereferenced, by readers.
  const SchedulerCounters* counters = nullptr;
  // For dumps, set by the scheduler that runs the fiber: `running` while it runs on a thread
  // (set at dispatch; cleared before the fiber switches out, so before any other thread can
  // dispatch it), `finishing` once its main has returned. Relaxed stores; a dump reads a
  // snapshot. A listing without counters (no scheduler: the fiber has a thread of its own)
  // is running whenever it is not suspended.
  std::atomic<bool> running{false};
  std::atomic<bool> finishing{false};
  FiberShard* shard = nullptr;  // the list it is on (null: none); links under its lock
  FiberListing* prev = nullptr;
  FiberListing* next = nullptr;
};

// One thread's list of listings.
//
// Who edits it: its owner (the thread it was handed to, until that thread exits) lists every
// fiber there and unlists the ones it listed, on every spawn and finish; everyone else (a
// dump; a thread unlisting a fiber that another thread listed: fibers buried after a fatal
// error) does so rarely. A scheduler whose fibers end on other threads than the ones that
// spawned them lists them where they end (mux/common/kernel.h, kListedByItsThread). So
// the owner pays no locked instruction (the spin lock's two exchanges were ~15 ns of a
// ~127 ns spawn_join on fifo) and the others pay a process-wide barrier
// (picos/internal/asymmetric_fence.h):
//
//   owner:   owner_busy = true; light_fence();
//            if (!outsider) { edit; owner_busy = false (release); }
//            else { owner_busy = false; edit under `lock` }
//   others:  take `lock`; outsider = true; heavy_fence(); wait while owner_busy;
//            read or edit; outsider = false (release); release `lock`
//
// Either the owner sees `outsider` and queues on the lock, or the outsider sees `owner_busy`
// and waits for the edit to end (a few stores). Where the kernel offers no such barrier when
// the shard is taken (asymmetric_fences() false), `asymmetric` is false and the owner takes
// the lock for every edit, as everyone else does.
struct FiberShard {
  SpinLock lock;  // among everyone but the owner's edits without it
  FiberListing* head ABSL_GUARDED_BY(lock) = nullptr;
  std::atomic<bool> owner_busy{false};  // the owner is editing without `lock`
  // A holder of `lock` other than the owner is inside. On a cache line of its own: loaded
  // right after the owner's store to owner_busy, it waited for that store when they shared a
  // word (spawn_join on fifo 130 ns against 126 with the lock; 112-116 apart, the 2-core VM).
  alignas(64) std::atomic<bool> outsider{false};
  // Whether a thread owns it and edits without `lock`, so that an outsider must keep it out
  // with the barrier. Set, under `lock`, when a thread takes the shard (before it is its
  // owner; where asymmetric_fences()); cleared, under `lock`, when that thread exits (in
  // the pool nobody edits it without `lock`). Unchanged while a thread owns it.
  bool asymmetric = false;
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
  // For each fiber on this shard listed by the SchedulerCounters at `ids[i]`, adds one to
  // out[i].live, and to out[i].runnable if it is not suspended. Takes the lock.
  void tally(const std::vector<const void*>& ids, std::vector<debug::SchedulerStats>& out);

 private:
  class Outsider;  // holds `lock` with the owner kept out (see above)
  static void describe(const FiberListing& l, debug::FiberInfo& out);  // under the lock
  void link(FiberListing* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock);
  void unlink(FiberListing* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock);
  // remove() where `l` is on another thread's shard (or this thread's former one).
  static void remove_outside(FiberListing* l) noexcept;
  // Runs link(l) or unlink(l) as the owner.
  template <void (FiberShard::*Edit)(FiberListing*)>
  void owner_edit(FiberListing* l) noexcept;
};

// Whether suspensions and spawns capture stack traces (debug::set_fiber_traces,
// PICOS_FIBER_TRACES=1).
extern std::atomic<bool> fiber_traces_on;

// What a fiber keeps only when asked: its name, its traces. Allocated at the first
// set_name or trace; guarded by the fiber's name lock.
struct FiberDebugExtra {
  static constexpr int kDepth = 24;  // debug::kTraceDepth
  std::string name;
  // `stack` is the trace of the await in progress (Trigger::await sets it and clears it when
  // the await returns): the fiber's suspension, if it is suspended.
  bool awaiting = false;
  int depth = 0;        // of `stack`
  int spawn_depth = 0;  // of `spawn_stack` (0: not captured)
  void* stack[kDepth];
  void* spawn_stack[kDepth];
};

// Captures the stack into `pcs` (room for FiberDebugExtra::kDepth) from the frame whose
// return address is `from` (a caller's __builtin_return_address(0)) outwards; the whole
// stack if `from` is not among its innermost frames. Returns how many it captured.
int capture_trace(void** pcs, const void* from) noexcept;

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
