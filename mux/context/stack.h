// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/stack.h — fiber stacks and the per-thread pool that recycles them.
//
// A `Stack` is one anonymous memory mapping: a guard page at the bottom (when one can be had,
// see below), then the stack itself. Memory is committed lazily by the kernel (MAP_NORESERVE),
// so a 64 KiB stack that a fiber never grows costs one resident page (its top, where a small
// header, the `Stack` object itself, lives: a stack needs no heap allocation).
//
// Guard pages come in two kinds, chosen once per process at run time (`guard_mode()`):
//  - Lightweight guards (Linux 6.13 and later): `madvise(MADV_GUARD_INSTALL)` marks the lowest
//    page of the mapping as a guard region. No VMA split, so a guarded stack is still one
//    memory map (adjacent stacks merge), costs no vm.max_map_count budget and no resident
//    page. Where the kernel accepts it, EVERY stack is guarded this way: there is no budget.
//  - mprotect guards (the fallback, older kernels or PICOS_STACK_GUARDS=mprotect): the lowest
//    page is made PROT_NONE, which splits the mapping in two. A process may hold at most
//    vm.max_map_count maps (65530 by default), so stacks are guarded this way only while the
//    number of live mprotect-guarded stacks is below a budget, (max_map_count - 8192) / 2 =
//    28669 with the default limit; 8192 maps are left to the rest of the program. Beyond the
//    budget, stacks are unguarded: adjacent unguarded stacks merge into a single map, so a
//    million fibers stay possible. An unguarded stack keeps a zero canary instead: its lowest
//    64 usable bytes must stay zero. `Context` checks them at every suspend and when the fiber
//    finishes, and aborts with a message if an overflow wrote anything but zeros there. Zero,
//    because then the canary is never written: `map` leaves that page untouched. (Whether
//    *reading* it costs a resident page depends on the kernel: on 6.1 the read maps the shared
//    zero page, on 6.18 it counts as resident. With lightweight guards there is no canary.)
//    The price: an overflow that writes only zeros there goes unnoticed.
// A guard page hit on either kind is reported as a stack overflow (see context.h).
//
// `StackPool` is a per-thread cache (no lock, no atomic on its fast path): a stack released on
// a thread goes to that thread's pool and is reused for the next stack of the same size taken
// on that thread. Each thread caches at most kMaxCachedStacks (4096) stacks and kMaxCachedBytes
// (256 MiB of address space; only touched pages, typically 8-16 KiB a stack, are resident). Beyond
// that, stacks go to a process-wide depot (a mutex-guarded list) that threads look in before
// mapping a new stack, so stacks released on one worker are reused by another. Stacks move to and
// from the depot in batches of up to kDepotBatch, so a thread past its limit takes the depot's
// lock once per batch. When a thread exits, its cached stacks go to the depot too: multififo's
// workers are threads of one run, and the next run's take what they leave instead of mapping and
// faulting in new ones.
//
// The depot has two capacities:
//  - Steady: kMaxDepotStacks (131,072) stacks / kMaxDepotBytes, kept until `trim()`.
//  - Burst: beyond that, up to kMaxDepotBurstStacks / kMaxDepotBurstBytes, kept only while they
//    are in use: a burst of fibers larger than the steady capacity that repeats (a fan-out of
//    200,000 requests every second) reuses its stacks instead of mapping, faulting in and
//    unmapping the excess every time (~40 us a stack on the reference VM: timers_fire with
//    200,000 fibers took 1,843 ms against 97 for 100,000 before this tier existed). "In use":
//    a give into the burst tier or a take from it within the last kDepotBurstHold (1 s).
//    Once that has not happened for kDepotBurstHold, gives beyond the steady capacity are
//    unmapped again, and `release_idle()` unmaps the burst tier's stacks, a batch per call.
//    Schedulers call it when they are about to idle (fifo, multififo, libevent; not randos),
//    and sleep no longer than `release_due()`, so a process returns the excess 64 stacks per
//    pass through an idle scheduler's loop from a second after the burst's last use, also
//    while nothing else would wake it; one that never idles not at all, keeping at most its
//    peak, which it had mapped anyway (trim() releases it all at once). A stack beyond both
//    capacities is unmapped at once.
// `StackPool::trim()` unmaps the depot's stacks, both tiers (a process going idle for long).
//
// Sanitizers: under -fsanitize=thread every stack owns a TSan fiber handle, created once with
// __tsan_create_fiber (~0.4 ms) when the stack is mapped and reused with the stack. Under
// -fsanitize=address a released stack's shadow memory is unpoisoned before reuse.

