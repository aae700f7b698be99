// Copyright 2026 The Picos for C++ Authors.
//
// poller/uring_poller.h — an io_uring-based Reactor (picos/reactor.h): `UringPoller`, with
// the same calls and threading contract as EpollPoller (poller/epoll_poller.h), which it can
// replace in a scheduler (poller/poller.h chooses between them). Linux 5.13 or later, through
// liburing (Debian's liburing-dev). What it saves over epoll: the epoll_ctl of every wait,
// and with the completion-based reads below the reads themselves, on sockets and pipes.
//
// Registration: a one-shot poll (IORING_OP_POLL_ADD) per wait and direction (reading,
// writing), level-triggered like EpollPoller's non-drained waits (it ignores
// FdInterest::drained) but without a system call of its own: add
// only queues the submission, and the owner's next poll() submits every queued one and waits
// for completions in the same io_uring_enter. The kernel checks readiness when it arms the
// poll (level-triggered: a descriptor that is ready already completes at once), so a wait
// never depends on the caller having drained the descriptor. Each completion carries a
// generation, so a report of a poll that is no longer wanted (its waiter removed, its
// descriptor forgotten, its number reused) is never taken for a later one's.
// Why not multishot polls (IORING_POLL_ADD_MULTI, one submission per descriptor for its
// lifetime): they report edges (each wake-up of the descriptor), so a waiter that did not
// drain the descriptor, e.g. a select on readable_evt followed by a one-byte read, would wait
// for data that is already there; and an armed poll holds the open file, so a descriptor closed
// with a plain ::close would stay open in the kernel and a reused number would not be watched
// (io_test's DescriptorClosedBehindTheReactorsBackAndItsNumberReused). One-shot polls have
// neither problem: the reactor holds a file only while someone waits on it.
//
// Submissions: queued under the mutex and made by the next poll() (poll(0) enters the kernel
// only if something is queued or completed: otherwise it reads the completion queue and makes
// no system call). A wait added while the owner is blocked in the kernel, by another thread,
// is submitted at once (one io_uring_enter, like EpollPoller's epoll_ctl), as are forget's
// removals (IORING_OP_POLL_REMOVE), so that nothing queued names a descriptor after it is
// closed. remove() of a waiter whose poll is still armed (a canceled wait) queues its removal.
// The first wait on a descriptor number (since its last forget) checks with fcntl that it is
// open, so that add throws EBADF as EpollPoller's does; later failures (a descriptor closed
// behind the reactor's back) complete the waiters as kReady: their retry reports the error.
//
// Waiting: poll(timeout) blocks in io_uring_enter with IORING_ENTER_EXT_ARG (a nanosecond
// timeout without a timeout submission; Linux 5.11). wake() writes to an eventfd that a
// multishot poll in the same ring watches (lock-free, any thread; the eventfd is never read:
// each write wakes the poll again).
//
// Task work: a poll's wake-up and a read's completion are kernel task work of the thread that
// submitted them, which posts the completion. The ring is set up with
// IORING_SETUP_COOP_TASKRUN (Linux 5.19; older kernels get the default, with no log line):
// a thread running user code is not interrupted for it (by default every completion costs the
// submitter an interrupt, an inter-processor one from another CPU, and a trip through the
// kernel: the HTTP server on fifo served 0.55 x as many requests as on epoll because of it,
// docs/benchmarks.md); the work runs at that thread's next kernel entry, system call or
// timer tick, and a sleeping submitter is still woken for it. With IORING_SETUP_TASKRUN_FLAG
// the kernel flags pending work in the ring, and poll(0) then enters the kernel to run it
// instead of only reading the completion queue. The cost: a completion for a fiber parked by
// a worker that is busy in user code (multififo) may wait for that worker's next system call
// or tick (up to a tick, 1-4 ms) before another worker sees it.
//
// Threads: add, remove and forget from any thread (forget on the closer's thread while the
// owner may be blocked in poll); they, every submission and the processing of completions run
// under one internal mutex, the waiting in the kernel does not. poll by one thread at a time;
// wake from any thread. Triggers are signaled after the mutex is released: by poll on the
// polling thread, by forget on the caller's. The kernel runs a poll's wake-up on the thread
// that submitted it (task work, which interrupts that thread's sleep).
// The poller enrolls in the reactor registry at its first add() and notes each descriptor
// there, as EpollPoller does; call unregister() when the owner's loop ends. Nothing is
// allocated and no descriptor is opened until the first add() (or start()). Destruction
// closes the ring and the eventfd; interests still registered then are simply dropped.
//
// Completion-based reads (start_operation/cancel_operation, picos/reactor.h's FdOperation): on
// sockets and pipes (fstat at the first operation on a descriptor number since its last forget;
// other descriptors, e.g. regular files, eventfds or signalfds, get false: the readiness path) the
// operation itself is submitted (IORING_OP_READ, IORING_OP_RECV) with the caller's buffer,
// batched like the polls; the kernel tries it at once and otherwise arms its own poll, also on
// O_NONBLOCK descriptors, so the reading fiber makes no read system call of its own, failed or
// not. Its user_data is the operation's address (polls set bit 63, which a user-space address
// never has); its completion stores the result and signals the trigger. cancel_operation queues an
// IORING_OP_ASYNC_CANCEL for that address and has the operation's own completion signal the
// canceled fiber's `done` trigger: the buffer is not touched after that; data read before the
// abort took effect is returned. forget(fd) marks the operations in flight on `fd` kClosed and
// submits one cancel per operation before it returns (before io::close closes the number);
// their completions are reaped by the owner's poll() like any other. The operations in flight
// count in waiting(), so the owner polls while one is pending.
//
// Availability: available() says whether this process can use io_uring at all (the ring is
// created, IORING_FEAT_EXT_ARG, multishot poll for the eventfd: Linux 5.13); where not (ENOSYS
// on an old kernel, EPERM from kernel.io_uring_disabled or a seccomp filter), the chooser in
// poller/poller.h uses epoll.

