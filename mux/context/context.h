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
// ~29 ns on the reference machine (a bare jump_fcontext round trip ~11 ns: most of the
// difference is the return-address mispredictions of resume(), called out of line).
//
// Hazard: code running in a context may suspend on one thread and continue on another. Do not
// keep a thread_local's address, or a value from a `const` function such as pthread_self()
// (std::this_thread::get_id()), across a suspend(): gcc may reuse it. See docs/context.md.

#ifndef PICOS_MUX_CONTEXT_CONTEXT_H_
#define PICOS_MUX_CONTEXT_CONTEXT_H_

#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>

#include "mux/context/internal/sanitizers.h"
#include "mux/context/internal/thread_state.h"
#include "mux/context/stack.h"

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
// Largest stack size: larger requests are lowered to it (the schedulers' options reject them:
// a size near SIZE_MAX wrapped to 0 when rounded up to whole pages).
inline constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;

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
  // let other threads resume it must publish it only from the next context's side. The usual
  // case (both started) is inline, below: no call of its own around the jump.
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
  // jumped (a switch_to between started contexts), or a Hop tagged with its low bit. Inline
  // (below) for the usual case, arrive_from_hop for a Hop.
  static void arrive(void* fctx, void* data, void* fake_stack) noexcept;
  static void arrive_from_hop(void* fctx, void* data, void* fake_stack) noexcept;
  // The Hop behind a tagged `data`.
  static const Hop* untag(void* data) noexcept;
  // jump_fcontext, entered without a call (below).
  static boost::context::detail::transfer_t jump(boost::context::detail::fcontext_t to,
                                                 void* data) noexcept;
  // suspend() on a context that is not running: aborts with a message.
  [[noreturn, gnu::cold]] static void suspend_not_running() noexcept;
  // switch_to's checks and the first run of `next`: everything but the usual case.
  void switch_to_slow(Context& next) noexcept;
  // The jump itself: publishes `next` as running under `r`, jumps with `data`, and does the
  // arrival's bookkeeping when this context is resumed. Inline (below): the usual switch_to
  // is inlined into the scheduler that calls it, with no call of its own around the jump.
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
  // Its exception state while it is not running (internal::EhState; none before its first
  // run): every jump saves the jumper's from the thread and puts the target's in its place.
  internal::EhState eh_;
};

// ---- inline: switch_to's usual case and suspend (the rest is in context.cc) --------------

// The run() call running a context; lives on the resumer's stack.
struct Context::Resumer {
  // Where a suspending or finishing context jumps back to.
  boost::context::detail::fcontext_t ctx = nullptr;
  Context* returned = nullptr;  // set by the context that jumps back
  // The thread state of the thread running this run() call: every context running under it
  // runs on that thread, so switch_to updates it without looking the thread up again.
  internal::ThreadState* ts = nullptr;
  // The exception state of the code that called run(), while a context runs under it.
  internal::EhState eh;
#ifdef PICOS_CONTEXT_TSAN
  void* tsan_fiber = nullptr;  // TSan fiber of the resuming thread or context
#endif
#ifdef PICOS_CONTEXT_ASAN
  const void* stack_bottom = nullptr;  // the resumer's stack, learned by the first context
  std::size_t stack_size = 0;
#endif

  // The fcontext entry point: runs on the new stack at the first resume(). It is not
  // instrumented by TSan: it never returns, so a __tsan_func_entry here would stay on the
  // pooled TSan fiber's shadow stack forever and pile up as the stack is reused.
  PICOS_CONTEXT_NO_TSAN static void enter(boost::context::detail::transfer_t t) noexcept;
};