#ifndef PICOS_MUX_CONTEXT_STACK_H_
#define PICOS_MUX_CONTEXT_STACK_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace picos::mux::context {

// How stacks are guarded in this process (see the file comment).
enum class GuardMode : unsigned char {
  kLightweight,  // madvise(MADV_GUARD_INSTALL) on every stack, no budget, no VMA split
  kMprotect,     // mprotect'ed guard page while the budget allows, else a zero canary
};

// What guards one stack.
enum class GuardKind : unsigned char {
  kNone,         // unguarded: a zero canary at limit()
  kMprotect,     // a PROT_NONE page below limit() (its own memory map)
  kLightweight,  // a lightweight guard region below limit() (no memory map of its own)
};

// One mmap'ed fiber stack. Created and destroyed only through `StackPool` (or `Stack::map` /
// `Stack::unmap`); a `Stack*` is owned by exactly one context or one pool at a time. The
// accessors may be called from any thread that owns the stack; they cost a load or two.
class Stack {
 public:
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Maps a new stack whose stack region is `size` bytes (a multiple of the page size, at
  // least one page more than the header), guarded as `guard_mode()` says. Aborts the
  // process with a message if the kernel refuses the mapping. Any thread; costs one mmap and
  // one madvise or mprotect if guarded, plus __tsan_create_fiber under TSan.
  static Stack* map(std::size_t size) noexcept;

  // Unmaps `stack` (its TSan fiber handle is destroyed too). Any thread; one munmap. The stack
  // must not be in use: never call it on the stack you are running on.
  static void unmap(Stack* stack) noexcept;

  // Size of the stack region in bytes, excluding the guard page (the header lives in its top
  // bytes). This is the size reported when the guard page is hit.
  std::size_t size() const noexcept { return size_; }

  // The usable range [limit(), top()): `top()` is 64-byte aligned and is the initial stack
  // pointer handed to make_fcontext; `limit()` is the lowest usable address (where the canary
  // lives on unguarded stacks).
  void* top() const noexcept { return const_cast<Stack*>(this); }
  void* limit() const noexcept { return limit_; }
  std::size_t usable_size() const noexcept {
    return static_cast<std::size_t>(static_cast<char*>(top()) - static_cast<char*>(limit_));
  }

  // Whether a guard page (of either kind) lies below `limit()`, which kind, and its address
  // range [begin, end).
  bool guarded() const noexcept { return guard_kind_ != GuardKind::kNone; }
  GuardKind guard_kind() const noexcept { return guard_kind_; }
  // Both 0 for an unguarded stack.
  std::uintptr_t guard_begin() const noexcept {
    return guarded() ? reinterpret_cast<std::uintptr_t>(mapping_) : 0;
  }
  std::uintptr_t guard_end() const noexcept {
    return guarded() ? reinterpret_cast<std::uintptr_t>(limit_) : 0;
  }

  // Unguarded stacks only: whether the kCanaryBytes at `limit()` are still zero (always true for a
  // guarded stack). A load and a compare.
  bool canary_intact() const noexcept {
    if (guarded()) return true;
    const volatile std::uintptr_t* words = static_cast<const volatile std::uintptr_t*>(limit_);
    std::uintptr_t any = 0;
    for (std::size_t i = 0; i < kCanaryBytes / sizeof(std::uintptr_t); ++i) any |= words[i];
    return any == 0;
  }

  // Aborts with "picos: fiber stack canary overwritten ..." if `canary_intact()` is false.
  // Called by `Context` at every suspend and when a fiber finishes.
  void check_canary() const noexcept {
    if (!canary_intact()) canary_failure();
  }

  // The TSan fiber handle that runs on this stack (nullptr outside TSan builds). Created when
  // the stack is mapped and re-created if `forget_fiber_state()` dropped it.
  void* tsan_fiber() noexcept;

  // Prepares a stack whose fiber is gone for reuse by another fiber. `abandoned` is true when
  // the fiber never finished (its frames are still on the stack): under TSan its fiber handle
  // (whose shadow call stack still holds those frames) is destroyed and re-created lazily.
  // Under ASan the whole usable range is unpoisoned. A no-op in other builds.
  void forget_fiber_state(bool abandoned) noexcept;

 private:
  friend class StackPool;

  Stack() = default;
  static constexpr std::size_t kCanaryBytes = 64;
  [[noreturn]] void canary_failure() const noexcept;

  void* mapping_ = nullptr;       // start of the mmap'ed region (guard page included)
  std::size_t mapping_size_ = 0;  // length of the mmap'ed region
  std::size_t size_ = 0;          // stack region, guard excluded
  void* limit_ = nullptr;         // lowest usable address; a guard page is [mapping_, limit_)
  GuardKind guard_kind_ = GuardKind::kNone;
  void* tsan_fiber_ = nullptr;
  Stack* next_ = nullptr;  // free-list link while cached in a pool
};

// Process-wide counters, all updated with relaxed atomics: a snapshot, not a consistent cut.
struct StackStats {
  std::size_t guarded_live = 0;           // mapped guarded stacks of either kind (in use or cached)
  std::size_t mprotect_live = 0;          // of those, mprotect-guarded (what the budget limits)
  std::size_t unguarded_live = 0;         // mapped unguarded (canary) stacks
  std::size_t maps_total = 0;             // stacks ever mapped (monotonic): detects a fresh mmap
  std::size_t unmaps_total = 0;           // stacks ever unmapped (monotonic)
  std::size_t guard_budget = 0;           // current limit on `mprotect_live`
  std::size_t depot_stacks = 0;           // stacks in the shared depot, both tiers
  GuardMode mode = GuardMode::kMprotect;  // `guard_mode()`
};

// Counters of the calling thread's pool.
struct StackPoolStats {
  std::size_t cached_stacks = 0;  // stacks cached now
  std::size_t cached_bytes = 0;   // their sizes (`Stack::size()`), summed
  std::size_t reused = 0;         // takes served from the cache (monotonic)
  std::size_t mapped = 0;         // takes that had to map a new stack (monotonic)
};

// The per-thread stack cache. Every function acts on the calling thread's pool; none takes a
// lock. A thread's pool is created on first use and hands its cached stacks to the shared depot
// when the thread exits (unmapping those the depot has no room for); after that, `give` on
// that thread unmaps directly.
class StackPool {
 public:
  // Caching limits per thread: at most this many stacks, and at most this many bytes of
  // stack (`Stack::size()` summed; so 64 stacks of 64 KiB, or 4 of 1 MiB), in up to
  // kMaxSizes distinct sizes. A stack that does not fit is unmapped.
  static constexpr std::size_t kMaxCachedStacks = 4096;
  static constexpr std::size_t kMaxCachedBytes = 256 * 1024 * 1024;
  // The process-wide depot behind the per-thread pools (a mutex-guarded list): a thread's
  // overflow goes there, and a thread's miss looks there before mapping a new stack. Its
  // steady capacity, kept until trim():
  static constexpr std::size_t kMaxDepotStacks = 131072;
  static constexpr std::size_t kMaxDepotBytes = std::size_t{8} << 30;
  // Its burst capacity (both tiers together), and how long the stacks beyond the steady
  // capacity are kept without a give into or a take from that tier (see the file comment).
  static constexpr std::size_t kMaxDepotBurstStacks = std::size_t{1} << 20;
  static constexpr std::size_t kMaxDepotBurstBytes = std::size_t{64} << 30;
  static constexpr std::chrono::nanoseconds kDepotBurstHold = std::chrono::seconds(1);
  static constexpr std::size_t kMaxSizes = 8;
  // Stacks move between a thread's pool and the depot up to this many at a time: a thread
  // past its limit (more than kMaxCachedStacks fibers alive at once, as 100,000 sleeping
  // fibers) takes the depot's lock once per batch, not once per stack.
  static constexpr std::size_t kDepotBatch = 64;

