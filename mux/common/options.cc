// Copyright 2026 The Picos for C++ Authors.

#include "mux/common/options.h"

#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"

namespace picos::mux {

void CommonOptions::validate(absl::string_view scheduler) const {
  if (stall_warning.count() <= 0) {
    throw std::invalid_argument(absl::StrCat(scheduler, ": stall_warning must be positive"));
  }
}

void StackfulOptions::validate(absl::string_view scheduler) const {
  CommonOptions::validate(scheduler);
  if (quota <= 0) {
    throw std::invalid_argument(absl::StrCat(scheduler, ": quota must be positive"));
  }
  if (stack_size > context::kMaxStackSize) {
    throw std::invalid_argument(absl::StrCat(scheduler, ": stack_size must be at most ",
                                             context::kMaxStackSize, " bytes (1 GiB), not ",
                                             stack_size));
  }
}

void check_run_fiber(absl::string_view scheduler, const FiberRef& fiber,
                     const absl::AnyInvocable<void()>& main) {
  if (!fiber) {
    throw std::invalid_argument(absl::StrCat(scheduler, "::run_fiber: null fiber"));
  }
  if (!main) {
    throw std::invalid_argument(absl::StrCat(scheduler, "::run_fiber: empty main"));
  }
  if (!fiber->mark_spawned()) {  // last: a refused run leaves the fiber as it was
    throw std::invalid_argument(
        absl::StrCat(scheduler, "::run_fiber: the fiber has already been spawned"));
  }
}

}  // namespace picos::mux
