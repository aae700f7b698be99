// Copyright 2026 The Picos for C++ Authors.

#include "picos/debug.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/debugging/stacktrace.h"
#include "absl/debugging/symbolize.h"
#include "picos/internal/asymmetric_fence.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/mutex.h"

namespace picos {
namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

// A (ticks, time) pair taken early, against which later ticks are converted to time.
struct TickBase {
  std::uint64_t ticks;
  Clock::time_point time;
};
const TickBase& tick_base() noexcept {
  static const TickBase base{debug_ticks(), Clock::now()};
  return base;
}

// Nanoseconds per tick, measured from tick_base() to now (over at least 2 ms).
double ns_per_tick() {
#if defined(__x86_64__)
  const TickBase& b = tick_base();
  for (;;) {
    const std::uint64_t t = debug_ticks();
    const Clock::time_point now = Clock::now();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - b.time).count();
    if (ns >= 2'000'000 && t > b.ticks)
      return static_cast<double>(ns) / static_cast<double>(t - b.ticks);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
#else
  return 1.0;
#endif
}

struct Pool {
  Mutex mu;
  FiberShard* free ABSL_GUARDED_BY(mu) = nullptr;
};
Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: threads may exit during static destruction
  return *p;
}
std::atomic<FiberShard*> all_shards{nullptr};

void install_from_environment() noexcept;

// The calling thread's shard: taken from the pool (or made) at its first add, returned at
// thread exit.
struct ThreadShard {
  FiberShard* shard = nullptr;
  ~ThreadShard();
};

thread_local constinit FiberShard* t_shard = nullptr;  // trivial: no TLS wrapper call

// Readies `s` for the calling thread, which owns it once this returns.
void take(FiberShard& s) noexcept {
  const bool asymmetric = asymmetric_fences();  // (tests may turn it off)
  // Under the lock: an outsider inside now (unlisting what an earlier owner listed) read the
  // old mode; the next one reads the new mode, as the new owner does.
  SpinLockGuard guard(s.lock);
  s.asymmetric = asymmetric;
}

ThreadShard::~ThreadShard() {
  t_shard = nullptr;  // a later add on this thread (another exit destructor) takes a new one
  if (shard == nullptr) return;
  {
    SpinLockGuard guard(shard->lock);
    shard->asymmetric = false;  // nobody edits it without the lock in the pool
  }
  Pool& p = pool();
  MutexLock lock(p.mu);
  shard->next_free = p.free;
  p.free = shard;
}

FiberShard* my_shard_slow() {
  static thread_local ThreadShard holder;  // gives the shard back at thread exit
  if (holder.shard != nullptr) return t_shard = holder.shard;
  (void)tick_base();
  install_from_environment();
  Pool& p = pool();
  {
    MutexLock lock(p.mu);
    if (p.free != nullptr) {
      holder.shard = std::exchange(p.free, p.free->next_free);
      holder.shard->next_free = nullptr;
      take(*holder.shard);
      return t_shard = holder.shard;
    }
  }
  auto* s = new FiberShard;  // never freed (see debug_registry.h)
  take(*s);
  FiberShard* head = all_shards.load(std::memory_order_relaxed);
  do {
    s->next_all = head;
  } while (!all_shards.compare_exchange_weak(head, s, std::memory_order_release,
                                             std::memory_order_relaxed));
  holder.shard = s;
  return t_shard = s;
}

}  // namespace