  // Returns a stack whose `size()` is exactly `size` (a page multiple): a cached one if the
  // calling thread has one (a few loads and stores), else `Stack::map(size)`.
  static Stack* take(std::size_t size) noexcept;

  // Gives `stack` back to the calling thread's pool, or, if the pool is full, to the shared
  // depot (or unmaps it if that is full too). The caller must have called
  // `forget_fiber_state` if a fiber ran on it, and must not be running on it. O(kMaxSizes).
  static void give(Stack* stack) noexcept;

  // Unmaps every stack cached by the calling thread and every stack in the shared depot
  // (tests, or a process going idle for long). Any thread.
  static void trim() noexcept;

  // If the depot holds stacks beyond its steady capacity and none has gone into or out of
  // that tier for kDepotBurstHold: unmaps up to kDepotBatch of them (outside the depot's
  // lock; ~1 ms of system calls on the reference VM) and returns how many. Any thread; a
  // relaxed load and nothing else while the depot holds no such stacks, a clock read while it
  // holds some that are still in use. Schedulers call it before they idle.
  static std::size_t release_idle() noexcept;

  // When a scheduler about to sleep should wake to call release_idle() again, so that a
  // burst is returned even while nothing else wakes it (a server waiting for its next
  // connection with no timer pending): time_point::max() while the depot holds nothing beyond
  // its steady capacity; otherwise the end of the hold since that tier's last use, which is
  // in the past once the tier has gone stale (then a batch is due at once: a scheduler that
  // keeps finding nothing to do returns the whole tier, a batch per pass through its loop,
  // looking at its wake-ups, timers and descriptors between batches). Any thread; a relaxed
  // load, two more while the depot holds a burst. No clock read.
  static std::chrono::steady_clock::time_point release_due() noexcept;

