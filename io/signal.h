// Copyright 2026 The Picos for C++ Authors.
//
// io/signal.h — picos::io::SignalSet: POSIX signals received by fibers, through a signalfd.
//
// A SignalSet makes a set of signals (SIGINT, SIGTERM, SIGHUP, SIGUSR1...) something a fiber
// waits for like a readable descriptor. The signals are blocked, so the kernel keeps them
// pending instead of running a handler or the default action (for SIGINT and SIGTERM: killing
// the process), and a signalfd(2) reports them; `wait()` suspends the calling fiber on that
// descriptor through io::await_fd, so it works on every scheduler (in its own reactor or the
// default epoll thread) and on plain threads, and it is a cancelation point like any io wait.
//
//   int main() {
//     picos::io::SignalSet stop({SIGINT, SIGTERM});   // first thing: before any thread starts
//     picos::mux::multififo::run([&] {
//       Flock::join_after([&] {
//         Flock::fork([] { serve(); });
//         int sig = stop.wait();                       // suspends this fiber only
//         ... stop accepting, drain, Flock::terminate() ...
//       });
//     });
//   }
//
// Signal masks and threads: the rule. A signal sent to the process (kill(2), Ctrl-C's SIGINT
// to the terminal's foreground group, SIGTERM from a supervisor or `docker stop`) is
// delivered to one arbitrary thread of the process that does not block it; only when *every*
// thread blocks it does it stay pending for the process, where the signalfd sees it. One
// thread that leaves it unblocked — a scheduler worker, the default reactor's epoll thread, a
// thread of some library — is enough for the signal to take its default action there (the
// process dies) or to run a handler, and `wait()` never sees it. The mask is per thread, and
// a new thread starts with its creator's mask. So: block the signals in the main thread
// before any other thread exists; every thread started afterwards (multififo and randos
// workers, mux/thread's fiber and timer threads, the default reactor thread started by the
// first io wait, libevent) inherits the mask. Concretely, construct the SignalSet (or call
// `block_signals`) at the top of main(), before starting a scheduler and before the first
// io call; the SignalSet itself may then be created later and anywhere.
//
// The constructor enforces the rule instead of trusting it: it blocks the signals in the
// calling thread, then reads the mask of every thread of the process (/proc/self/task/*/
// status, SigBlk) and, if one of them does not block all of the signals, restores the
// caller's mask and throws std::logic_error naming the thread and the signal. A mistake in
// the order of start-up is then an error at start-up, not a process that dies on its first
// SIGTERM in production. (The check is a snapshot: a thread that unblocks the signals later,
// or is created later by a thread that never blocked them, is not seen; without /proc it is
// skipped.)
//
// Caveats:
//  - Only process-directed signals are reported reliably. A thread-directed signal
//    (raise(3), pthread_kill(3), tgkill(2)) is pending on that one thread, and a signalfd
//    read or poll from another thread does not see it; fibers migrate between threads, so
//    send signals to the process: kill(getpid(), sig). Synchronous faults (SIGSEGV, SIGBUS,
//    SIGFPE, SIGILL) cannot be handled this way; SIGKILL and SIGSTOP cannot be blocked
//    (std::invalid_argument).
//  - Each pending signal is consumed by exactly one read: two SignalSets (or two fibers in
//    `wait()`) with the same signal compete for it. A standard signal raised again while it
//    is pending is merged into the one pending instance (real-time signals queue).
//  - The mask survives fork(2) and execve(2): a child process starts with the signals
//    blocked. Unblock them in the child before exec (posix_spawnattr_setsigmask, or
//    pthread_sigmask between fork and exec) when it should react to them.
//  - Destroying the SignalSet closes the descriptor but leaves the signals blocked (so a
//    signal arriving during shutdown stays pending instead of killing the process at that
//    moment); call `unblock_signals` explicitly where the old behaviour is wanted back.
//
// Thread safety: `wait` and `try_wait` may be called from any fiber or thread, also
// concurrently. Do not destroy a SignalSet while a fiber is in `wait()`.
//
// Cost: one descriptor; a wait is one read(2) and, when nothing is pending, one reactor wait.

#ifndef PICOS_IO_SIGNAL_H_
#define PICOS_IO_SIGNAL_H_

#include <signal.h>

#include <initializer_list>
#include <optional>

namespace picos::io {

// Blocks `signals` in the calling thread (pthread_sigmask SIG_BLOCK); threads it creates
// afterwards inherit the mask. Call it at the top of main() when the SignalSet itself is
// created later (e.g. inside a scheduler). Throws std::invalid_argument for a number that is
// not a signal, for SIGKILL and SIGSTOP.
void block_signals(std::initializer_list<int> signals);
// Unblocks `signals` in the calling thread only (pthread_sigmask SIG_UNBLOCK). A pending one
// is delivered at once. Throws std::invalid_argument as block_signals.
void unblock_signals(std::initializer_list<int> signals);

class SignalSet {
 public:
  // Blocks `signals` in the calling thread, checks that every thread of the process blocks
  // them (see the rule above), and opens a non-blocking, close-on-exec signalfd for them.
  // Never suspends. Throws std::invalid_argument for an empty list, a number that is not a
  // signal, SIGKILL or SIGSTOP; std::logic_error if some thread does not block them (the
  // calling thread's mask is then restored); std::system_error if signalfd fails (EMFILE...).
  explicit SignalSet(std::initializer_list<int> signals);
  // Closes the descriptor (io::close). The signals stay blocked; pending ones stay pending.
  ~SignalSet();
  SignalSet(const SignalSet&) = delete;
  SignalSet& operator=(const SignalSet&) = delete;

  // Returns the number of the next pending signal of the set, consuming it; suspends the
  // calling fiber until one arrives. A cancelation point: if the fiber is canceled while it
  // waits, the reason is thrown and nothing is consumed (the SignalSet stays usable; a signal
  // arriving meanwhile stays pending for the next wait). A signal already pending is
  // returned without suspending and without checking cancelation. Errors as
  // std::system_error ("picos::io::SignalSet::wait: ...").
  int wait();
  // The next pending signal of the set, consumed, or nullopt if none is pending. Never
  // suspends.
  std::optional<int> try_wait();

  // True iff `sig` is in the set.
  bool contains(int sig) const noexcept { return sigismember(&set_, sig) == 1; }
  // The signalfd (non-blocking, close-on-exec), for callers that poll it themselves; owned.
  int fd() const noexcept { return fd_; }

 private:
  sigset_t set_;
  int fd_ = -1;
};

}  // namespace picos::io

#endif  // PICOS_IO_SIGNAL_H_