// Holds the shard's lock with its owner kept out of the list (see FiberShard).
class ABSL_SCOPED_LOCKABLE FiberShard::Outsider {
 public:
  explicit Outsider(FiberShard& s) ABSL_EXCLUSIVE_LOCK_FUNCTION(s.lock) : s_(s) {
    s.lock.lock();
    fenced_ = s.asymmetric;  // false: an owner that locks too, or none (in the pool)
    if (!fenced_) return;
    s.outsider.store(true, std::memory_order_relaxed);
    heavy_fence();
    for (int spins = 0; s.owner_busy.load(std::memory_order_acquire); ++spins) {
      if (spins < 64) {
        cpu_relax();
      } else {
        sched_yield();  // the owner was preempted inside its few stores
      }
    }
  }
  ~Outsider() ABSL_UNLOCK_FUNCTION() {
    if (fenced_) s_.outsider.store(false, std::memory_order_release);
    s_.lock.unlock();
  }
  Outsider(const Outsider&) = delete;
  Outsider& operator=(const Outsider&) = delete;

 private:
  FiberShard& s_;
  bool fenced_;  // the owner is kept out by the flag (else by the lock, or there is none)
};

void FiberShard::link(FiberListing* l) {
  l->shard = this;
  l->prev = nullptr;
  l->next = head;
  if (head != nullptr) head->prev = l;
  head = l;
}

void FiberShard::unlink(FiberListing* l) {
  (l->prev ? l->prev->next : head) = l->next;
  if (l->next != nullptr) l->next->prev = l->prev;
  l->prev = l->next = nullptr;
  l->shard = nullptr;
}

// The owner's side of the handshake. Not analysed: the owner edits `head` without the lock
// when no outsider holds it, which the analysis cannot express.
template <void (FiberShard::*Edit)(FiberListing*)>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void FiberShard::owner_edit(FiberListing* l) noexcept
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (asymmetric) {
    owner_busy.store(true, std::memory_order_relaxed);
    light_fence();  // heavy_fence() on the outsider's side makes this store-load ordered
    if (!outsider.load(std::memory_order_acquire)) [[likely]] {
      (this->*Edit)(l);
      owner_busy.store(false, std::memory_order_release);
      return;
    }
    owner_busy.store(false, std::memory_order_release);  // an outsider waits for this
  }
  SpinLockGuard guard(lock);
  (this->*Edit)(l);
}

void FiberShard::add(FiberListing* l) noexcept {
  FiberShard* s = t_shard;
  if (s == nullptr) [[unlikely]] {
    try {
      s = my_shard_slow();
    } catch (...) {
      return;  // out of memory for a shard: the fiber is simply not listed
    }
  }
  s->owner_edit<&FiberShard::link>(l);
}

void FiberShard::remove(FiberListing* l) noexcept {
  FiberShard* s = l->shard;
  if (s == nullptr) return;
  if (s != t_shard) [[unlikely]] {
    remove_outside(l);
    return;
  }
  s->owner_edit<&FiberShard::unlink>(l);
}

// Out of line: the barrier's code would make remove() save registers it does not need.
ABSL_ATTRIBUTE_NOINLINE void FiberShard::remove_outside(FiberListing* l) noexcept {
  FiberShard& s = *l->shard;
  Outsider guard(s);  // listed by another thread, or by this one before it took a new shard
  s.unlink(l);
}

FiberShard* FiberShard::first() noexcept { return all_shards.load(std::memory_order_acquire); }

void FiberShard::collect(std::vector<debug::FiberInfo>& infos) {
  Outsider guard(*this);
  for (const FiberListing* l = head; l != nullptr; l = l->next) {
    infos.emplace_back();
    describe(*l, infos.back());
  }
}

namespace {
// A listed fiber's state from its listing and the ticks at its suspension (0: not suspended),
// for dumps and stats alike.
debug::FiberState state_of(const FiberListing& l, std::uint64_t suspended_at) noexcept {
  if (suspended_at != 0) return debug::FiberState::kSuspended;
  if (l.finishing.load(std::memory_order_relaxed)) return debug::FiberState::kFinishing;
  // No counters: no scheduler, the fiber has a thread of its own.
  if (l.counters == nullptr || l.running.load(std::memory_order_relaxed)) {
    return debug::FiberState::kRunning;
  }
  return debug::FiberState::kReady;
}
}  // namespace

