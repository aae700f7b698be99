// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/context.h — stackful execution contexts for schedulers.
//
// A `Context` is an asymmetric stackful coroutine: `resume()` runs it on the calling thread
// until it calls `suspend()` (or its entry function returns), and then control comes back to
// the `resume()` call. Schedulers build fibers on top of it; libraries never see it.
//
// Properties:
//  - Cheap to create: the constructor allocates nothing. The stack is taken from the calling
//    thread's `StackPool` the first time the context is resumed, and given back to the pool of
//    the thread on which the entry function returns.
//  - Migratable: a suspended context may be resumed by any thread (never by two at once).
//  - Stack overflow is reported: stacks have a guard page below them (every stack on kernels
//    with lightweight guard regions, 6.13+; on older ones while the process stays well within
//    Linux's memory-map limit, vm.max_map_count: see stack.h); an access to the guard page
//    prints "picos: stack overflow in a fiber ..." with the stack size and how to raise it,
//    then aborts, instead of a bare SIGSEGV. Stacks allocated beyond that budget have no guard
//    page; they carry a zero canary that is checked at every suspend and exit instead.
//  - Sanitizer aware: under -fsanitize=address every switch is announced with
//    __sanitizer_{start,finish}_switch_fiber; under -fsanitize=thread with
//    __tsan_switch_to_fiber, and TSan fiber states are pooled with the stacks (creating one
//    costs ~0.4 ms).
//  - Exceptions never cross a switch: the entry function is noexcept. Catching whatever the
//    fiber's body throws is the scheduler's job.
//
// Implementation: Boost.Context's fcontext (`make_fcontext`/`jump_fcontext`); see
// docs/design.md for why not ucontext or boost::context::fiber, and docs/context.md for the
// switch protocol, the stack policy and the figures. A resume()+suspend() round trip costs
// ~36 ns on the reference machine (a bare jump_fcontext round trip ~14 ns: most of the
// difference is the return-address mispredictions of calling the switch out of line).
//
// Hazard: code running in a context may suspend on one thread and continue on another. Do not
// keep a thread_local's address, or a value from a `const` function such as pthread_self()
// (std::this_thread::get_id()), across a suspend(): gcc may reuse it. See docs/context.md.

#ifndef PICOS_MUX_CONTEXT_CONTEXT_H_
#define PICOS_MUX_CONTEXT_CONTEXT_H_

#include <cstddef>

namespace picos::mux::context {

// The default stack size of a fiber, in bytes: 64 KiB, and 256 KiB under AddressSanitizer,
// whose redzones (and UBSan's checks, which the asan config adds) make frames several times
// bigger: a std::sort of a few thousand elements in a test's fiber overflowed 64 KiB there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::size_t kDefaultStackSize = 256 * 1024;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr std::size_t kDefaultStackSize = 256 * 1024;
#else
inline constexpr std::size_t kDefaultStackSize = 64 * 1024;
#endif
#else
inline constexpr std::size_t kDefaultStackSize = 64 * 1024;
#endif
// Smallest accepted stack size; smaller requests are rounded up to it.
inline constexpr std::size_t kMinStackSize = 16 * 1024;

class Stack;  // defined in stack.h

// A stackful coroutine. Not copyable or movable (its address is part of its identity while
// it runs).
class Context {
 public:
  // The entry function; `arg` is the pointer given to the constructor. When it returns, the
  // context is finished and the `resume()` that ran it returns true.
  using Entry = void (*)(void* arg) noexcept;

  // Creates a context that will run `entry(arg)` on its own stack of `stack_size` bytes
  // (rounded up to whole pages, at least kMinStackSize). Allocates nothing. Any thread.
  // Creating, running to completion and destroying a context whose stack comes from the pool
  // costs ~50 ns; a pool miss adds an mmap + mprotect (~10 µs with the later munmap).
  Context(Entry entry, void* arg, std::size_t stack_size = kDefaultStackSize) noexcept;

  // Destroying a context that was started but has not finished abandons it: its stack is
  // released without unwinding it, so destructors of objects on that stack do not run. The
  // stack goes to the calling thread's pool. Any thread, while the context is not running
  // (destroying a running context aborts).
  ~Context();

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Runs the context on the calling thread until it calls `suspend()` (returns false) or its
  // entry function returns (returns true). Any thread may call it, but only while the context
  // is not running, and never from inside the context itself. Resuming a finished context is
  // a precondition violation (checked: aborts with a message), and so is resuming a running
  // one (checked). The first resume takes a stack from the calling thread's pool and gives the
  // thread an alternate signal stack if it has none. Cost: see the round trip above.
  bool resume() noexcept;

