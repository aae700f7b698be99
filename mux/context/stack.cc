// Copyright 2026 The Picos for C++ Authors.

#include "mux/context/stack.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "absl/base/thread_annotations.h"
#include "mux/context/internal/fatal.h"
#include "mux/context/internal/sanitizers.h"
#include "picos/internal/mutex.h"

namespace picos::mux::context {
namespace {

// Bytes at the top of each mapping that hold the `Stack` header (keeps top() 64-byte aligned).
constexpr std::size_t kHeaderSize = 64;
static_assert(sizeof(Stack) <= kHeaderSize);

// madvise advice that installs a lightweight guard region (Linux 6.13; Debian 12's headers
// predate it).
#ifdef MADV_GUARD_INSTALL
constexpr int kMadvGuardInstall = MADV_GUARD_INSTALL;
#else
constexpr int kMadvGuardInstall = 102;
#endif

// Maps left to the rest of the program when computing the default guard budget.
constexpr long kMapsReserved = 8192;
// Memory maps a guarded stack costs (the mprotect splits its mapping in two).
constexpr long kMapsPerGuardedStack = 2;

std::atomic<std::size_t> g_guarded_live{0};  // mprotect-guarded (budgeted)
std::atomic<std::size_t> g_light_live{0};    // lightweight-guarded
std::atomic<std::size_t> g_unguarded_live{0};
std::atomic<std::size_t> g_maps_total{0};
std::atomic<std::size_t> g_unmaps_total{0};
std::atomic<long> g_budget_override{-1};  // < 0: use default_guard_budget()
// -1: use default_guard_mode(); else a GuardMode forced by a test.
std::atomic<int> g_mode_override{-1};

// Installs a lightweight guard on one scratch page: does this kernel have them?
bool probe_lightweight_guards() noexcept {
  const std::size_t page = page_size();
  void* m = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return false;
  const bool ok = ::madvise(m, page, kMadvGuardInstall) == 0;
  ::munmap(m, 2 * page);
  return ok;
}

GuardMode default_guard_mode() noexcept {
  static const GuardMode mode = [] {
    const char* env = std::getenv("PICOS_STACK_GUARDS");
    if (env != nullptr && std::strcmp(env, "mprotect") == 0) return GuardMode::kMprotect;
    return lightweight_guards_supported() ? GuardMode::kLightweight : GuardMode::kMprotect;
  }();
  return mode;
}

// Reads /proc/sys/vm/max_map_count (65530 if unreadable) and leaves kMapsReserved maps.
long compute_default_guard_budget() noexcept {
  long max_map_count = 65530;
  int fd = ::open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[32];
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    if (n > 0) {
      long v = 0;
      for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) v = v * 10 + (buf[i] - '0');
      if (v > 0) max_map_count = v;
    }
  }
  long budget = (max_map_count - kMapsReserved) / kMapsPerGuardedStack;
  return budget > 0 ? budget : 0;
}

long default_guard_budget() noexcept {
  static const long budget = compute_default_guard_budget();  // read once
  return budget;
}

long guard_budget() noexcept {
  long o = g_budget_override.load(std::memory_order_relaxed);
  return o >= 0 ? o : default_guard_budget();
}

// Reserves one guarded stack in the budget; false if the budget is exhausted.
bool reserve_guarded() noexcept {
  std::size_t before = g_guarded_live.fetch_add(1, std::memory_order_relaxed);
  if (static_cast<long>(before) < guard_budget()) return true;
  g_guarded_live.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

[[noreturn]] void map_failure(const char* what, std::size_t bytes, int err) noexcept {
  internal::FatalMessage()
      .text("picos: cannot ")
      .text(what)
      .text(" a fiber stack of ")
      .decimal(bytes)
      .text(" bytes (errno ")
      .decimal(static_cast<std::uint64_t>(err))
      .text("). Too many fibers, or vm.max_map_count / memory limits too low.")
      .abort();
}

// ---- the per-thread pool ------------------------------------------------------------------

struct Bucket {
  std::size_t size;  // stack size held by this bucket (kept while empty; reused when count == 0)
  Stack* head;
  std::size_t count;
};

enum : unsigned char { kPoolFresh = 0, kPoolArmed = 1, kPoolDead = 2 };

// Plain data, constant-initialised: accesses need no TLS init guard.
struct PoolData {
  Bucket buckets[StackPool::kMaxSizes];
  StackPoolStats stats;
  unsigned char state;
};
constinit thread_local PoolData t_pool{};

}  // namespace