void FiberShard::describe(const FiberListing& l, debug::FiberInfo& out) {
  const Fiber& f = *l.fiber;
  out.id = f.id_;
  out.address = &f;
  out.scheduler = l.scheduler != nullptr ? l.scheduler : "no scheduler";
  out.worker = l.worker;
  const std::uint64_t at = f.suspended_at_.load(std::memory_order_relaxed);
  out.state = state_of(l, at);
  out.suspended = out.state == debug::FiberState::kSuspended;
  {
    SpinLockGuard lock(f.name_lock_);
    if (const FiberDebugExtra* x = f.extra_.get()) {
      out.name = x->name;
      out.spawn_stack.assign(x->spawn_stack, x->spawn_stack + x->spawn_depth);
      // The trace of this suspension only (not of an earlier one).
      if (at != 0 && x->awaiting) out.stack.assign(x->stack, x->stack + x->depth);
    }
  }
  if (!out.suspended) return;
  out.suspended_for = std::chrono::nanoseconds(static_cast<std::int64_t>(at));  // ticks for now
  if (const debug::WaitKind* kind = f.wait_kind_.load(std::memory_order_relaxed)) {
    const void* object = f.wait_object_.load(std::memory_order_relaxed);
    const char* what = kind->object_is_what ? static_cast<const char*>(object) : kind->what;
    out.what = what != nullptr ? what : "wait";
    out.type = kind->type != nullptr ? kind->type : "";
    out.detail = kind->detail;
    out.object = kind->object_is_what ? nullptr : object;
    out.value = f.wait_value_.load(std::memory_order_relaxed);
  }
}

void FiberShard::tally(const std::vector<const void*>& ids,
                       std::vector<debug::SchedulerStats>& out) {
  Outsider guard(*this);
  for (const FiberListing* l = head; l != nullptr; l = l->next) {
    if (l->counters == nullptr) continue;
    const auto it = std::find(ids.begin(), ids.end(), l->counters);
    if (it == ids.end()) continue;
    debug::SchedulerStats& st = out[static_cast<std::size_t>(it - ids.begin())];
    ++st.live;
    const debug::FiberState state =
        state_of(*l, l->fiber->suspended_at_.load(std::memory_order_relaxed));
    if (state != debug::FiberState::kSuspended) ++st.runnable;
    if (state == debug::FiberState::kReady) ++st.ready;
  }
}

// ---- counters ------------------------------------------------------------------------

namespace {

struct CounterList {
  Mutex mu;
  SchedulerCounters* head ABSL_GUARDED_BY(mu) = nullptr;  // oldest first
  SchedulerCounters* tail ABSL_GUARDED_BY(mu) = nullptr;
};
CounterList& counter_list() {
  static CounterList* l = new CounterList;  // never destroyed (schedulers may outlive statics)
  return *l;
}

}  // namespace

void SchedulerCounters::enroll(const char* name, int w) noexcept {
  CounterList& l = counter_list();
  MutexLock lock(l.mu);
  scheduler = name;
  worker = w;
  if (enrolled) return;
  enrolled = true;
  prev = l.tail;
  next = nullptr;
  (l.tail != nullptr ? l.tail->next : l.head) = this;
  l.tail = this;
}

void SchedulerCounters::withdraw() noexcept {
  CounterList& l = counter_list();
  MutexLock lock(l.mu);
  if (!enrolled) return;
  enrolled = false;
  (prev != nullptr ? prev->next : l.head) = next;
  (next != nullptr ? next->prev : l.tail) = prev;
  prev = next = nullptr;
}