  // Switches from inside this (running) context back to the `resume()` call that ran it.
  // Returns when the context is resumed again, possibly on another thread. Only code running
  // in this context may call it (checked: aborts if the context is not running). On an
  // unguarded stack it first checks the canary (aborts with a message if overwritten).
  void suspend() noexcept;

  // What came back to a `run()` call: the context that suspended or finished, and whether
  // it finished (its stack is then back in the calling thread's pool).
  struct Outcome {
    Context* context;
    bool finished;
  };

  // Like resume(), for contexts that hand the thread on with switch_to(): runs this context
  // and returns when whichever context is running under this call then suspends or finishes,
  // saying which. Same preconditions and cost as resume(). resume() is run() for a context
  // that never calls switch_to (checked: resume() aborts if another context comes back).
  Outcome run() noexcept;

  // From inside this (running) context: suspends it and runs `next` in its place, on the
  // same thread and under the same run() call, without going through that call (one jump
  // instead of two). `next` must be suspended or not yet started (checked: aborts if it is
  // running, finished, or this context). Returns when this context is resumed again, by a
  // run()/resume() or by another context's switch_to, possibly on another thread. Whoever
  // resumes this context may only do so after this call has switched away: schedulers that
  // let other threads resume it must publish it only from the next context's side.
  void switch_to(Context& next) noexcept;

  // The argument given to the constructor (schedulers keep their per-fiber record there).
  void* arg() const noexcept { return arg_; }

  // Whether `resume()` ran at least once / the entry function returned. Owner's thread; free.
  bool started() const noexcept { return phase_ != kNew; }
  bool finished() const noexcept { return phase_ == kFinished; }
  // The stack size in bytes, after rounding (a multiple of the page size, >= kMinStackSize).
  std::size_t stack_size() const noexcept { return stack_size_; }

  // The stack this context runs on: nullptr before the first resume() and after the context
  // finished (the stack is back in a pool then). For tests and diagnostics (guarded(),
  // canary_intact()). Owner's thread; free.
  const Stack* stack() const noexcept { return stack_; }

  // The context running on the calling thread, or nullptr on a thread's own stack. Any
  // thread; ~1 ns (an out-of-line call that reads a thread_local). Never inlined, so code in a
  // context that migrated to another thread gets the right answer after a suspend().
  static Context* current() noexcept;

 private:
  // The run() call running this context; lives on the resumer's stack. Defined in
  // context.cc, where its static member is also the fcontext entry point.
  struct Resumer;
  // What a jump from run(), or into a context's first run, carries (context.cc).
  struct Hop;
  // The bookkeeping of a context that has just been jumped into: `data` is the context that
  // jumped (a switch_to between started contexts), or a Hop tagged with its low bit.
  static void arrive(void* fctx, void* data, void* fake_stack) noexcept;
  // The Hop behind a tagged `data`.
  static const Hop* untag(void* data) noexcept;
  // switch_to's checks and the first run of `next`: everything but the usual case.
  void switch_to_slow(Context& next) noexcept;
  // The jump itself: publishes `next` as running under `r`, jumps with `data`, and does the
  // arrival's bookkeeping when this context is resumed.
  void jump_to(Context& next, Resumer* r, void* data) noexcept;

  // Takes a stack from the calling thread's pool and prepares the first switch.
  void start() noexcept;
  // Gives the stack back to the calling thread's pool; `abandoned`: the fiber never finished.
  void release_stack(bool abandoned) noexcept;

  Entry entry_;
  void* arg_;
  std::size_t stack_size_;
  Stack* stack_ = nullptr;      // taken from the pool at first resume
  void* fctx_ = nullptr;        // saved fcontext of this context while suspended
  Resumer* resumer_ = nullptr;  // the run() frame that runs it now; nullptr unless running
  enum Phase : unsigned char { kNew, kStarted, kFinished };
  Phase phase_ = kNew;
};

}  // namespace picos::mux::context

#endif  // PICOS_MUX_CONTEXT_CONTEXT_H_
