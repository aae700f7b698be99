// Copyright 2026 The Picos for C++ Authors.
//
// picos/debug.h — seeing inside a running program: every live fiber, and what it waits for.
//
// When a program hangs or slows down, `picos::debug::dump(std::cerr)` prints every fiber that
// has been spawned and has not finished, on every scheduler (and the threads of the
// no-scheduler default), with what each suspended one waits for:
//
//   scheduler picos::mux::fifo: 3 live (1 runnable, 0 ready), 3 spawns, 0 finishes, ...
//   picos: 3 live fiber(s)
//   fiber 1 [picos::mux::fifo] running
//   fiber 2 "first" [picos::mux::fifo] suspended 2.013 s: picos::sync::Mutex@0x7ffd1a lock,
//     held by fiber 3                                              (one line in the dump)
//   fiber 3 "second" [picos::mux::fifo] suspended 2.013 s: picos::sync::Mutex@0x7ffd3c lock,
//     held by fiber 2
//   deadlock: fiber 2 -> fiber 3 -> fiber 2
//
// Contract:
//  - Registry: a fiber is listed from the moment a scheduler takes it in (spawn, or a run's
//    main fiber) until it finishes; a finished fiber is gone from every dump. With no
//    scheduler, fibers spawned as threads are listed while their thread runs them. A plain
//    thread's implicit fiber is not listed. Reading the registry takes one small lock per
//    thread that has registered fibers; a dump may run on any thread at any time, while
//    fibers churn (registering costs a spawn one uncontended lock, finishing another).
//  - Per fiber: its id (Fiber::id(), unique in the process), its name (Fiber::set_name), the
//    scheduler that runs it and the worker that took it in, its state: `running` (on a
//    thread now), `ready` (queued to run), `suspended` (in a wait, since when) or `finishing`
//    (its main has returned, the scheduler has not let it go yet), and, while suspended, its
//    wait label if the code that suspended it set one. A fiber of a scheduler that runs each
//    fiber on a thread of its own (mux/thread, and no scheduler) is running when not
//    suspended.
//  - Wait labels: whoever suspends a fiber may say what for, on the trigger it awaits:
//    `trigger.set_wait_label(kind, object, value)` (picos/trigger.h) with a WaitKind (a static
//    type name and operation), the object waited on (printed as an address, never read) and
//    one optional detail: a descriptor, a deadline, a count, or the fiber holding what is
//    waited for (printed by its id; dump() reports cycles of such "held by" edges as
//    deadlocks). //std/sync, //std/structured and //io label their waits, and
//    PackedComputation::wait(kind, object) labels a wait on a computation. A label costs three
//    stores on the trigger, and the suspension copies it to the fiber (a load and a store when
//    there is none).
//  - Consistency: a dump is a snapshot per thread's list, not of the whole program: a fiber
//    that moves while the dump runs may be listed in a state it just left. Every field is
//    read atomically, so a dump never reads freed memory or tears a value.
//
// Also: install_dump_on_signal(SIGQUIT) prints a dump to stderr whenever the signal arrives;
// PICOS_DUMP_SIGNAL=<number> in the environment installs it at the first spawn.
//
// Also: a scheduler's stall warning (mux/common/kernel.h, warn_stall) is followed by a dump.
//
// Stack traces (opt-in): with traces on (set_fiber_traces(true), or PICOS_FIBER_TRACES=1 in
// the environment at startup), every suspension captures the suspending fiber's stack
// (absl::GetStackTrace, up to kTraceDepth return addresses) and every spawn the spawner's,
// and dumps print both, symbolized (absl::Symbolize). Off, they cost a suspension one load
// and a branch. On, a suspension costs the unwinding (frame pointers: in optimized builds
// compiled without them the traces are short; see docs/debugging.md) and a copy under the
// fiber's small lock; the figures are in docs/debugging.md.
//
// Counters: stats() reads, from any thread, what each scheduler (each worker of a
// multi-threaded one) has counted since it started: spawns, finishes, switches, steals, io
// waits, timers; and, from the registry, how many of the fibers it took in are live and how
// many of those are runnable (running or in a ready queue). A scheduler that has ended is gone
// from stats(). Counting costs the owner a load and a store per event, no locked instruction.

#ifndef PICOS_DEBUG_H_
#define PICOS_DEBUG_H_

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "picos/fiber.h"