  // The calling thread's pool counters. Cheap.
  static StackPoolStats this_thread_stats() noexcept;

  StackPool() = delete;

 private:
  friend struct PoolReaper;
  // A stack of `size` from the depot, and up to kDepotBatch - 1 more into the calling
  // thread's pool as room allows; nullptr if the depot has none.
  static Stack* depot_take(std::size_t size) noexcept;
  // `stack` to the depot; false if it is full.
  static bool depot_give(Stack* stack) noexcept;
  // `stack` to the depot, with up to kDepotBatch - 1 stacks of its size from the calling
  // thread's pool, so that its next gives find room there; false if the depot is full.
  static bool depot_give_batch(Stack* stack) noexcept;
  // At thread exit: the calling thread's cached stacks go to the depot, or are unmapped.
  static void retire() noexcept;
  // Takes every stack out of the calling thread's pool and passes it to `release`.
  template <typename Release>
  static void empty_this_thread(Release release) noexcept;
};

// A snapshot of the process-wide stack counters. Any thread; a few relaxed loads.
StackStats stack_stats() noexcept;

// How this process guards its stacks: kLightweight if the kernel accepts MADV_GUARD_INSTALL
// (probed once, on a scratch mapping, the first time a stack is mapped) and the environment
// variable PICOS_STACK_GUARDS is not "mprotect"; else kMprotect. Any thread; a load after the
// first call.
GuardMode guard_mode() noexcept;

// Whether the running kernel accepts lightweight guard regions (the probe above, whatever the
// environment says). Any thread.
bool lightweight_guards_supported() noexcept;

// Forces `mode` for stacks mapped from now on (kLightweight only if supported: returns false
// and changes nothing otherwise); tests use it to exercise the fallback on a new kernel.
// `restore_guard_mode_for_testing()` goes back to what `guard_mode()` chose.
bool set_guard_mode_for_testing(GuardMode mode) noexcept;
void restore_guard_mode_for_testing() noexcept;

// Sets the mprotect guard budget (the most mprotect-guarded stacks alive at once) to `budget`;
// a negative value restores the default, (vm.max_map_count - 8192) / 2. Only new mappings are
// affected: cached and live stacks keep what they have. With kMprotect, tests use 0 to force
// the unguarded (canary) path; lightweight guards have no budget.
void set_guard_budget_for_testing(long budget) noexcept;

// The depot's capacities (StackPool's kMaxDepot* constants and kDepotBurstHold by default).
struct DepotLimits {
  std::size_t steady_stacks;
  std::size_t steady_bytes;
  std::size_t burst_stacks;  // both tiers together; at least steady_stacks
  std::size_t burst_bytes;   // likewise
  std::chrono::nanoseconds hold;
};
// Replaces the depot's capacities (tests: a burst tier of a few hundred stacks instead of
// 131,072 and more). Stacks already in the depot stay until taken, released or trimmed.
// `restore_depot_limits_for_testing()` goes back to the defaults.
void set_depot_limits_for_testing(const DepotLimits& limits) noexcept;
void restore_depot_limits_for_testing() noexcept;

// The system page size (cached after the first call): a power of two.
std::size_t page_size() noexcept;

}  // namespace picos::mux::context

#endif  // PICOS_MUX_CONTEXT_STACK_H_
