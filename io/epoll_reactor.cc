// Copyright 2026 The Picos for C++ Authors.
//
// The default reactor: one background thread blocked in epoll_wait.
//
// Per fd we keep the list of registered interests and whether the kernel has the fd
// registered ("known") and armed. Registrations are level-triggered and EPOLLONESHOT: an
// event disarms the fd in the kernel, the loop completes the interests it satisfies and
// re-arms (EPOLL_CTL_MOD) only if some interests remain. So a wait costs one epoll_ctl
// (MOD, or ADD the first time) and no call on the wake-up path. A canceled wait that leaves
// no interest disarms with EPOLL_CTL_DEL; forget() deletes the fd from epoll and drops the
// state. No wake-up fd is needed: epoll_ctl on an epoll_wait in progress takes effect at
// once. Events that were already fetched when a fd was forgotten may wake the next waiter of
// a reused fd number spuriously; the protocol allows that (callers retry).

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/io.h"
#include "picos/reactor.h"

namespace picos::io {
namespace {

// reactor_data slots used here: the intrusive per-fd list.
FdInterest*& next_of(FdInterest& w) { return reinterpret_cast<FdInterest*&>(w.reactor_data[0]); }
FdInterest*& prev_of(FdInterest& w) { return reinterpret_cast<FdInterest*&>(w.reactor_data[1]); }
// reactor_data[2] != nullptr: linked.
bool linked(const FdInterest& w) { return w.reactor_data[2] != nullptr; }

class EpollReactor final : public Reactor {
 public:
  EpollReactor() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
      throw std::system_error(errno, std::generic_category(), "picos::io: epoll_create1");
    }
    std::thread([this] { loop(); }).detach();
  }

  void add(FdInterest& w) override {
    std::vector<Trigger> none;
    std::lock_guard<std::mutex> lock(mu_);
    FdState& s = fds_[w.fd];
    link(s, w);
    unsigned want = s.mask();
    if (!s.armed || (s.armed_mask & want) != want) {
      int err = arm(w.fd, s, want);
      if (err != 0) {
        unlink(s, w);
        if (!s.head && !s.known) fds_.erase(w.fd);
        throw std::system_error(err, std::generic_category(),
                                "picos::io: epoll_ctl(fd " + std::to_string(w.fd) + ")");
      }
    }
  }

  void remove(FdInterest& w) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!linked(w)) return;
    auto it = fds_.find(w.fd);
    if (it == fds_.end()) return;  // cannot happen: linked interests have a state
    FdState& s = it->second;
    unlink(s, w);
    if (!s.head && s.armed) {
      (void)epoll_ctl(epfd_, EPOLL_CTL_DEL, w.fd, nullptr);
      fds_.erase(it);
    }
  }

  void forget(int fd) noexcept override {
    std::vector<Trigger> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = fds_.find(fd);
      if (it == fds_.end()) return;
      FdState& s = it->second;
      if (s.known) (void)epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      while (FdInterest* w = s.head) {
        unlink(s, *w);
        w->outcome = FdInterest::kClosed;
        wake.push_back(w->trigger);
      }
      fds_.erase(it);
    }
    for (auto& t : wake) t.signal();
  }

 private:
  struct FdState {
    FdInterest* head = nullptr;
    bool known = false;  // registered in the kernel (maybe disarmed)
    bool armed = false;
    unsigned armed_mask = 0;
    unsigned mask() const {
      unsigned m = 0;
      for (FdInterest* w = head; w; w = next_of(*w)) m |= w->events;
      return m;
    }
  };

  static void link(FdState& s, FdInterest& w) {
    prev_of(w) = nullptr;
    next_of(w) = s.head;
    if (s.head) prev_of(*s.head) = &w;
    s.head = &w;
    w.reactor_data[2] = &w;
  }
  static void unlink(FdState& s, FdInterest& w) {
    if (prev_of(w)) {
      next_of(*prev_of(w)) = next_of(w);
    } else {
      s.head = next_of(w);
    }
    if (next_of(w)) prev_of(*next_of(w)) = prev_of(w);
    w.reactor_data[2] = nullptr;
  }

  // Arms `fd` for `mask` (under mu_). Returns 0 or the errno.
  int arm(int fd, FdState& s, unsigned mask) {
    epoll_event ev{};
    ev.events = EPOLLONESHOT | EPOLLRDHUP;
    if (mask & kFdRead) ev.events |= EPOLLIN;
    if (mask & kFdWrite) ev.events |= EPOLLOUT;
    ev.data.fd = fd;
    int op = s.known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(epfd_, op, fd, &ev);
    if (rc != 0 && op == EPOLL_CTL_MOD && errno == ENOENT) {
      // The fd was closed behind our back (not with io::close) and its number reused.
      rc = epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    } else if (rc != 0 && op == EPOLL_CTL_ADD && errno == EEXIST) {
      rc = epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
    }
    if (rc != 0) return errno;
    s.known = true;
    s.armed = true;
    s.armed_mask = mask;
    return 0;
  }

  void loop() {
    constexpr int kMax = 128;
    epoll_event events[kMax];
    std::vector<Trigger> wake;
    for (;;) {
      int n = epoll_wait(epfd_, events, kMax, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("picos::io: epoll_wait");
        std::abort();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = 0; i < n; ++i) {
          auto it = fds_.find(events[i].data.fd);
          if (it == fds_.end()) continue;  // forgotten meanwhile
          FdState& s = it->second;
          s.armed = false;  // one-shot
          unsigned ready = 0;
          std::uint32_t e = events[i].events;
          if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= kFdRead;
          if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= kFdWrite;
          for (FdInterest* w = s.head; w;) {
            FdInterest* next = next_of(*w);
            if (w->events & ready) {
              unlink(s, *w);
              w->outcome = FdInterest::kReady;
              wake.push_back(w->trigger);
            }
            w = next;
          }
          if (s.head) {
            if (arm(it->first, s, s.mask()) != 0) {
              // Cannot re-arm (the fd was closed behind our back): wake everyone to retry.
              while (FdInterest* w = s.head) {
                unlink(s, *w);
                w->outcome = FdInterest::kReady;
                wake.push_back(w->trigger);
              }
            }
          }
        }
      }
      for (auto& t : wake) t.signal();
      wake.clear();
    }
  }

  int epfd_ = -1;
  std::mutex mu_;
  std::unordered_map<int, FdState> fds_;
};

}  // namespace

namespace {
std::atomic<Reactor*> started{nullptr};
}  // namespace

Reactor& default_reactor() {
  // Leaked on purpose: its thread never stops and may still be in epoll_wait at exit.
  static EpollReactor* const instance = [] {
    auto* r = new EpollReactor();
    started.store(r, std::memory_order_release);
    return r;
  }();
  return *instance;
}

namespace internal {
Reactor* default_reactor_if_started() noexcept { return started.load(std::memory_order_acquire); }
}  // namespace internal

}  // namespace picos::io