#ifndef PICOS_POLLER_URING_POLLER_H_
#define PICOS_POLLER_URING_POLLER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/mutex.h"
#include "picos/internal/reactor_registry.h"
#include "picos/reactor.h"
#include "picos/trigger.h"

namespace picos::internal {

class UringPoller final : public Reactor {
 public:
  UringPoller() noexcept = default;
  ~UringPoller();
  UringPoller(const UringPoller&) = delete;
  UringPoller& operator=(const UringPoller&) = delete;

  // Whether a ring with multishot poll can be created in this process. The first call tries
  // (a ring, an eventfd, one poll: tens of microseconds); later ones return the answer. When
  // false, `why` (if given) receives the failed operation and its error. Any thread.
  static bool available(std::string* why = nullptr) noexcept;

  // ---- Reactor (any thread) ----
  // Throws std::system_error if the ring cannot be created, the descriptor is not open (EBADF,
  // checked at its first wait) or a submission fails, std::bad_alloc if memory runs out, with
  // nothing registered.
  void add(FdInterest& w) override;
  void remove(FdInterest& w) noexcept override;
  // Completes the interests on `fd` (kClosed) and removes its polls from the ring (one
  // io_uring_enter if any was armed); their triggers are signaled on the calling thread, after
  // the mutex is released.
  void forget(int fd) noexcept override;
  // Completion-based read/recv on sockets and pipes (see above); false for other descriptors
  // (and a negative one). Throws std::system_error if the ring cannot be created or the
  // submission queue stays full, with nothing started.
  bool start_operation(FdOperation& op) override;
  void cancel_operation(FdOperation& op, const Trigger& done) noexcept override;

  // Whether interests are registered now (the owner polls only then). Any thread.
  bool waiting() const noexcept { return waiters_.load(std::memory_order_acquire) != 0; }

  // Submits the queued polls, then waits up to `timeout_ns` nanoseconds (negative: without
  // limit, 0: just looks) for completions or wake(), in one io_uring_enter (none when `timeout_ns`
  // is 0 and nothing is queued), and completes the interests that are ready (their triggers are
  // signaled here). Returns how many were completed; 0 at once before the first add(). One
  // thread at a time.
  int poll(long long timeout_ns) noexcept;

  // Makes a poll() in progress, or the next one, return at once. Any thread. Costs a write
  // to an eventfd; a no-op before the first add().
  void wake() noexcept;

  // Creates the ring now instead of at the first add() (idempotent; any thread).
  // Throws std::system_error if it cannot.
  void start();

  // See EpollPoller::unregister: leaves the reactor registry. Idempotent; any thread.
  void unregister() noexcept { registration_.withdraw(); }
  // Counts each add() in `c` (debug::stats()'s io waits; bumped under the mutex). Call before
  // the first add(); `c` must outlive the poller's use.
  void count_waits_in(Counter* c) noexcept { wait_counter_ = c; }

 private:
  struct Ring;  // liburing's ring and the wake-up eventfd (uring_poller.cc)

  struct FdState {
    FdInterest* head = nullptr;  // interests waiting on this descriptor
    // Generation of the poll queued or armed per direction (0: reading, 1: writing); 0: none.
    std::uint32_t armed[2] = {0, 0};
    bool checked = false;  // fcntl found it open (at its first wait since the last forget)
    // fstat at its first operation since the last forget: 0 unknown, 1 socket or pipe, 2 other.
    unsigned char kind = 0;
    // Operations in flight on this number (kept across forget until they complete).
    FdOperation* ops = nullptr;
  };

  void start_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues a one-shot poll on `fd` for direction `dir`; throws std::system_error.
  void arm(int fd, FdState& st, int dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the removal of the poll armed on `fd` for `dir`, if any.
  void disarm(int fd, FdState& st, int dir) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submits what is queued now (one io_uring_enter). Throws std::system_error.
  void submit_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void unlink(FdInterest& w) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void unlink(FdOperation& op) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues an IORING_OP_ASYNC_CANCEL of `op` (false if no entry could be had).
  bool queue_cancel(FdOperation& op) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unlinks `w`, sets its outcome and appends a copy of its trigger to `out` (the caller
  // signals once mu_ is released).
  void complete(FdInterest& w, FdInterest::Outcome outcome, std::vector<Trigger>& out) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Handles the completions in the queue; returns how many interests they completed.
  int reap() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int handle(std::uint64_t user_data, int res, unsigned flags) noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::uint32_t next_generation() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ReactorRegistration registration_;  // first: withdrawn before anything else goes
  Mutex mu_;
  std::atomic<Ring*> ring_{nullptr};
  std::vector<FdState> fds_ ABSL_GUARDED_BY(mu_);
  std::uint32_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  unsigned queued_ ABSL_GUARDED_BY(mu_) = 0;     // submissions not yet made
  bool in_kernel_ ABSL_GUARDED_BY(mu_) = false;  // poll() waits in io_uring_enter
  std::vector<Trigger> ready_;                   // the polling thread's
  std::atomic<std::size_t> waiters_{0};          // written under mu_
  Counter* wait_counter_ = nullptr;
};

}  // namespace picos::internal

#endif  // PICOS_POLLER_URING_POLLER_H_
