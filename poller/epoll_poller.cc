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

EpollPoller::Arming EpollPoller::prepare_arm(int fd, FdState& st) noexcept {
  unsigned wanted = 0;
  for (FdInterest* w = st.head; w; w = next_of(*w)) wanted |= w->events;
  Arming a;
  a.fd = fd;
  a.events = EPOLLONESHOT | ((wanted & kFdRead) ? EPOLLIN | EPOLLRDHUP : 0u) |
             ((wanted & kFdWrite) ? EPOLLOUT : 0u);
  a.add = !st.added;
  // Recorded as made: a wait that arrives before the system call and wants no more than this
  // need not make one of its own (the arming, level-triggered, reports what is there then).
  st.added = true;
  st.armed = wanted;
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

void EpollPoller::arm(int fd, FdState& st) {
  if (const int err = apply_arm(prepare_arm(fd, st)); err != 0) {
    st.added = false;  // unknown: the next arming adds it (EEXIST falls back to a re-arm)
    st.armed = 0;
    fail(err, "epoll_ctl");
  }
}

void EpollPoller::add(FdInterest& w) {
  if (w.fd < 0) fail(EBADF, "epoll_ctl");
  registration_.enroll(*this);  // outside mu_: the registry's locks come before ours
  Arming arming;
  {
    MutexLock lock(mu_);
    start_locked();
    const auto index = static_cast<std::size_t>(w.fd);
    if (index >= fds_.size()) fds_.resize(index + 1);
    // Under mu_, before the interest is linked: a forget_everywhere that sees the note then
    // finds the interest here (picos/internal/reactor_registry.h).
    registration_.note(w.fd);
    FdState& st = fds_[index];
    waiter_list::push_front(st.head, w);
    waiters_.store(waiters_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    if (wait_counter_ != nullptr) wait_counter_->bump();
    if ((st.armed & w.events) == w.events) return;  // already armed for what it wants
    arming = prepare_arm(w.fd, st);
  }
  // The system call outside the mutex, so that a poll on another thread (multififo's idle
  // workers) never waits for it. What may happen meanwhile is harmless: a report of an
  // earlier arming, or poll's re-arm for other waiters, at worst arms the descriptor twice (a
  // later report that finds nobody disarms it); after a forget the re-arm finds the
  // descriptor gone and adds it back until it is closed (a spurious report at most).
  if (const int err = apply_arm(arming); err != 0) arm_failed(w, err);
}

void EpollPoller::arm_failed(FdInterest& w, int err) {
  std::vector<Trigger> retry;
  {
    MutexLock lock(mu_);
    unlink(w);
    FdState& st = fds_[static_cast<std::size_t>(w.fd)];
    st.added = false;  // unknown: the next arming adds it (EEXIST falls back to a re-arm)
    st.armed = 0;
    // Waiters that came meanwhile counted on this arming: they retry their call, which
    // reports the error, or waits (and arms) again.
    while (FdInterest* other = st.head) complete(*other, FdInterest::kReady, retry);
  }
  for (const Trigger& t : retry) t.signal();
  fail(err, "epoll_ctl");
}

void EpollPoller::unlink(FdInterest& w) noexcept {
  if (!linked(w)) return;
  FdState& st = fds_[static_cast<std::size_t>(w.fd)];
  waiter_list::erase(st.head, w);
  waiters_.store(waiters_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
  // Left armed if others still wait or not: a later report that finds nobody just disarms.
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
    st = FdState{};
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
      if (static_cast<std::size_t>(fd) >= fds_.size()) continue;  // forgotten meanwhile
      FdState& st = fds_[static_cast<std::size_t>(fd)];
      st.armed = 0;  // one-shot: disarmed by this report
      unsigned ready = 0;
      if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR)) ready |= kFdRead;
      if (ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= kFdWrite;
      for (FdInterest* w = st.head; w;) {
        FdInterest* next = next_of(*w);
        if (w->events & ready) {
          complete(*w, FdInterest::kReady, ready_);
          ++completed;
        }
        w = next;
      }
      if (st.head) {
        try {
          arm(fd, st);  // the others still wait (e.g. a writer when only reading was reported)
        } catch (...) {
          // Cannot watch it any more: let them retry their call, which reports the error.
          while (FdInterest* w = st.head) {
            complete(*w, FdInterest::kReady, ready_);
            ++completed;
          }
        }
      }
    }
  }
  // ready_ is the polling thread's alone (one thread at a time polls): no lock needed.
  for (const Trigger& t : ready_) t.signal();
  ready_.clear();
  return completed;
}

int EpollPoller::poll(long long timeout_ns) noexcept {
  epoll_event events[kMaxEvents];
  return process(events, wait(events, kMaxEvents, timeout_ns));
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
