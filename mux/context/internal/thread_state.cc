// Copyright 2026 The Picos for C++ Authors.

#include "mux/context/internal/thread_state.h"

#include <cxxabi.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>

#include "mux/context/internal/fatal.h"
#include "mux/context/internal/sanitizers.h"
#include "mux/context/stack.h"

#if !defined(PICOS_CONTEXT_ASAN) && !defined(PICOS_CONTEXT_TSAN)
#define PICOS_CONTEXT_OVERFLOW_HANDLER 1
#endif

namespace picos::mux::context::internal {
namespace {

constinit thread_local ThreadState t_state{};

#ifdef PICOS_CONTEXT_OVERFLOW_HANDLER

// Handlers found at installation; written once, before ours is installed.
struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

// Gives control to whatever handled `sig` before us. For SIG_DFL/SIG_IGN: restore the default
// and return, so the faulting instruction runs again and the default action kills the process
// (a signal sent with kill() is re-raised instead).
void chain(int sig, siginfo_t* info, void* ucontext) {
  const struct sigaction& previous = sig == SIGSEGV ? g_previous_segv : g_previous_bus;
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    if (previous.sa_sigaction != nullptr) {
      previous.sa_sigaction(sig, info, ucontext);
      return;
    }
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  if (info->si_code <= 0) raise(sig);  // sent by a process, not a fault: it would not recur
}

void on_fault(int sig, siginfo_t* info, void* ucontext) {
  const Stack* stack = t_state.stack;
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  if (stack != nullptr && stack->guarded() && addr >= stack->guard_begin() &&
      addr < stack->guard_end()) {
    FatalMessage()
        .text("picos: stack overflow in a fiber (stack size ")
        .decimal(stack->size())
        .text(" bytes, guard page hit at ")
        .hex(addr)
        .text("). Give the fiber a bigger stack (the scheduler's stack_size option).")
        .abort();
  }
  chain(sig, info, ucontext);
}

void install_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = &on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &g_previous_segv) != 0 ||
      sigaction(SIGBUS, &sa, &g_previous_bus) != 0) {
    fatal("cannot install the fiber stack-overflow handler (sigaction failed)");
  }
}

// Owns the thread's alternate signal stack; its destructor (thread exit) removes it.
struct AltStack {
  void* memory = nullptr;
  std::size_t size = 0;
  ~AltStack() {
    if (memory == nullptr) return;
    stack_t current{};
    if (sigaltstack(nullptr, &current) == 0 && current.ss_sp == memory) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      sigaltstack(&off, nullptr);
    }
    munmap(memory, size);
  }
};
thread_local AltStack t_alt_stack;

void set_up_alt_stack() {
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) {
    return;  // the thread already has one (someone else's): use it
  }
  long min_size = sysconf(_SC_SIGSTKSZ);
  std::size_t size = 64 * 1024;
  if (min_size > 0 && static_cast<std::size_t>(min_size) * 4 > size) {
    size = static_cast<std::size_t>(min_size) * 4;
  }
  const std::size_t page = page_size();
  size = (size + page - 1) / page * page;
  void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) fatal("cannot map an alternate signal stack");
  stack_t alt{};
  alt.ss_sp = memory;
  alt.ss_size = size;
  alt.ss_flags = 0;
  if (sigaltstack(&alt, nullptr) != 0) {
    munmap(memory, size);
    return;  // the handler still works for faults that leave stack room
  }
  t_alt_stack.memory = memory;
  t_alt_stack.size = size;
}

#endif  // PICOS_CONTEXT_OVERFLOW_HANDLER

}  // namespace

ThreadState* thread_state() noexcept { return &t_state; }

void prepare_thread(ThreadState* ts) noexcept {
  ts->eh = reinterpret_cast<EhState*>(abi::__cxa_get_globals());
  ts->prepared = true;
#ifdef PICOS_CONTEXT_OVERFLOW_HANDLER
  static std::once_flag once;
  std::call_once(once, install_handler);
  set_up_alt_stack();
#endif
}

}  // namespace picos::mux::context::internal
