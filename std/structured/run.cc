// Copyright 2026 The Picos for C++ Authors.

#include "std/structured/run.h"

namespace picos::structured {

namespace {

void run_actions(std::vector<std::function<void()>>& actions, bool any) {
  if (actions.empty()) return;
  Bundle::join_after([&](Bundle& bundle) {
    try {
      for (std::size_t i = 0; i + 1 < actions.size(); ++i) {
        if (!bundle.is_running()) return;
        bundle.fork([&action = actions[i], bundle, any] {
          action();
          if (any) bundle.terminate();
        });
      }
      if (!bundle.is_running()) return;
      actions.back()();
      if (any) bundle.terminate();
    } catch (const Terminate&) {
      // Terminate is not an error: the action (or a fork into the terminated scope) stops.
    }
  });
}

}  // namespace

void Run::all(std::vector<std::function<void()>> actions) { run_actions(actions, false); }

void Run::any(std::vector<std::function<void()>> actions) { run_actions(actions, true); }

}  // namespace picos::structured