namespace {
// Holds the list's lock while the shards are tallied, so no SchedulerCounters is destroyed
// (and another made at its address) between the two.
std::vector<debug::SchedulerStats> collect_stats() {
  std::vector<debug::SchedulerStats> out;
  std::vector<const void*> ids;
  CounterList& l = counter_list();
  MutexLock lock(l.mu);
  for (const SchedulerCounters* c = l.head; c != nullptr; c = c->next) {
    debug::SchedulerStats st;
    st.scheduler = c->scheduler != nullptr ? c->scheduler : "a scheduler";
    st.worker = c->worker;
    st.spawns = c->spawns.get();
    st.finishes = c->finishes.get();
    st.switches = c->switches.get();
    st.steals = c->steals.get();
    st.io_waits = c->io_waits.get();
    st.timers = c->timers.get();
    out.push_back(std::move(st));
    ids.push_back(c);
  }
  for (FiberShard* s = FiberShard::first(); s != nullptr; s = s->next_all) s->tally(ids, out);
  return out;
}
}  // namespace

// ---- stack traces --------------------------------------------------------------------

namespace {
bool traces_from_environment() noexcept {
  const char* v = std::getenv("PICOS_FIBER_TRACES");
  return v != nullptr && v[0] == '1' && v[1] == '\0';
}
}  // namespace

std::atomic<bool> fiber_traces_on{traces_from_environment()};

int capture_trace(void** pcs, const void* from) noexcept {
  // Found by address, not by a count of frames to skip: how many frames lie between here and
  // `from` depends on inlining, which differs between builds (sanitizers, -c opt).
  constexpr int kSlack = 8;
  void* all[FiberDebugExtra::kDepth + kSlack];
  const int n = absl::GetStackTrace(all, FiberDebugExtra::kDepth + kSlack, 0);
  int first = 0;
  while (first < n && first < kSlack && all[first] != from) ++first;
  if (first == n || all[first] != from) first = 0;  // not found: the whole trace
  const int kept = std::min(n - first, FiberDebugExtra::kDepth);
  std::copy(all + first, all + first + kept, pcs);
  return kept;
}

namespace {

// ---- dumps on a signal ----------------------------------------------------------------

int dump_pipe[2] = {-1, -1};

void on_dump_signal(int) {
  const int saved = errno;
  const char c = 'd';
  (void)!::write(dump_pipe[1], &c, 1);
  errno = saved;
}

void install_dump_on_signal(int signal) {
  if (signal == SIGSEGV || signal == SIGBUS || signal == SIGILL || signal == SIGFPE ||
      signal == SIGKILL || signal == SIGSTOP) {
    throw std::invalid_argument(
        "picos::debug::install_dump_on_signal: signal " + std::to_string(signal) +
        " reports a fault or cannot be caught; use SIGQUIT, SIGUSR1 or SIGUSR2");
  }
  static std::once_flag once;
  std::call_once(once, [] {
    if (::pipe2(dump_pipe, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              "picos::debug::install_dump_on_signal: pipe2");
    }
    (void)::fcntl(dump_pipe[1], F_SETFL, O_NONBLOCK);  // a flood of signals never blocks
    std::thread([] {
      char c;
      for (;;) {
        const ssize_t n = ::read(dump_pipe[0], &c, 1);
        if (n == 1) {
          debug::dump_to_stderr();
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          return;
        }
      }
    }).detach();
  });
  struct sigaction sa = {};
  sa.sa_handler = &on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (::sigaction(signal, &sa, nullptr) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "picos::debug::install_dump_on_signal: sigaction");
  }
}

void install_from_environment() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* v = std::getenv("PICOS_DUMP_SIGNAL");
    if (v == nullptr || *v == '\0') return;
    char* end = nullptr;
    const long sig = std::strtol(v, &end, 10);
    if (*end != '\0' || sig <= 0 || sig >= NSIG) {
      std::fprintf(stderr, "picos: PICOS_DUMP_SIGNAL=%s is not a signal number; ignored\n", v);
      return;
    }
    try {
      install_dump_on_signal(static_cast<int>(sig));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "picos: PICOS_DUMP_SIGNAL=%s: %s\n", v, e.what());
    }
  });
}

}  // namespace
}  // namespace internal

