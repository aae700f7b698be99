// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/asymmetric_fence.h — a store-load fence paid by one side of a handshake only.
//
// Dekker's handshake (each side stores its flag, then loads the other's) needs a full fence
// between the store and the load on both sides: a locked instruction on x86, ~20 cycles.
// Where one side runs on every fiber spawn and the other rarely (a dump), the fast side can
// use light_fence() (a compiler barrier: no instruction) and the slow side heavy_fence(),
// which makes every thread of the process execute a full fence (Linux membarrier(2),
// MEMBARRIER_CMD_PRIVATE_EXPEDITED: an interrupt to each CPU running one of them, ~1-2 µs on
// the 2-core VM). The pair then orders like two full fences: after heavy_fence() returns,
// either a fast side's store made before its light_fence() is visible to the slow side, or
// that fast side's load after its light_fence() sees the slow side's store made before
// heavy_fence().
//
//   fast side:  flag_a.store(true, relaxed); light_fence(); if (flag_b.load(acquire)) ...
//   slow side:  flag_b.store(true, relaxed); heavy_fence(); if (flag_a.load(acquire)) ...
//
// A fast side may use light_fence() only if asymmetric_fences() returned true before (on any
// thread); otherwise it needs std::atomic_thread_fence(seq_cst) (or a lock), as both sides do
// without this.

#ifndef PICOS_INTERNAL_ASYMMETRIC_FENCE_H_
#define PICOS_INTERNAL_ASYMMETRIC_FENCE_H_

#include <atomic>

namespace picos::internal {

// Whether a fast side set up now may use light_fence(): whether heavy_fence() works in this
// process, unless a test turned light fences off. The first call asks the kernel and
// registers the process for expedited barriers (a registration fork(2) keeps and exec(2)
// drops); later calls return the cached answer. False on kernels before 4.14, under a seccomp
// filter that refuses membarrier, or on other systems. Thread-safe. Each user decides once per
// object (a dump shard, a fiber's cancel slot) and keeps the decision, which both of its sides
// then follow.
bool asymmetric_fences() noexcept;

// For tests: `false` makes asymmetric_fences() return false from now on, so that objects set up
// afterwards take the sequentially consistent path of every handshake (as where membarrier is
// refused); `true` (the default) restores the kernel's answer. Objects that chose light fences
// before keep them: heavy_fence() still works for them.
void set_asymmetric_fences_for_testing(bool on) noexcept;

// The fast side's fence: orders nothing in hardware, keeps the compiler from moving memory
// accesses across it.
inline void light_fence() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

// The slow side's fence: returns once every thread of the process has executed a full memory
// fence since the call began (the caller included). Only for an object set up after
// asymmetric_fences() returned true. If the kernel refuses it although it accepted the registration
// (a seccomp filter installed since), it registers again and retries; failing that it prints why
// and aborts, as the fast sides it pairs with would otherwise race.
void heavy_fence() noexcept;

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_ASYMMETRIC_FENCE_H_
