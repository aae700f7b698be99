// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/options.h — the options every scheduler takes, written once.
//
// Each scheduler's `Options` derives from one of these and adds its policy's own knobs
// (threads, idle_spin, child_first, seed, ...):
//
//   struct picos::mux::fifo::Options : picos::mux::StackfulOptions { ... };
//   struct picos::mux::thread::Options : picos::mux::CommonOptions {};
//
// so code that sets only the common ones can do so for any scheduler:
//
//   picos::mux::fifo::Options o;
//   o.fatal_exn_handler = [](std::exception_ptr e) { log(e); };  // keep going
//
// `validate` is what every scheduler's run_fiber calls first: it throws
// std::invalid_argument naming the scheduler and the option for a value out of range.

#ifndef PICOS_MUX_COMMON_OPTIONS_H_
#define PICOS_MUX_COMMON_OPTIONS_H_

#include <chrono>
#include <climits>
#include <cstddef>
#include <exception>
#include <functional>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "mux/context/context.h"
#include "picos/fiber.h"

namespace picos::mux {

struct CommonOptions {
  // Receives an exception that escaped a spawned fiber's main, on the thread that ran it.
  // Returning continues scheduling; throwing stops the scheduler and makes run/run_fiber
  // throw what it threw. Empty (the default): stop and rethrow the escaped exception.
  // (thread: see its header; every fiber is an OS thread, so nothing is stopped.) It runs on
  // the scheduler's own stack: it may signal and cancel, but must not suspend.
  std::function<void(std::exception_ptr)> fatal_exn_handler;
  // Start `run`'s main fiber with cancelation propagation forbidden.
  bool forbid = false;
  // How long every fiber may stay blocked, with no timer pending and nothing to run, before
  // one warning is printed to stderr. Must be positive.
  std::chrono::nanoseconds stall_warning = std::chrono::seconds(10);

  // Throws std::invalid_argument("<scheduler>: <option> must be ..."); `scheduler` is the
  // qualified name, e.g. "picos::mux::fifo".
  void validate(absl::string_view scheduler) const;
};

// Options of the schedulers that run fibers on stacks of their own (all but thread).
struct StackfulOptions : CommonOptions {
  // Operations a fiber may perform without suspending (spawn, cancel_after, an await that
  // finds its trigger already signaled) before it is made to yield. Must be positive.
  int quota = INT_MAX;
  // Stack size of every fiber, in bytes (rounded up to whole pages, at least 16 KiB). At most
  // 1 GiB (context::kMaxStackSize).
  std::size_t stack_size = context::kDefaultStackSize;

  void validate(absl::string_view scheduler) const;
};

// What every run_fiber checks of its arguments: throws std::invalid_argument
// ("<scheduler>::run_fiber: null fiber" / "empty main" / "the fiber has already been
// spawned"). Marks the fiber spawned (Fiber::mark_spawned) when it passes.
void check_run_fiber(absl::string_view scheduler, const FiberRef& fiber,
                     const absl::AnyInvocable<void()>& main);

}  // namespace picos::mux

#endif  // PICOS_MUX_COMMON_OPTIONS_H_
