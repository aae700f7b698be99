// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/attach.cc — Attachment (libevent.h): a scheduler on an event_base that the
// application creates and runs, and spawns into it from any thread or callback.
//
// A spawn from outside the scheduler's fibers builds the record on the spawner's thread (so
// that running out of memory is the spawner's exception) and queues it in the scheduler's
// `spawns_` inbox, which activates the internal event; the next batch adopts it into the
// kernel's records (mux/common/kernel.h, Records::adopt) and runs it.

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "mux/libevent/libevent.h"
#include "mux/libevent/scheduler.h"
#include "picos/handler.h"

namespace picos::mux::libevent {

void Scheduler::spawn_from_outside(FiberRef fiber, absl::AnyInvocable<void()> main) {
  void* storage = common::Records<Record>::allocate_detached();
  Record* r;
  try {
    r = ::new (storage) Record(std::move(fiber), FiberMain(main), options_.stack_size);
  } catch (...) {
    common::Records<Record>::free_detached(storage);
    throw;
  }
  // The activation runs under the inbox's lock: detach, which closes it first, cannot free
  // the event meanwhile.
  if (!spawns_.push(r, false, [this] { activate(); })) {
    r->~Record();
    common::Records<Record>::free_detached(r);
    throw std::logic_error("picos::mux::libevent: the scheduler has stopped after a fatal error");
  }
}

Attachment::Attachment(event_base* base, const Options& options) : base_(base), s_(nullptr) {
  if (!base) throw std::invalid_argument("picos::mux::libevent::Attachment: null event_base");
  validate(options);
  use_threads();
  s_ = new Scheduler(options, base);
}

Attachment::~Attachment() {
  if (installed_handler() == s_) {
    std::fprintf(stderr,
                 "picos::mux::libevent: an Attachment was destroyed from one of its own fibers "
                 "(or callbacks)\n");
    std::abort();
  }
  s_->detach();
  s_->release();
}

void Attachment::spawn(FiberRef fiber, absl::AnyInvocable<void()> main) {
  if (!fiber) throw std::invalid_argument("picos::mux::libevent::Attachment::spawn: null fiber");
  if (!main) throw std::invalid_argument("picos::mux::libevent::Attachment::spawn: empty main");
  if (installed_handler() == s_ && s_->in_fiber()) {
    Fiber::spawn(std::move(fiber), std::move(main));  // one of our fibers: the Handler path
  } else {
    if (!fiber->mark_spawned()) {
      throw std::invalid_argument(
          "picos::mux::libevent::Attachment::spawn: the fiber has already been spawned");
    }
    s_->spawn_from_outside(std::move(fiber), std::move(main));
  }
}

void Attachment::spawn(absl::AnyInvocable<void()> main) {
  spawn(Fiber::create(PackedComputation()), std::move(main));
}

std::size_t Attachment::live_fibers() const noexcept { return s_->alive(); }

std::exception_ptr Attachment::failure() const noexcept { return s_->fatal(); }

}  // namespace picos::mux::libevent