namespace picos::debug {

// What a wait label's detail is.
enum class Detail : std::uint8_t {
  kNone = 0,
  kFd,        // a file descriptor ("fd 7")
  kDeadline,  // a steady_clock deadline in nanoseconds since its epoch ("1.2 s left")
  kCount,     // a count ("3 children")
  kHolder,    // the Fiber* holding what is waited for ("held by fiber 12"); never dereferenced
};

// What a kind of wait is, for Trigger::set_wait_label: define one per kind, with static
// storage, e.g.
//   static constexpr debug::WaitKind kLock{"picos::sync::Mutex", "lock", debug::Detail::kHolder};
// `type` names what is waited on (may be null), `what` the operation.
struct WaitKind {
  const char* type;
  const char* what;
  Detail detail = Detail::kNone;
  // The label's object is not an address but the operation's name (a string with static
  // storage), printed in place of `what` (e.g. io's "read", "accept").
  bool object_is_what = false;
};

// Where a live fiber is (see the contract above).
enum class FiberState { kRunning, kReady, kSuspended, kFinishing };
// "running", "ready", "suspended", "finishing".
const char* to_string(FiberState state) noexcept;

// One live fiber, as dump() prints it.
struct FiberInfo {
  std::uint64_t id = 0;
  std::string name;  // empty if none was set
  const void* address = nullptr;
  std::string scheduler;  // "picos::mux::fifo", or "no scheduler (a thread)"
  int worker = -1;        // the worker that took it in (multi-threaded schedulers), else -1
  FiberState state = FiberState::kReady;
  bool suspended = false;                     // state == kSuspended
  std::chrono::nanoseconds suspended_for{0};  // when suspended
  // The wait label, when suspended and labeled (else `what` is empty).
  std::string type;
  const void* object = nullptr;
  std::string what;
  Detail detail = Detail::kNone;
  std::int64_t value = 0;
  std::uint64_t holder_id = 0;  // Detail::kHolder: the holder's id, 0 if it has finished
  // With traces on (set_fiber_traces): return addresses, innermost first, of the suspension
  // in progress (empty if runnable, or suspended before traces were turned on) and of the
  // spawn that created the fiber (empty if spawned while traces were off).
  std::vector<const void*> stack;
  std::vector<const void*> spawn_stack;
};

// The most return addresses a trace keeps.
inline constexpr int kTraceDepth = 24;

// Every live fiber, ordered by id. Any thread.
std::vector<FiberInfo> fibers();

// Prints stats(), then fibers() (one line each, as above, and their symbolized stacks when
// traces are on), then every cycle of "held by" edges among them. Any thread.
void dump(std::ostream& out);
// The same, to stderr, without iostreams' locale machinery (for signal-driven dumps).
void dump_to_stderr() noexcept;

// The cycles of "held by" edges among `infos` (each a list of ids, starting with its lowest).
std::vector<std::vector<std::uint64_t>> deadlocks(const std::vector<FiberInfo>& infos);

// Turns stack traces of suspensions and spawns on or off, for every fiber from then on (a
// fiber suspended before keeps what it had: nothing, or its previous trace is dropped at its
// next suspension). Any thread.
void set_fiber_traces(bool on) noexcept;
bool fiber_traces() noexcept;

// "picos::sync::Mutex::lock() at +0x1c", or the address in hex if it has no symbol. For
// printing stacks; uses absl::Symbolize. Any thread.
std::string symbolize(const void* pc);

// What one scheduler, or one worker of a multi-threaded scheduler, has counted.
struct SchedulerStats {
  std::string scheduler;       // "picos::mux::fifo"
  int worker = -1;             // -1: a scheduler with one record keeper (fifo, libevent, thread)
  std::uint64_t spawns = 0;    // fibers taken in, a run's main fiber included
  std::uint64_t finishes = 0;  // fibers that ended
  std::uint64_t switches = 0;  // times the next fiber to run was picked
  std::uint64_t steals = 0;    // fibers taken from another worker's queue
  std::uint64_t io_waits = 0;  // waits registered with the scheduler's own reactor
  std::uint64_t timers = 0;    // cancel_after calls (sleeps and timeouts included)
  std::uint64_t live = 0;      // fibers it took in that have not finished (the registry)
  std::uint64_t runnable = 0;  // of those, running or ready (the rest are suspended)
  std::uint64_t ready = 0;     // of those, ready: queued to run (its ready queues' length)
};

// One entry per running scheduler (per worker of a multi-threaded one), in the order they
// started. Any thread; a snapshot per counter, not of the whole program.
std::vector<SchedulerStats> stats();
// Prints stats(), one line each.
void print_stats(std::ostream& out);

// Prints a dump to stderr each time `signal` arrives (a background thread does the work: the
// handler only writes one byte to a pipe). Replaces any handler of `signal`. Throws
// std::invalid_argument for a signal that reports a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE:
// the handler would return to the faulting instruction, which faults again, dumping forever,
// and a fiber's stack overflow would no longer be reported) or that cannot be caught
// (SIGKILL, SIGSTOP), and std::system_error if the pipe, the thread or the handler cannot be
// set up.
void install_dump_on_signal(int signal);

}  // namespace picos::debug

#endif  // PICOS_DEBUG_H_
