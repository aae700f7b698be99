// Copyright 2026 The Picos for C++ Authors.

#include "picos/internal/reactor_registry.h"

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "picos/internal/fd_table.h"
#include "picos/internal/mutex.h"

namespace picos::internal {
namespace {

constexpr int kSlots = 64;
constexpr int kOverflow = kSlots - 1;  // shared by every reactor enrolled beyond 63
using Masks = FdTable<std::uint64_t>;  // per descriptor: the slots that noted it
constexpr int kMaxFd = Masks::kMaxFd;  // recorded below this; beyond it, every reactor is asked

using Mask = Masks::Cell;

struct Slot {
  Mutex mu;                                        // held while the slot's reactor(s) are called
  Reactor* reactor ABSL_GUARDED_BY(mu) = nullptr;  // slots below kOverflow
};

struct Registry {
  Mutex mu;                                    // slot allocation
  std::uint64_t used ABSL_GUARDED_BY(mu) = 0;  // slots below kOverflow in use
  Slot slots[kSlots];
  std::vector<Reactor*> overflow ABSL_GUARDED_BY(slots[kOverflow].mu);
  Masks masks;

  // Calls forget(fd) on the reactor(s) of slot `s`.
  void forget_in(int s, int fd) noexcept {
    if (s == kOverflow) {
      MutexLock lock(slots[kOverflow].mu);
      for (Reactor* r : overflow) r->forget(fd);
      return;
    }
    Slot& slot = slots[s];
    MutexLock lock(slot.mu);
    if (slot.reactor != nullptr) slot.reactor->forget(fd);
  }
};

// Created by the first enrollment, never destroyed: reactors (the default one) outlive
// static destruction.
std::atomic<Registry*> the_registry{nullptr};

Registry& registry() {
  static Registry* const instance = [] {
    auto* r = new Registry();
    the_registry.store(r, std::memory_order_release);
    return r;
  }();
  return *instance;
}

}  // namespace

void ReactorRegistration::enroll(Reactor& reactor) {
  if (enrolled()) return;
  Registry& reg = registry();
  MutexLock lock(reg.mu);
  if (slot_.load(std::memory_order_relaxed) >= 0) return;  // a concurrent enroll won
  int s = kOverflow;
  for (int i = 0; i < kOverflow; ++i) {
    if ((reg.used & (std::uint64_t{1} << i)) == 0) {
      s = i;
      break;
    }
  }
  if (s == kOverflow) {
    MutexLock slot_lock(reg.slots[kOverflow].mu);
    reg.overflow.push_back(&reactor);  // may throw: nothing changed yet
  } else {
    MutexLock slot_lock(reg.slots[s].mu);
    reg.slots[s].reactor = &reactor;
    reg.used |= std::uint64_t{1} << s;
  }
  reactor_ = &reactor;
  slot_.store(s, std::memory_order_release);
}

void ReactorRegistration::note(int fd) {
  const int s = slot_.load(std::memory_order_relaxed);
  if (s < 0 || fd < 0 || fd >= kMaxFd) return;
  Mask* m = registry().masks.get(fd);
  if (m == nullptr) throw std::bad_alloc();
  const std::uint64_t bit = std::uint64_t{1} << s;
  // Most waits are on a descriptor this reactor waited on before: a load, no write.
  if ((m->load(std::memory_order_relaxed) & bit) == 0) m->fetch_or(bit, std::memory_order_acq_rel);
}

void ReactorRegistration::withdraw() noexcept {
  const int s = slot_.exchange(-1, std::memory_order_acq_rel);
  if (s < 0) return;
  Registry& reg = registry();
  if (s == kOverflow) {
    MutexLock slot_lock(reg.slots[kOverflow].mu);
    auto& v = reg.overflow;
    v.erase(std::find(v.begin(), v.end(), reactor_));
  } else {
    {
      MutexLock slot_lock(reg.slots[s].mu);
      reg.slots[s].reactor = nullptr;
    }
    MutexLock lock(reg.mu);
    reg.used &= ~(std::uint64_t{1} << s);
  }
  reactor_ = nullptr;
}

void forget_everywhere(int fd) noexcept {
  Registry* reg = the_registry.load(std::memory_order_acquire);
  if (reg == nullptr || fd < 0) return;  // no reactor was ever enrolled
  if (fd >= kMaxFd) {
    for (int s = 0; s < kSlots; ++s) reg->forget_in(s, fd);
    return;
  }
  Mask* m = reg->masks.find(fd);
  if (m == nullptr) return;
  std::uint64_t mask = m->exchange(0, std::memory_order_acq_rel);
  while (mask != 0) {
    const int s = __builtin_ctzll(mask);
    mask &= mask - 1;
    reg->forget_in(s, fd);
  }
}

}  // namespace picos::internal
