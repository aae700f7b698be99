// Copyright 2026 The Picos for C++ Authors.

#include "mux/context/abandon.h"

#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "absl/base/thread_annotations.h"
#include "mux/context/stack.h"
#include "picos/internal/mutex.h"

namespace picos::mux::context {

void keep_abandoned(const void* owner, const Context& ctx) noexcept {
  struct Graveyard {
    picos::internal::Mutex mu;
    std::vector<const void*> kept ABSL_GUARDED_BY(mu);
  };
  static Graveyard* const graveyard = new Graveyard();  // never destroyed
  picos::internal::MutexLock lock(graveyard->mu);
  try {
    graveyard->kept.push_back(owner);
  } catch (...) {
    // Out of memory while stopping on a fatal error: the object simply stays unreferenced.
  }
#if defined(__SANITIZE_ADDRESS__)
  if (const Stack* stack = ctx.stack()) {
    __lsan_register_root_region(stack->limit(), stack->usable_size());
  }
#else
  (void)ctx;
#endif
}

}  // namespace picos::mux::context