// `jump_fcontext(to, data)` entered with a jump instead of a call: the return address is
// pushed by hand, so the return-address predictor gets no entry. jump_fcontext leaves through
// an indirect jump, never a `ret`, so the entry that a `call` pushes would never be popped:
// the resumed context would find the predictor one entry off and mispredict every return on
// its way out of the wait. Entered this way, the resumed context's returns are predicted with
// the entries of the context that jumped, which is right whenever the two waited through the
// same code (a yield: 18-22 ns -> 8-11 ns, docs/context.md). The 128 bytes below the stack
// pointer are stepped over first (the red zone, which the compiler may use and the push would
// overwrite). The jump goes through jump_fcontext's GOT entry, not its PLT stub (which is one
// more jump, to the same GOT entry: one instruction and one indirect branch per switch; the
// linker turns it into a direct jump where Boost.Context is linked statically). Other
// architectures (and x32) call jump_fcontext.
inline boost::context::detail::transfer_t Context::jump(boost::context::detail::fcontext_t to,
                                                        void* data) noexcept {
#if defined(__x86_64__) && !defined(__ILP32__)
  void* fctx;
  void* back;
  asm volatile(
      "subq $128, %%rsp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "jmp *jump_fcontext@GOTPCREL(%%rip)\n"
      "1:\n\t"
      "addq $128, %%rsp"
      : "+D"(to), "+S"(data), "=a"(fctx), "=d"(back)
      :
      : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
        "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
        "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
  return {fctx, back};
#else
  return boost::context::detail::jump_fcontext(to, data);
#endif
}

// Records where the jumper's state was saved: in the context that switched (switch_to; `data`
// is that context, or a Hop naming it for a first run) or in the Resumer (a jump from run(),
// always a Hop). Under ASan it also ends the switch (`fake_stack`: the slot given to its
// start, null on a first entry).
inline void Context::arrive(void* fctx, void* data, [[maybe_unused]] void* fake_stack) noexcept {
  if ((reinterpret_cast<std::uintptr_t>(data) & 1) != 0) [[unlikely]] {
    arrive_from_hop(fctx, data, fake_stack);
    return;
  }
  static_cast<Context*>(data)->fctx_ = fctx;
#ifdef PICOS_CONTEXT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
}

inline void Context::jump_to(Context& next, Resumer* r, void* data) noexcept {
  internal::ThreadState* const ts = r->ts;
  ts->current = &next;
  ts->stack = next.stack_;
  internal::trade_eh_state(eh_, ts->eh, next.eh_);  // this context's goes with it, next's in
  resumer_ = nullptr;
  next.resumer_ = r;
#ifdef PICOS_CONTEXT_TSAN
  __tsan_switch_to_fiber(next.stack_->tsan_fiber(), 0);
#endif
  [[maybe_unused]] void* fake_stack = nullptr;
#ifdef PICOS_CONTEXT_ASAN
  __sanitizer_start_switch_fiber(&fake_stack, next.stack_->limit(), next.stack_->usable_size());
#endif
  boost::context::detail::transfer_t t = jump(next.fctx_, data);
  arrive(t.fctx, t.data, fake_stack);
}

// Inline like switch_to: a fiber that suspends to its scheduler's loop and is resumed from
// there returns from its wait with one mispredicted return fewer.
inline void Context::suspend() noexcept {
  Resumer* r = resumer_;
  if (r == nullptr) [[unlikely]] {
    suspend_not_running();
  }
  stack_->check_canary();
  resumer_ = nullptr;
  r->returned = this;
  internal::trade_eh_state(eh_, r->ts->eh, r->eh);  // see jump_to
#ifdef PICOS_CONTEXT_TSAN
  __tsan_switch_to_fiber(r->tsan_fiber, 0);
#endif
  [[maybe_unused]] void* fake_stack = nullptr;
#ifdef PICOS_CONTEXT_ASAN
  __sanitizer_start_switch_fiber(&fake_stack, r->stack_bottom, r->stack_size);
#endif
  boost::context::detail::transfer_t t = jump(r->ctx, nullptr);
  // Resumed, possibly by another thread: only what it was handed is trusted from here on.
  arrive(t.fctx, t.data, fake_stack);
}

inline void Context::switch_to(Context& next) noexcept {
  // The usual case, with its checks in one test: this context runs, `next` is suspended
  // (started, not finished, not running; so not this one either).
  Resumer* const r = resumer_;
  if (r == nullptr || next.resumer_ != nullptr || next.phase_ != kStarted) [[unlikely]] {
    switch_to_slow(next);
    return;
  }
  stack_->check_canary();
  jump_to(next, r, this);
}

}  // namespace picos::mux::context

#endif  // PICOS_MUX_CONTEXT_CONTEXT_H_
