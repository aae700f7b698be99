// Copyright 2026 The Picos for C++ Authors.

#include "poller/uring_poller.h"

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <system_error>

#include "poller/waiter_list.h"

namespace picos::internal {
namespace {

// The per-descriptor intrusive lists of interests and of operations in flight, through
// reactor_data (poller/waiter_list.h, as EpollPoller); an operation's [3] holds the `done`
// trigger given to cancel_operation.
using waiter_list::next_of;
bool linked(const FdInterest& w) noexcept { return waiter_list::listed(w); }
bool in_flight(const FdOperation& op) noexcept { return waiter_list::listed(op); }

// Submission queue: the polls queued between two poll()s (a full queue is submitted at once).
// Completion queue: room for every poll in flight (two per descriptor); when it overflows the
// kernel keeps the excess (IORING_FEAT_NODROP) until it is reaped.
constexpr unsigned kSqEntries = 256;
constexpr unsigned kCqEntries = 4096;

// user_data: kPollBit | (generation << 32) | (fd << 1) | direction for a descriptor's poll
// (31-bit generations); an FdOperation's address for an operation (bit 63 clear in user
// space, never 0 or 1). Generation 0 is never armed, so it names the two others.
constexpr std::uint64_t kIgnoreData = 0;  // IORING_OP_POLL_REMOVE's, ASYNC_CANCEL's completion
constexpr std::uint64_t kWakeData = 1;    // the wake-up eventfd's poll
constexpr std::uint64_t kPollBit = std::uint64_t{1} << 63;
constexpr std::uint32_t kGenerationMask = 0x7fff'ffffu;

constexpr unsigned kDirEvents[2] = {kFdRead, kFdWrite};
constexpr unsigned kDirMask[2] = {POLLIN | POLLRDHUP, POLLOUT};

std::uint64_t data_of(int fd, int dir, std::uint32_t generation) noexcept {
  return kPollBit | (std::uint64_t{generation} << 32) | (static_cast<std::uint64_t>(fd) << 1) |
         static_cast<std::uint64_t>(dir);
}

// The FdEvents a poll of direction `dir` reports with mask `res` (hang-ups and errors count
// for both directions, as in EpollPoller).
unsigned ready_of(int dir, int res) noexcept {
  const auto mask = static_cast<unsigned>(res);
  unsigned ready = 0;
  if (mask & (POLLHUP | POLLERR)) ready = kFdRead | kFdWrite;
  if (dir == 0 && (mask & (POLLIN | POLLRDHUP | POLLPRI))) ready |= kFdRead;
  if (dir == 1 && (mask & POLLOUT)) ready |= kFdWrite;
  return ready;
}

[[noreturn]] void fail(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

// Submits what is queued. Throws std::system_error.
void submit(io_uring& ring) {
  for (;;) {
    const int r = io_uring_submit(&ring);
    if (r >= 0) return;
    if (r != -EINTR) fail(-r, "io_uring_submit");
  }
}

io_uring_sqe* get_sqe(io_uring& ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    submit(ring);
    sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr) fail(EBUSY, "io_uring_get_sqe");
  }
  return sqe;
}

// Whether completions wait as task work for a system call of this thread (a ring set up with
// IORING_SETUP_TASKRUN_FLAG: the kernel sets IORING_SQ_TASKRUN then).
bool task_work_pending(const io_uring& ring) noexcept {
  return (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) != 0;
}

// Makes the queued entries visible to the kernel without entering it (what io_uring_submit
// does before its io_uring_enter); returns how many it has not consumed.
unsigned flush(io_uring& ring) noexcept {
  io_uring_sq& sq = ring.sq;
  const unsigned tail = sq.sqe_tail;
  if (sq.sqe_head != tail) {
    sq.sqe_head = tail;
    io_uring_smp_store_release(sq.ktail, tail);
  }
  return tail - io_uring_smp_load_acquire(sq.khead);
}

}  // namespace