// Its destructor hands the thread's cached stacks to the depot at thread exit. It is touched
// (which registers the destructor) the first time the thread caches a stack.
struct PoolReaper {
  bool armed = false;
  ~PoolReaper() {
    StackPool::retire();
    t_pool.state = kPoolDead;
  }
};

namespace {
thread_local PoolReaper t_reaper;
}  // namespace

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

// ---- Stack --------------------------------------------------------------------------------

Stack* Stack::map(std::size_t size) noexcept {
  const std::size_t page = page_size();
  const bool light = guard_mode() == GuardMode::kLightweight;
  bool guarded = light || reserve_guarded();
  const std::size_t mapping_size = size + (guarded ? page : 0);
  void* mapping = ::mmap(nullptr, mapping_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mapping == MAP_FAILED) {
    int err = errno;
    if (guarded && !light) g_guarded_live.fetch_sub(1, std::memory_order_relaxed);
    map_failure("map", size, err);
  }
  char* base = static_cast<char*>(mapping);
  GuardKind kind = GuardKind::kNone;
  if (light) {
    // Cannot fail on a kernel that passed the probe, short of memory for page tables; then
    // the page stays a plain (unused) part of the mapping and the canary takes over.
    if (::madvise(base, page, kMadvGuardInstall) == 0) kind = GuardKind::kLightweight;
  } else if (guarded) {
    // mprotect typically fails with ENOMEM: the map-count limit was reached by someone else.
    // Then as above.
    if (::mprotect(base, page, PROT_NONE) == 0) {
      kind = GuardKind::kMprotect;
    } else {
      g_guarded_live.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  guarded = kind != GuardKind::kNone;
  Stack* s = new (base + mapping_size - kHeaderSize) Stack();
  s->mapping_ = mapping;
  s->mapping_size_ = mapping_size;
  s->size_ = size;
  s->limit_ = base + (mapping_size - size);
  s->guard_kind_ = kind;
  if (guarded) {
    if (kind == GuardKind::kLightweight) g_light_live.fetch_add(1, std::memory_order_relaxed);
  } else {
    g_unguarded_live.fetch_add(1, std::memory_order_relaxed);
    // The zero canary needs no write: the fresh mapping reads as zeros.
  }
#ifdef PICOS_CONTEXT_TSAN
  s->tsan_fiber_ = __tsan_create_fiber(0);
#endif
  g_maps_total.fetch_add(1, std::memory_order_relaxed);
  return s;
}

void Stack::unmap(Stack* stack) noexcept {
#ifdef PICOS_CONTEXT_TSAN
  if (stack->tsan_fiber_ != nullptr) __tsan_destroy_fiber(stack->tsan_fiber_);
#endif
  switch (stack->guard_kind()) {
    case GuardKind::kLightweight:
      g_light_live.fetch_sub(1, std::memory_order_relaxed);
      break;
    case GuardKind::kMprotect:
      g_guarded_live.fetch_sub(1, std::memory_order_relaxed);
      break;
    case GuardKind::kNone:
      g_unguarded_live.fetch_sub(1, std::memory_order_relaxed);
      break;
  }
  g_unmaps_total.fetch_add(1, std::memory_order_relaxed);
  void* mapping = stack->mapping_;
  std::size_t mapping_size = stack->mapping_size_;
  stack->~Stack();
  if (::munmap(mapping, mapping_size) != 0) map_failure("unmap", mapping_size, errno);
}

void* Stack::tsan_fiber() noexcept {
#ifdef PICOS_CONTEXT_TSAN
  if (tsan_fiber_ == nullptr) tsan_fiber_ = __tsan_create_fiber(0);
#endif
  return tsan_fiber_;
}

void Stack::forget_fiber_state([[maybe_unused]] bool abandoned) noexcept {
#ifdef PICOS_CONTEXT_TSAN
  // The shadow call stack of an abandoned fiber still holds its frames; reusing the handle
  // would let it grow without bound.
  if (abandoned && tsan_fiber_ != nullptr) {
    __tsan_destroy_fiber(tsan_fiber_);
    tsan_fiber_ = nullptr;
  }
#endif
#ifdef PICOS_CONTEXT_ASAN
  // Frames that never returned (abandoned fibers, the finished fiber's last frames) leave
  // poisoned redzones behind; the next fiber must start from clean shadow memory.
  __asan_unpoison_memory_region(limit_, usable_size());
#endif
}

void Stack::canary_failure() const noexcept {
  internal::FatalMessage()
      .text("picos: fiber stack canary overwritten (stack size ")
      .decimal(size_)
      .text(" bytes, lowest usable address ")
      .hex(reinterpret_cast<std::uintptr_t>(limit_))
      .text(
          "): the fiber overflowed its unguarded stack. Give the fiber a bigger stack (the "
          "scheduler's stack_size option).")
      .abort();
}

// ---- the shared depot ---------------------------------------------------------------------
// Where a thread's overflow goes and a thread's misses look before mapping: with fibers
// migrating (multififo), stacks taken on one worker are often released on another, so one
// pool fills while the other runs dry. A mutex is far cheaper than mmap + mprotect + munmap.

namespace {

constexpr DepotLimits kDefaultDepotLimits{
    StackPool::kMaxDepotStacks, StackPool::kMaxDepotBytes, StackPool::kMaxDepotBurstStacks,
    StackPool::kMaxDepotBurstBytes, StackPool::kDepotBurstHold};

struct Depot {
  picos::internal::Mutex mu;
  Stack* head ABSL_GUARDED_BY(mu) = nullptr;
  std::size_t count ABSL_GUARDED_BY(mu) = 0;
  std::size_t bytes ABSL_GUARDED_BY(mu) = 0;
  DepotLimits limits ABSL_GUARDED_BY(mu) = kDefaultDepotLimits;
};

Depot& depot() noexcept {
  static Depot* const d = new Depot();  // never destroyed: threads may exit in any order
  return *d;
}

// Written under the depot's lock after each change, read without it: the depot's size
// (stack_stats), and for release_idle's checks whether the burst tier holds stacks and the
// hold (a relaxed load each, so that an idle scheduler pays no lock).
std::atomic<std::size_t> g_depot_stacks{0};
std::atomic<bool> g_depot_burst{false};
// When the burst tier (what the depot holds beyond its steady capacity) was last given to or
// taken from, steady_clock nanoseconds: meaningful while the tier holds stacks. Written only
// under the depot's lock (so read there it is exact), read without it by release_idle.
std::atomic<std::int64_t> g_depot_burst_used_ns{0};
std::atomic<std::int64_t> g_depot_hold_ns{kDefaultDepotLimits.hold.count()};

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whether the depot holds stacks beyond its steady capacity (its burst tier is not empty).
bool beyond_steady(const Depot& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
  return d.count > d.limits.steady_stacks || d.bytes > d.limits.steady_bytes;
}

void publish(const Depot& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
  g_depot_stacks.store(d.count, std::memory_order_relaxed);
  g_depot_burst.store(beyond_steady(d), std::memory_order_relaxed);
}

// (`d` only names the lock the annotation asks for: the time is written under it.)
void mark_burst_used([[maybe_unused]] const Depot& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
  g_depot_burst_used_ns.store(now_ns(), std::memory_order_relaxed);
}

// Without the lock: the steady_clock nanoseconds from which the burst tier counts as stale
// (one past the hold since its last use), or INT64_MAX while it holds no stacks. What
// release_idle checks first and release_due reports; burst_stale decides under the lock.
std::int64_t burst_due_ns() noexcept {
  if (!g_depot_burst.load(std::memory_order_relaxed))
    return std::numeric_limits<std::int64_t>::max();
  const std::int64_t used = g_depot_burst_used_ns.load(std::memory_order_relaxed);
  const std::int64_t hold = g_depot_hold_ns.load(std::memory_order_relaxed);
  if (hold >= std::numeric_limits<std::int64_t>::max() - used) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return used + hold + 1;
}

// Whether the burst tier holds stacks that nobody gave or took within the hold, at `now`.
bool burst_stale(const Depot& d, std::int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
  return beyond_steady(d) &&
         now - g_depot_burst_used_ns.load(std::memory_order_relaxed) > d.limits.hold.count();
}

// How many stacks of `size` (at most `want`) the depot takes now: what fits its steady
// capacity, and beyond that what fits its burst capacity if the burst tier is empty (a burst
// begins) or was used within the hold; marks the tier used if any go there. Reads the clock
// only when the steady capacity is full.
std::size_t depot_room(Depot& d, std::size_t size, std::size_t want)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
  const auto fit = [&](std::size_t stacks, std::size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
    if (d.count >= stacks || d.bytes + size > bytes) return std::size_t{0};
    return std::min({want, stacks - d.count, (bytes - d.bytes) / size});
  };
  const DepotLimits l = d.limits;  // (a copy: the analysis does not follow a reference)
  const std::size_t steady = fit(l.steady_stacks, l.steady_bytes);
  if (steady == want) return steady;
  if (burst_stale(d, now_ns())) return steady;
  const std::size_t burst = fit(l.burst_stacks, l.burst_bytes);
  if (burst <= steady) return steady;
  mark_burst_used(d);
  return burst;
}

}  // namespace

namespace {

// The calling thread's bucket for stacks of `size`: the one holding that size (even if
// empty), else an empty one (its size then set to `size`); nullptr if kMaxSizes other sizes
// are cached. Two buckets never hold the same size.
Bucket* bucket_for(PoolData& p, std::size_t size) noexcept {
  Bucket* target = nullptr;
  for (Bucket& b : p.buckets) {
    if (b.size == size) return &b;
    if (b.count == 0 && target == nullptr) target = &b;
  }
  if (target != nullptr) target->size = size;
  return target;
}

}  // namespace

Stack* StackPool::depot_take(std::size_t size) noexcept {
  PoolData& p = t_pool;
  // How many more this thread may cache (none if no bucket is free for the size).
  Bucket* b = p.state == kPoolArmed ? bucket_for(p, size) : nullptr;
  std::size_t room = 0;
  if (b != nullptr && p.stats.cached_stacks < kMaxCachedStacks &&
      p.stats.cached_bytes < kMaxCachedBytes) {
    room = std::min({kDepotBatch - 1, kMaxCachedStacks - p.stats.cached_stacks,
                     (kMaxCachedBytes - p.stats.cached_bytes) / size});
  }
  Depot& d = depot();
  picos::internal::MutexLock lock(d.mu);
  if (beyond_steady(d)) mark_burst_used(d);  // (a take from the burst tier)
  Stack* first = nullptr;
  Stack** link = &d.head;
  // Bounded, so that a depot of mixed sizes is not walked whole under its lock.
  for (std::size_t looked = 0; *link != nullptr && looked < 8 + 2 * kDepotBatch; ++looked) {
    Stack* s = *link;
    if (s->size_ != size) {
      link = &s->next_;
      continue;
    }
    *link = s->next_;
    --d.count;
    d.bytes -= size;
    if (first == nullptr) {
      s->next_ = nullptr;
      first = s;
    } else {  // into our pool
      s->next_ = b->head;
      b->head = s;
      ++b->count;
      ++p.stats.cached_stacks;
      p.stats.cached_bytes += size;
      --room;
    }
    if (room == 0) break;
  }
  publish(d);
  return first;
}

bool StackPool::depot_give(Stack* stack) noexcept {
  Depot& d = depot();
  picos::internal::MutexLock lock(d.mu);
  if (depot_room(d, stack->size_, 1) == 0) return false;
  stack->next_ = d.head;
  d.head = stack;
  ++d.count;
  d.bytes += stack->size_;
  publish(d);
  return true;
}

bool StackPool::depot_give_batch(Stack* stack) noexcept {
  PoolData& p = t_pool;
  const std::size_t size = stack->size_;
  Bucket* const b = bucket_for(p, size);  // (empty, or nullptr: only `stack` goes)
  Depot& d = depot();
  picos::internal::MutexLock lock(d.mu);
  std::size_t room = depot_room(d, size, kDepotBatch);
  if (room == 0) return false;
  for (Stack* s = stack; s != nullptr && room != 0; --room) {
    Stack* next = nullptr;
    if (b != nullptr && b->count != 0 && room > 1) {  // the next one from our bucket
      next = b->head;
      b->head = next->next_;
      --b->count;
      --p.stats.cached_stacks;
      p.stats.cached_bytes -= size;
    }
    s->next_ = d.head;
    d.head = s;
    ++d.count;
    d.bytes += size;
    s = next;
  }
  publish(d);
  return true;
}

// ---- StackPool ----------------------------------------------------------------------------

Stack* StackPool::take(std::size_t size) noexcept {
  PoolData& p = t_pool;
  for (Bucket& b : p.buckets) {
    if (b.count != 0 && b.size == size) {
      Stack* s = b.head;
      b.head = s->next_;
      --b.count;
      s->next_ = nullptr;
      --p.stats.cached_stacks;
      p.stats.cached_bytes -= s->size_;
      ++p.stats.reused;
      return s;
    }
  }
  if (Stack* s = depot_take(size)) {
    ++p.stats.reused;
    return s;
  }
  ++p.stats.mapped;
  return Stack::map(size);
}

void StackPool::give(Stack* stack) noexcept {
  PoolData& p = t_pool;
  if (p.state != kPoolArmed) {
    if (p.state == kPoolDead) {  // thread exiting, its pool is gone
      Stack::unmap(stack);
      return;
    }
    t_reaper.armed = true;  // registers the thread-exit destructor
    p.state = kPoolArmed;
  }
  if (p.stats.cached_stacks >= kMaxCachedStacks ||
      p.stats.cached_bytes + stack->size_ > kMaxCachedBytes) {
    if (!depot_give_batch(stack)) Stack::unmap(stack);
    return;
  }
  // Usually the first bucket: the stack taken from it last comes back.
  Bucket* target = bucket_for(p, stack->size_);
  if (target == nullptr) {  // kMaxSizes other sizes cached already
    Stack::unmap(stack);
    return;
  }
  stack->next_ = target->head;
  target->head = stack;
  ++target->count;
  ++p.stats.cached_stacks;
  p.stats.cached_bytes += stack->size_;
}

template <typename Release>
void StackPool::empty_this_thread(Release release) noexcept {
  PoolData& p = t_pool;
  for (Bucket& b : p.buckets) {
    while (b.head != nullptr) {
      Stack* s = b.head;
      b.head = s->next_;
      s->next_ = nullptr;
      p.stats.cached_bytes -= s->size_;
      --p.stats.cached_stacks;
      release(s);
    }
    b.count = 0;
  }
}

void StackPool::retire() noexcept {
  empty_this_thread([](Stack* s) {
    if (!depot_give(s)) Stack::unmap(s);
  });
}

void StackPool::trim() noexcept {
  empty_this_thread([](Stack* s) { Stack::unmap(s); });
  Depot& d = depot();
  picos::internal::MutexLock lock(d.mu);
  while (d.head != nullptr) {
    Stack* s = d.head;
    d.head = s->next_;
    Stack::unmap(s);
  }
  d.count = 0;
  d.bytes = 0;
  publish(d);
}

std::size_t StackPool::release_idle() noexcept {
  const std::int64_t due = burst_due_ns();
  if (due == std::numeric_limits<std::int64_t>::max()) return 0;  // no burst
  const std::int64_t now = now_ns();
  if (now < due) return 0;  // in use
  Depot& d = depot();
  Stack* released = nullptr;
  std::size_t n = 0;
  {
    picos::internal::MutexLock lock(d.mu);
    if (!burst_stale(d, now)) return 0;
    while (n < kDepotBatch && d.head != nullptr && beyond_steady(d)) {
      Stack* s = d.head;
      d.head = s->next_;
      --d.count;
      d.bytes -= s->size_;
      s->next_ = released;
      released = s;
      ++n;
    }
    publish(d);
  }
  while (released != nullptr) {  // the system calls outside the lock
    Stack* s = released;
    released = s->next_;
    Stack::unmap(s);
  }
  return n;
}

std::chrono::steady_clock::time_point StackPool::release_due() noexcept {
  const std::int64_t due = burst_due_ns();
  if (due == std::numeric_limits<std::int64_t>::max()) {
    return std::chrono::steady_clock::time_point::max();
  }
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::nanoseconds(due)));
}