namespace debug {

const char* to_string(FiberState state) noexcept {
  switch (state) {
    case FiberState::kRunning:
      return "running";
    case FiberState::kReady:
      return "ready";
    case FiberState::kSuspended:
      return "suspended";
    case FiberState::kFinishing:
      return "finishing";
  }
  return "?";
}

std::vector<FiberInfo> fibers() {
  std::vector<FiberInfo> out;
  const std::uint64_t now = internal::debug_ticks();
  for (internal::FiberShard* s = internal::FiberShard::first(); s != nullptr; s = s->next_all) {
    s->collect(out);
  }
  // Ticks at suspension -> time suspended; holders' addresses -> ids.
  const double ns_per_tick = internal::ns_per_tick();
  std::unordered_map<std::uintptr_t, std::uint64_t> ids;  // address -> id
  for (const FiberInfo& i : out) ids.emplace(reinterpret_cast<std::uintptr_t>(i.address), i.id);
  for (FiberInfo& i : out) {
    if (i.suspended) {
      const auto at = static_cast<std::uint64_t>(i.suspended_for.count());
      const double ns = at < now ? static_cast<double>(now - at) * ns_per_tick : 0.0;
      i.suspended_for = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
    }
    if (i.detail == Detail::kHolder) {
      auto it = ids.find(static_cast<std::uintptr_t>(i.value));
      i.holder_id = it == ids.end() ? 0 : it->second;
    }
  }
  std::sort(out.begin(), out.end(),
            [](const FiberInfo& a, const FiberInfo& b) { return a.id < b.id; });
  return out;
}

std::vector<std::vector<std::uint64_t>> deadlocks(const std::vector<FiberInfo>& infos) {
  std::unordered_map<std::uint64_t, std::uint64_t> waits_for;  // suspended fiber -> holder
  for (const FiberInfo& i : infos) {
    if (i.suspended && !i.what.empty() && i.detail == Detail::kHolder && i.holder_id != 0) {
      waits_for.emplace(i.id, i.holder_id);
    }
  }
  std::vector<std::vector<std::uint64_t>> cycles;
  for (const auto& [start, unused] : waits_for) {
    // Follow the edges from `start`; a cycle is reported once, from its lowest id.
    std::vector<std::uint64_t> path{start};
    std::uint64_t at = start;
    bool cycle = false;
    for (std::size_t steps = 0; steps <= waits_for.size(); ++steps) {
      auto it = waits_for.find(at);
      if (it == waits_for.end()) break;
      at = it->second;
      if (at == start) {
        cycle = true;
        break;
      }
      if (at < start) break;  // not the cycle's lowest id (or not a cycle through start)
      path.push_back(at);
    }
    if (cycle) cycles.push_back(std::move(path));
  }
  std::sort(cycles.begin(), cycles.end());
  return cycles;
}

static_assert(kTraceDepth == internal::FiberDebugExtra::kDepth);

std::vector<SchedulerStats> stats() { return internal::collect_stats(); }

void set_fiber_traces(bool on) noexcept {
  internal::fiber_traces_on.store(on, std::memory_order_relaxed);
}
bool fiber_traces() noexcept { return internal::fiber_traces_on.load(std::memory_order_relaxed); }

std::string symbolize(const void* pc) {
  char buf[512];
  // A return address points after its call: look up the byte before it, within the call.
  const void* in_call = static_cast<const char*>(pc) - 1;
  if (absl::Symbolize(in_call, buf, sizeof buf)) return buf;
  std::snprintf(buf, sizeof buf, "%p", pc);
  return buf;
}

namespace {

std::string format_stats(const std::vector<SchedulerStats>& all) {
  std::string s;
  char buf[320];
  for (const SchedulerStats& st : all) {
    s += "scheduler " + st.scheduler;
    if (st.worker >= 0) s += " worker " + std::to_string(st.worker);
    std::snprintf(
        buf, sizeof buf,
        ": %llu live (%llu runnable, %llu ready), %llu spawns, %llu finishes, %llu switches, "
        "%llu steals, %llu io waits, %llu timers\n",
        static_cast<unsigned long long>(st.live), static_cast<unsigned long long>(st.runnable),
        static_cast<unsigned long long>(st.ready), static_cast<unsigned long long>(st.spawns),
        static_cast<unsigned long long>(st.finishes), static_cast<unsigned long long>(st.switches),
        static_cast<unsigned long long>(st.steals), static_cast<unsigned long long>(st.io_waits),
        static_cast<unsigned long long>(st.timers));
    s += buf;
  }
  return s;
}

void format_stack(std::string& s, const char* title, const std::vector<const void*>& stack) {
  if (stack.empty()) return;
  s += "    ";
  s += title;
  s += ":\n";
  char buf[64];
  for (std::size_t i = 0; i < stack.size(); ++i) {
    std::snprintf(buf, sizeof buf, "      #%-2zu %p ", i, stack[i]);
    s += buf;
    s += symbolize(stack[i]);
    s += "\n";
  }
}

std::string format_dump() {
  const std::vector<FiberInfo> infos = fibers();
  std::string s = format_stats(stats());
  s += "picos: " + std::to_string(infos.size()) + " live fiber(s)\n";
  char buf[160];
  for (const FiberInfo& i : infos) {
    s += "fiber " + std::to_string(i.id);
    if (!i.name.empty()) s += " \"" + i.name + "\"";
    s += " [" + i.scheduler;
    if (i.worker >= 0) s += " worker " + std::to_string(i.worker);
    s += "]";
    if (!i.suspended) {
      s += " ";
      s += to_string(i.state);
      s += "\n";
      format_stack(s, "spawned at", i.spawn_stack);
      continue;
    }
    std::snprintf(buf, sizeof buf, " suspended %.3f s",
                  std::chrono::duration<double>(i.suspended_for).count());
    s += buf;
    if (!i.what.empty()) {
      s += ": ";
      if (!i.type.empty()) s += i.type;
      if (i.object != nullptr) {
        std::snprintf(buf, sizeof buf, "@%p", i.object);
        s += buf;
      }
      if (!i.type.empty() || i.object != nullptr) s += " ";
      s += i.what;
      switch (i.detail) {
        case Detail::kNone:
          break;
        case Detail::kFd:
          s += ", fd " + std::to_string(i.value);
          break;
        case Detail::kCount:
          s += ", " + std::to_string(i.value);
          break;
        case Detail::kDeadline: {
          const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
          std::snprintf(buf, sizeof buf, ", %.3f s left",
                        static_cast<double>(std::max<std::int64_t>(0, i.value - now)) / 1e9);
          s += buf;
          break;
        }
        case Detail::kHolder:
          s += i.holder_id != 0 ? ", held by fiber " + std::to_string(i.holder_id)
                                : std::string(", held by a fiber that is not listed");
          break;
      }
    }
    s += "\n";
    format_stack(s, "suspended at", i.stack);
    format_stack(s, "spawned at", i.spawn_stack);
  }
  for (const std::vector<std::uint64_t>& cycle : deadlocks(infos)) {
    s += "deadlock:";
    for (std::uint64_t id : cycle) s += " fiber " + std::to_string(id) + " ->";
    s += " fiber " + std::to_string(cycle.front()) + "\n";
  }
  return s;
}

}  // namespace

void dump(std::ostream& out) { out << format_dump(); }

void print_stats(std::ostream& out) { out << format_stats(stats()); }

void dump_to_stderr() noexcept {
  try {
    const std::string s = format_dump();
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  } catch (...) {
    std::fputs("picos: dump failed (out of memory)\n", stderr);
  }
}

void install_dump_on_signal(int signal) { internal::install_dump_on_signal(signal); }

}  // namespace debug
}  // namespace picos
