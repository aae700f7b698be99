// Copyright 2026 The Picos for C++ Authors.

#include "poller/epoll_poller.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <system_error>

#include "poller/waiter_list.h"

namespace picos::internal {
namespace {

// The per-descriptor intrusive list, through reactor_data (poller/waiter_list.h).
using waiter_list::next_of;
bool linked(const FdInterest& w) noexcept { return waiter_list::listed(w); }

constexpr std::uint64_t kWakeKey = ~std::uint64_t{0};  // epoll data of the eventfd

[[noreturn]] void fail(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

EpollPoller::~EpollPoller() {
  registration_.withdraw();
  if (int ep = epfd_.load(std::memory_order_relaxed); ep >= 0) ::close(ep);
  if (int fd = wakefd_.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
}

void EpollPoller::start() {
  MutexLock lock(mu_);
  start_locked();
}

void EpollPoller::start_locked() {
  if (epfd_.load(std::memory_order_relaxed) >= 0) return;
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fail(errno, "epoll_create1");
  int wfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wfd < 0) {
    int err = errno;
    ::close(ep);
    fail(err, "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: poll drains it
  ev.data.u64 = kWakeKey;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev) != 0) {
    int err = errno;
    ::close(ep);
    ::close(wfd);
    fail(err, "epoll_ctl");
  }
  wakefd_.store(wfd, std::memory_order_release);
  epfd_.store(ep, std::memory_order_release);
}

EpollPoller::Arming EpollPoller::prepare_arm(int fd, FdState& st, unsigned wanted) noexcept {
  wanted |= st.armed;
  Arming a;
  a.fd = fd;
  a.events = EPOLLET | ((wanted & kFdRead) ? EPOLLIN | EPOLLRDHUP : 0u) |
             ((wanted & kFdWrite) ? EPOLLOUT : 0u);
  a.add = !st.added;
  // Recorded as made: a wait that arrives before the system call relies on it (the kernel
  // reports the level when it takes an ADD or a MOD, so nothing ready then is missed).
  st.added = true;
  st.armed = wanted;
  st.drained_since = 0;  // the call checks the level for every waiter linked now
  return a;
}

int EpollPoller::apply_arm(const Arming& a) const noexcept {
  epoll_event ev{};
  ev.events = a.events;
  ev.data.u64 = static_cast<std::uint64_t>(a.fd);
  const int ep = epfd_.load(std::memory_order_relaxed);
  if (!a.add) {
    if (::epoll_ctl(ep, EPOLL_CTL_MOD, a.fd, &ev) == 0) return 0;
    if (errno != ENOENT) return errno;
    // Closed behind our back (and the number reused), or forgotten meanwhile: add it afresh.
  }
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, a.fd, &ev) == 0) return 0;
  if (errno == EEXIST && ::epoll_ctl(ep, EPOLL_CTL_MOD, a.fd, &ev) == 0) return 0;
  return errno;
}

void EpollPoller::add(FdInterest& w) {
  if (w.fd < 0) fail(EBADF, "epoll_ctl");
  registration_.enroll(*this);  // outside mu_: the registry's locks come before ours
  Arming arming;
  bool ready_now = false;
  bool edge_only = false;
  bool wake_poller = false;
  {
    MutexLock lock(mu_);
    start_locked();
    const auto index = static_cast<std::size_t>(w.fd);
    if (index >= fds_.size()) fds_.resize(index + 1);
    // Under mu_, before the interest is linked: a forget_everywhere that sees the note then
    // finds the interest here (picos/internal/reactor_registry.h).
    registration_.note(w.fd);
    FdState& st = fds_[index];
    if (wait_counter_ != nullptr) wait_counter_->bump();
    if (w.drained && (st.ready & w.events) != 0) {
      // An edge that came after the caller's call, or before it (spurious readiness then:
      // the caller retries its call): ready now, with nothing to register. Signaled below,
      // outside mu_ (the trigger may carry an action). Only for drained waits: a level wait
      // (a readiness event) must not be ended by an edge whose data is gone, and checks.
      st.ready &= ~w.events;
      w.outcome = FdInterest::kReady;
      ready_now = true;
    } else {
      waiter_list::push_front(st.head, w);
      waiters_.store(waiters_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
      if (w.drained && (st.armed & w.events) == w.events) {
        const bool first = !any_unconfirmed_.load(std::memory_order_relaxed);
        if (list_unconfirmed(w.fd, st)) {
          // The next edge reports it: no system call, but for the first drained wait listed:
          // a poll in progress on another thread (without limit, maybe) must plan a sweep.
          wake_poller = first;
          edge_only = true;
        }
      }
      if (!edge_only) {
        st.ready &= ~w.events;  // the check reports what is there now
        arming = prepare_arm(w.fd, st, w.events);
      }
    }
  }
  if (edge_only) {
    if (wake_poller) wake();
    return;
  }
  if (ready_now) {
    w.trigger.signal();
    return;
  }
  // The system call outside the mutex, so that a poll on another thread (multififo's idle
  // workers) never waits for it. What may happen meanwhile is harmless: a report that
  // completes this waiter before the call is made (spurious readiness at worst); after a
  // forget the MOD finds the descriptor gone and adds it back until it is closed.
  if (const int err = apply_arm(arming); err != 0) arm_failed(w, err);
}

bool EpollPoller::list_unconfirmed(int fd, FdState& st) noexcept {
  if (!st.listed) {
    try {
      unconfirmed_.push_back(fd);
    } catch (...) {
      return false;  // out of memory: the caller checks the level now instead
    }
    st.listed = true;
    any_unconfirmed_.store(true, std::memory_order_relaxed);
  }
  if (st.drained_since == 0) st.drained_since = sweep_gen_;
  return true;
}

void EpollPoller::arm_failed(FdInterest& w, int err) {
  std::vector<Trigger> retry;
  {
    MutexLock lock(mu_);
    unlink(w);
    // Waiters that came meanwhile counted on this arming.
    (void)unwatch(fds_[static_cast<std::size_t>(w.fd)], retry);
  }
  for (const Trigger& t : retry) t.signal();
  fail(err, "epoll_ctl");
}

int EpollPoller::unwatch(FdState& st, std::vector<Trigger>& out) noexcept {
  st.added = false;  // unknown: the next arming adds it (EEXIST falls back to a MOD)
  st.armed = 0;
  int completed = 0;
  for (; st.head != nullptr; ++completed) complete(*st.head, FdInterest::kReady, out);
  return completed;
}

void EpollPoller::unlink(FdInterest& w) noexcept {
  if (!linked(w)) return;
  FdState& st = fds_[static_cast<std::size_t>(w.fd)];
  waiter_list::erase(st.head, w);
  waiters_.store(waiters_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
  if (st.head == nullptr) st.drained_since = 0;  // nothing left for the sweep to check
}

void EpollPoller::remove(FdInterest& w) noexcept {
  MutexLock lock(mu_);
  unlink(w);
}

void EpollPoller::complete(FdInterest& w, FdInterest::Outcome outcome,
                           std::vector<Trigger>& out) noexcept {
  unlink(w);
  w.outcome = outcome;
  try {
    out.push_back(w.trigger);  // a copy: `w` may be gone by the time it is signaled
  } catch (...) {
    // Out of memory: signal now, under mu_ (a resume action only queues its fiber).
    w.trigger.signal();
  }
}

void EpollPoller::forget(int fd) noexcept {
  std::vector<Trigger> closed;
  {
    MutexLock lock(mu_);
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    FdState& st = fds_[static_cast<std::size_t>(fd)];
    while (FdInterest* w = st.head) complete(*w, FdInterest::kClosed, closed);
    if (st.added)
      (void)::epoll_ctl(epfd_.load(std::memory_order_relaxed), EPOLL_CTL_DEL, fd, nullptr);
    const bool listed = st.listed;  // still in unconfirmed_: the sweep drops it
    st = FdState{};
    st.listed = listed;
  }
  // On another thread than the owner's, a resume action takes its scheduler's remote path.
  for (const Trigger& t : closed) t.signal();
}

int EpollPoller::wait(epoll_event* events, int max, long long timeout_ns) noexcept {
  const int ep = epfd_.load(std::memory_order_acquire);
  if (ep < 0) return 0;
  static std::atomic<bool> no_pwait2{false};
  int n;
  if (timeout_ns == 0) {
    n = ::epoll_wait(ep, events, max, 0);
  } else if (!no_pwait2.load(std::memory_order_relaxed)) {
    timespec ts{static_cast<std::time_t>(timeout_ns / 1'000'000'000),
                static_cast<long>(timeout_ns % 1'000'000'000)};
    n = ::epoll_pwait2(ep, events, max, timeout_ns < 0 ? nullptr : &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {
      no_pwait2.store(true, std::memory_order_relaxed);
      return 0;  // the caller polls again; next time through epoll_wait
    }
  } else {
    long long ms = timeout_ns < 0 ? -1 : (timeout_ns + 999'999) / 1'000'000;
    n = ::epoll_wait(ep, events, max, ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms));
  }
  return n < 0 ? 0 : n;  // EINTR: nothing
}

int EpollPoller::process(const epoll_event* events, int n) noexcept {
  int completed = 0;
  {
    MutexLock lock(mu_);
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[i];
      if (ev.data.u64 == kWakeKey) {
        std::uint64_t count;
        (void)!::read(wakefd_.load(std::memory_order_relaxed), &count, sizeof count);
        continue;
      }
      const auto fd = static_cast<int>(ev.data.u64);
      if (static_cast<std::size_t>(fd) >= fds_.size()) continue;
      FdState& st = fds_[static_cast<std::size_t>(fd)];
      if (!st.added) continue;  // forgotten since the report was taken
      unsigned ready = 0;
      if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR)) ready |= kFdRead;
      if (ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= kFdWrite;
      unsigned taken = 0;
      for (FdInterest* w = st.head; w;) {
        FdInterest* next = next_of(*w);
        if (w->events & ready) {
          taken |= w->events & ready;
          complete(*w, FdInterest::kReady, ready_);
          ++completed;
        }
        w = next;
      }
      // An edge comes once: kept for the next wait that wants it (nothing is re-armed).
      st.ready |= ready & ~taken & st.armed;
    }
  }
  // ready_ is the polling thread's alone (one thread at a time polls): no lock needed.
  for (const Trigger& t : ready_) t.signal();
  ready_.clear();
  return completed;
}

int EpollPoller::poll(long long timeout_ns) noexcept {
  int completed = 0;
  if (any_unconfirmed_.load(std::memory_order_relaxed)) {
    timeout_ns = confirm_timeout(timeout_ns, completed);
  } else {
    next_sweep_ns_ = 0;
  }
  epoll_event events[kMaxEvents];
  return completed + process(events, wait(events, kMaxEvents, timeout_ns));
}

long long EpollPoller::confirm_timeout(long long timeout_ns, int& completed) noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long now = static_cast<long long>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  if (next_sweep_ns_ == 0) {
    next_sweep_ns_ = now + kConfirmNs;  // the waits listed now are checked by the sweep after
  } else if (now >= next_sweep_ns_) {
    completed += sweep();
    if (!any_unconfirmed_.load(std::memory_order_relaxed)) {
      next_sweep_ns_ = 0;
      return timeout_ns;
    }
    next_sweep_ns_ = now + kConfirmNs;
  }
  const long long left = next_sweep_ns_ - now;
  return timeout_ns < 0 || timeout_ns > left ? left : timeout_ns;
}

int EpollPoller::sweep() noexcept {
  int completed = 0;
  {
    MutexLock lock(mu_);
    const std::uint32_t gen = sweep_gen_++;
    std::size_t kept = 0;
    for (const int fd : unconfirmed_) {
      FdState& st = fds_[static_cast<std::size_t>(fd)];
      if (st.drained_since == gen) {  // began since the last sweep: next time
        unconfirmed_[kept++] = fd;
        continue;
      }
      st.listed = false;
      if (st.drained_since == 0) continue;  // its drained waits are over
      // Pending since before the last sweep: check the level (a report if ready now; a
      // registration lost to a plain ::close is made afresh).
      if (apply_arm(prepare_arm(fd, st, 0)) != 0) completed += unwatch(st, ready_);
    }
    unconfirmed_.resize(kept);
    any_unconfirmed_.store(kept != 0, std::memory_order_relaxed);
  }
  for (const Trigger& t : ready_) t.signal();
  ready_.clear();
  return completed;
}

void EpollPoller::wake() noexcept {
  int fd = wakefd_.load(std::memory_order_acquire);
  if (fd < 0) return;
  std::uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);
}

// ---- LockedPoller -----------------------------------------------------------------------

int LockedPoller::poll(long long timeout_ns) noexcept {
  if (polling_.exchange(true, std::memory_order_acquire)) return -1;
  const int completed = poller_.poll(timeout_ns);
  polling_.store(false, std::memory_order_release);
  return completed;
}

}  // namespace picos::internal