struct UringPoller::Ring {
  // Creates the ring and the eventfd and arms the eventfd's poll. Throws std::system_error.
  Ring() {
    io_uring_params p{};
    auto init = [&](unsigned extra_flags) {
      p = io_uring_params{};
      p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | extra_flags;
      p.cq_entries = kCqEntries;
      return io_uring_queue_init_params(kSqEntries, &ring, &p);
    };
    int err = init(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
    if (err == -EINVAL) err = init(0);  // Linux < 5.19: no cooperative task running
    if (err < 0) fail(-err, "io_uring_queue_init_params");
    if (!(p.features & IORING_FEAT_EXT_ARG)) {
      io_uring_queue_exit(&ring);  // a timed wait would need the submission queue
      fail(ENOSYS, "io_uring_queue_init_params (no IORING_FEAT_EXT_ARG, Linux < 5.11)");
    }
    wakefd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakefd < 0) {
      const int err = errno;
      io_uring_queue_exit(&ring);
      fail(err, "eventfd");
    }
    try {
      queue_wake();
      submit(ring);
    } catch (...) {
      ::close(wakefd);
      io_uring_queue_exit(&ring);
      throw;
    }
  }
  ~Ring() {
    io_uring_queue_exit(&ring);
    ::close(wakefd);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Queues the eventfd's multishot poll (a wake-up is an edge: multishot suits it).
  void queue_wake() {
    io_uring_sqe* sqe = get_sqe(ring);
    io_uring_prep_poll_multishot(sqe, wakefd, POLLIN);
    sqe->user_data = kWakeData;
  }

  io_uring ring{};
  int wakefd = -1;
};

bool UringPoller::available(std::string* why) noexcept {
  // Empty when io_uring works; else the failed operation and its error.
  static const std::string failure = []() -> std::string {
    try {
      Ring r;
      std::uint64_t one = 1;
      if (::write(r.wakefd, &one, sizeof one) != sizeof one) fail(errno, "write (eventfd)");
      __kernel_timespec ts{1, 0};
      io_uring_cqe* cqe = nullptr;
      if (int err = io_uring_wait_cqe_timeout(&r.ring, &cqe, &ts); err < 0) {
        fail(-err, "io_uring_wait_cqe_timeout (multishot poll)");
      }
      if (cqe->res < 0) fail(-cqe->res, "IORING_OP_POLL_ADD (multishot)");
      if (!(cqe->flags & IORING_CQE_F_MORE)) {
        fail(EINVAL, "IORING_OP_POLL_ADD (multishot ended at once, Linux < 5.13)");
      }
      return {};
    } catch (const std::exception& e) {
      std::string what = e.what();
      return what.empty() ? std::string("io_uring") : what;
    }
  }();
  if (why != nullptr) *why = failure;
  return failure.empty();
}

UringPoller::~UringPoller() {
  registration_.withdraw();
  delete ring_.load(std::memory_order_relaxed);
}

void UringPoller::start() {
  MutexLock lock(mu_);
  start_locked();
}

void UringPoller::start_locked() {
  if (ring_.load(std::memory_order_relaxed) != nullptr) return;
  ring_.store(new Ring, std::memory_order_release);
}

std::uint32_t UringPoller::next_generation() noexcept {
  generation_ = (generation_ + 1) & kGenerationMask;
  if (generation_ == 0) generation_ = 1;
  return generation_;
}

void UringPoller::submit_locked() {
  Ring& r = *ring_.load(std::memory_order_relaxed);
  queued_ = 0;
  submit(r.ring);
}

void UringPoller::arm(int fd, FdState& st, int dir) {
  Ring& r = *ring_.load(std::memory_order_relaxed);
  io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  if (sqe == nullptr) {  // full: submit what is queued first
    submit_locked();
    sqe = io_uring_get_sqe(&r.ring);
    if (sqe == nullptr) fail(EBUSY, "io_uring_get_sqe");
  }
  const std::uint32_t generation = next_generation();
  io_uring_prep_poll_add(sqe, fd, kDirMask[dir]);
  sqe->user_data = data_of(fd, dir, generation);
  st.armed[dir] = generation;
  ++queued_;
}

void UringPoller::disarm(int fd, FdState& st, int dir) noexcept {
  if (st.armed[dir] == 0) return;
  const std::uint64_t data = data_of(fd, dir, st.armed[dir]);
  st.armed[dir] = 0;  // from now on its completion is ignored
  Ring& r = *ring_.load(std::memory_order_relaxed);
  try {
    io_uring_sqe* sqe = get_sqe(r.ring);
    io_uring_prep_poll_remove(sqe, data);
    sqe->user_data = kIgnoreData;
    ++queued_;
  } catch (const std::system_error&) {
    // Left armed: it completes, ignored, when the descriptor is next ready or closed.
  }
}

void UringPoller::add(FdInterest& w) {
  if (w.fd < 0) fail(EBADF, "io_uring poll");
  registration_.enroll(*this);  // outside mu_: the registry's locks come before ours
  MutexLock lock(mu_);
  start_locked();
  const auto index = static_cast<std::size_t>(w.fd);
  if (index >= fds_.size()) fds_.resize(index + 1);
  // Under mu_, before the interest is linked (picos/internal/reactor_registry.h).
  registration_.note(w.fd);
  FdState& st = fds_[index];
  if (!st.checked) {
    // A poll on a descriptor that is not open would only fail in its completion.
    if (::fcntl(w.fd, F_GETFD) < 0) fail(errno, "io_uring poll");
    st.checked = true;
  }
  for (int dir = 0; dir < 2; ++dir) {
    if ((w.events & kDirEvents[dir]) != 0 && st.armed[dir] == 0) {
      arm(w.fd, st, dir);  // nothing linked yet if it throws
    }
  }
  // The owner is blocked in the kernel and would not see the queued polls until woken.
  if (queued_ != 0 && in_kernel_) submit_locked();
  waiter_list::push_front(st.head, w);
  waiters_.store(waiters_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  if (wait_counter_ != nullptr) wait_counter_->bump();
}

void UringPoller::unlink(FdInterest& w) noexcept {
  if (!linked(w)) return;
  FdState& st = fds_[static_cast<std::size_t>(w.fd)];
  waiter_list::erase(st.head, w);
  waiters_.store(waiters_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
}

void UringPoller::remove(FdInterest& w) noexcept {
  MutexLock lock(mu_);
  if (!linked(w)) return;  // completed: its poll is done
  unlink(w);
  // Canceled: drop the polls nobody else waits for, so the ring holds no file for nothing.
  FdState& st = fds_[static_cast<std::size_t>(w.fd)];
  unsigned wanted = 0;
  for (FdInterest* o = st.head; o; o = next_of(*o)) wanted |= o->events;
  for (int dir = 0; dir < 2; ++dir) {
    if ((wanted & kDirEvents[dir]) == 0) disarm(w.fd, st, dir);
  }
}

bool UringPoller::start_operation(FdOperation& op) {
  if (op.fd < 0) return false;  // the readiness path reports EBADF
  registration_.enroll(*this);  // outside mu_, as in add()
  MutexLock lock(mu_);
  start_locked();
  const auto index = static_cast<std::size_t>(op.fd);
  if (index >= fds_.size()) fds_.resize(index + 1);
  registration_.note(op.fd);  // under mu_, before anything is in flight (as in add())
  FdState& st = fds_[index];
  if (st.kind == 0) {
    // Regular files and the like never wait, and eventfds, signalfds, timerfds read state
    // that io_uring's worker or task context would not see the same way: readiness for them.
    struct stat sb;
    if (::fstat(op.fd, &sb) != 0) return false;  // the readiness path reports the error
    st.kind = S_ISSOCK(sb.st_mode) || S_ISFIFO(sb.st_mode) ? 1 : 2;
  }
  if (st.kind != 1) return false;
  Ring& r = *ring_.load(std::memory_order_relaxed);
  io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  if (sqe == nullptr) {  // full: submit what is queued first
    submit_locked();
    sqe = io_uring_get_sqe(&r.ring);
    if (sqe == nullptr) fail(EBUSY, "io_uring_get_sqe");
  }
  // From here on nothing throws: the entry is queued and will be submitted.
  const auto len = static_cast<unsigned>(op.len < INT_MAX ? op.len : INT_MAX);
  if (op.kind == FdOperation::kRecv) {
    io_uring_prep_recv(sqe, op.fd, op.buf, len, op.flags);
  } else {
    io_uring_prep_read(sqe, op.fd, op.buf, len, static_cast<std::uint64_t>(-1));
  }
  sqe->user_data = reinterpret_cast<std::uintptr_t>(&op);
  ++queued_;
  waiter_list::push_front(st.ops, op);
  op.reactor_data[3] = nullptr;
  waiters_.store(waiters_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  if (wait_counter_ != nullptr) wait_counter_->bump();
  if (in_kernel_) {
    // As in add(): the owner would not see it until woken. If the submission fails the entry
    // stays queued: wake the owner, whose poll() submits it.
    try {
      submit_locked();
    } catch (const std::system_error&) {
      wake();
    }
  }
  return true;
}

void UringPoller::unlink(FdOperation& op) noexcept {
  if (!in_flight(op)) return;
  FdState& st = fds_[static_cast<std::size_t>(op.fd)];
  waiter_list::erase(st.ops, op);
  waiters_.store(waiters_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
}

bool UringPoller::queue_cancel(FdOperation& op) noexcept {
  Ring& r = *ring_.load(std::memory_order_relaxed);
  try {
    io_uring_sqe* sqe = get_sqe(r.ring);
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
    sqe->user_data = kIgnoreData;
    ++queued_;
    return true;
  } catch (const std::system_error&) {
    return false;  // the operation ends when the descriptor is next ready
  }
}

void UringPoller::cancel_operation(FdOperation& op, const Trigger& done) noexcept {
  {
    MutexLock lock(mu_);
    if (in_flight(op)) {
      // From now on its completion signals `done` (op.trigger's await is over). The cancel is
      // submitted now, not with the next poll(): until it is, the armed read would take data
      // that arrives, e.g. what the canceler writes next for another reader. Its entry follows
      // the operation's if that is still queued, so the kernel sees the operation first.
      op.reactor_data[3] = const_cast<Trigger*>(&done);
      (void)queue_cancel(op);
      try {
        submit_locked();
      } catch (const std::system_error&) {
        wake();  // left queued: the owner's poll() submits it
      }
      return;
    }
  }
  done.signal();  // completed already: its result stands
}

void UringPoller::complete(FdInterest& w, FdInterest::Outcome outcome,
                           std::vector<Trigger>& out) noexcept {
  unlink(w);
  w.outcome = outcome;
  try {
    out.push_back(w.trigger);  // a copy: `w` may be gone by the time it is signaled
  } catch (...) {
    w.trigger.signal();  // out of memory: now, under mu_ (a resume action only queues)
  }
}

void UringPoller::forget(int fd) noexcept {
  std::vector<Trigger> closed;
  {
    MutexLock lock(mu_);
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    FdState& st = fds_[static_cast<std::size_t>(fd)];
    while (FdInterest* w = st.head) complete(*w, FdInterest::kClosed, closed);
    disarm(fd, st, 0);
    disarm(fd, st, 1);
    // Operations: aborted now, completed (kClosed, unless they read data first) when their
    // own completions come, which the owner's poll() reaps: only then is the buffer free.
    for (FdOperation* op = st.ops; op; op = next_of(*op)) {
      op->outcome = FdInterest::kClosed;
      (void)queue_cancel(*op);
    }
    FdOperation* const ops = st.ops;
    st = FdState{};
    st.ops = ops;
    // Now: a queued poll names the descriptor by its number, which is about to be closed.
    if (queued_ != 0) {
      try {
        submit_locked();
      } catch (const std::system_error&) {
        // The ring is failing: the entries stay queued for the next poll().
      }
    }
  }
  // On another thread than the owner's, a resume action takes its scheduler's remote path.
  for (const Trigger& t : closed) t.signal();
}

int UringPoller::handle(std::uint64_t user_data, int res, unsigned flags) noexcept {
  if (user_data == kIgnoreData) return 0;
  if ((user_data & kPollBit) == 0 && user_data != kWakeData) {
    // An operation's one completion: the kernel is done with its buffer.
    // The kernel hands back, as an integer, the address start_operation gave it.
    FdOperation& op = *reinterpret_cast<FdOperation*>(  // NOLINT(performance-no-int-to-ptr)
        static_cast<std::uintptr_t>(user_data));
    unlink(op);
    op.result = res;
    if (op.outcome != FdInterest::kClosed) op.outcome = FdInterest::kReady;
    const auto* done = static_cast<const Trigger*>(op.reactor_data[3]);
    try {
      ready_.push_back(done != nullptr ? *done : op.trigger);
    } catch (...) {
      (done != nullptr ? *done : op.trigger).signal();  // out of memory: now, under mu_
    }
    return 1;
  }
  if (user_data == kWakeData) {
    if ((flags & IORING_CQE_F_MORE) == 0) {
      try {
        ring_.load(std::memory_order_relaxed)->queue_wake();
        ++queued_;
      } catch (const std::system_error&) {
        // wake() is lost until this succeeds: the owner's timeouts still end its waits.
      }
    }
    return 0;
  }
  const auto generation = static_cast<std::uint32_t>(user_data >> 32) & kGenerationMask;
  const auto fd = static_cast<int>((user_data & 0xffff'ffffu) >> 1);
  const auto dir = static_cast<int>(user_data & 1);
  if (static_cast<std::size_t>(fd) >= fds_.size()) return 0;
  FdState& st = fds_[static_cast<std::size_t>(fd)];
  if (st.armed[dir] != generation) return 0;  // removed, or forgotten: a stale report
  st.armed[dir] = 0;                          // one-shot: done
  // An error (e.g. EBADF: closed behind our back): the waiters retry their call, which
  // reports it.
  const unsigned ready = res < 0 ? kDirEvents[dir] : ready_of(dir, res);
  int completed = 0;
  unsigned wanted = 0;
  for (FdInterest* w = st.head; w;) {
    FdInterest* next = next_of(*w);
    if (w->events & ready) {
      complete(*w, FdInterest::kReady, ready_);
      ++completed;
    } else {
      wanted |= w->events;
    }
    w = next;
  }
  if ((wanted & kDirEvents[dir]) != 0) {
    try {
      arm(fd, st, dir);  // submitted with the next poll()
    } catch (const std::system_error&) {
      for (FdInterest* w = st.head; w;) {  // let them retry, which reports the error
        FdInterest* next = next_of(*w);
        complete(*w, FdInterest::kReady, ready_);
        ++completed;
        w = next;
      }
    }
  }
  return completed;
}

int UringPoller::reap() noexcept {
  io_uring& ring = ring_.load(std::memory_order_relaxed)->ring;
  int completed = 0;
  unsigned head;
  unsigned n = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring, head, cqe) {
    completed += handle(cqe->user_data, cqe->res, cqe->flags);
    ++n;
  }
  io_uring_cq_advance(&ring, n);
  return completed;
}

int UringPoller::poll(long long timeout_ns) noexcept {
  Ring* r = ring_.load(std::memory_order_acquire);
  if (r == nullptr) return 0;
  int completed = 0;
  bool enter = true;
  unsigned to_submit = 0;
  {
    MutexLock lock(mu_);
    if (timeout_ns == 0 && queued_ == 0 && !io_uring_cq_has_overflow(&r->ring) &&
        !task_work_pending(r->ring)) {
      // Just looking, nothing to submit: no system call.
      completed = reap();
      enter = false;
    } else {
      to_submit = flush(r->ring);
      queued_ = 0;
      in_kernel_ = timeout_ns != 0;
    }
  }
  if (enter) {
    // Submits and waits in one call; adds on other threads meanwhile submit their own (they
    // see in_kernel_). Completions already queued end the wait at once.
    __kernel_timespec ts{static_cast<long long>(timeout_ns / 1'000'000'000),
                         static_cast<long long>(timeout_ns % 1'000'000'000)};
    io_uring_getevents_arg arg{};
    arg.ts = timeout_ns > 0 ? reinterpret_cast<std::uint64_t>(&ts) : 0;
    const unsigned wait_nr = timeout_ns != 0 && !io_uring_cq_ready(&r->ring) ? 1 : 0;
    (void)io_uring_enter2(r->ring.ring_fd, to_submit, wait_nr,
                          IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                          reinterpret_cast<sigset_t*>(&arg), sizeof arg);
    // Errors: ETIME (the timeout), EINTR; EBUSY/EAGAIN (out of resources): what was not
    // submitted stays in the queue, which the next poll() flushes again.
    MutexLock lock(mu_);
    in_kernel_ = false;
    // What the kernel did not consume (and removals queued meanwhile): the next poll submits.
    queued_ = flush(r->ring);
    completed = reap();
  }
  // ready_ is the polling thread's alone (one thread at a time polls): no lock needed.
  for (const Trigger& t : ready_) t.signal();
  ready_.clear();
  return completed;
}

void UringPoller::wake() noexcept {
  Ring* r = ring_.load(std::memory_order_acquire);
  if (r == nullptr) return;
  std::uint64_t one = 1;
  (void)!::write(r->wakefd, &one, sizeof one);
}

}  // namespace picos::internal