StackPoolStats StackPool::this_thread_stats() noexcept { return t_pool.stats; }

StackStats stack_stats() noexcept {
  StackStats s;
  s.mprotect_live = g_guarded_live.load(std::memory_order_relaxed);
  s.guarded_live = s.mprotect_live + g_light_live.load(std::memory_order_relaxed);
  s.unguarded_live = g_unguarded_live.load(std::memory_order_relaxed);
  s.maps_total = g_maps_total.load(std::memory_order_relaxed);
  s.unmaps_total = g_unmaps_total.load(std::memory_order_relaxed);
  s.guard_budget = static_cast<std::size_t>(guard_budget());
  s.depot_stacks = g_depot_stacks.load(std::memory_order_relaxed);
  s.mode = guard_mode();
  return s;
}

bool lightweight_guards_supported() noexcept {
  static const bool supported = probe_lightweight_guards();
  return supported;
}

GuardMode guard_mode() noexcept {
  int o = g_mode_override.load(std::memory_order_relaxed);
  return o >= 0 ? static_cast<GuardMode>(o) : default_guard_mode();
}

bool set_guard_mode_for_testing(GuardMode mode) noexcept {
  if (mode == GuardMode::kLightweight && !lightweight_guards_supported()) return false;
  g_mode_override.store(static_cast<int>(mode), std::memory_order_relaxed);
  return true;
}

void restore_guard_mode_for_testing() noexcept {
  g_mode_override.store(-1, std::memory_order_relaxed);
}

void set_guard_budget_for_testing(long budget) noexcept {
  g_budget_override.store(budget < 0 ? -1 : budget, std::memory_order_relaxed);
}

void set_depot_limits_for_testing(const DepotLimits& limits) noexcept {
  Depot& d = depot();
  picos::internal::MutexLock lock(d.mu);
  d.limits = limits;
  g_depot_hold_ns.store(limits.hold.count(), std::memory_order_relaxed);
  publish(d);
}

void restore_depot_limits_for_testing() noexcept {
  set_depot_limits_for_testing(kDefaultDepotLimits);
}

}  // namespace picos::mux::context
