// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/fd_table.h — one atomic value per descriptor number, process-wide, for the
// per-descriptor records of the reactor registry (picos/internal/reactor_registry.h) and of
// io's read hint (io/read_hint.h).
//
// `FdTable<T>` holds the cells of descriptors 0 .. kMaxFd-1 (2^24) in chunks of 4,096,
// allocated (zeroed) when a descriptor in the chunk first needs a cell and never freed:
// 32 KiB of chunk pointers up front, then 4,096 x sizeof(T) per chunk used. `find` is a
// bounds check and one acquire load, no lock; `get` adds the allocation, raced with a
// compare-and-swap (the loser frees its chunk). Any thread. Declare tables with static
// storage duration: a zero-initialized table is ready, and never destroying it keeps it valid
// for callers during static destruction.

#ifndef PICOS_INTERNAL_FD_TABLE_H_
#define PICOS_INTERNAL_FD_TABLE_H_

#include <atomic>
#include <new>

namespace picos::internal {

template <typename T>
class FdTable {
 public:
  using Cell = std::atomic<T>;
  static constexpr int kChunkBits = 12;  // 4,096 descriptors per chunk
  static constexpr int kChunkSize = 1 << kChunkBits;
  static constexpr int kMaxFd = 1 << 24;  // descriptors at or above it have no cell

  static constexpr bool in_range(int fd) noexcept {
    return static_cast<unsigned>(fd) < static_cast<unsigned>(kMaxFd);
  }

  // The cell of `fd`, or null where its chunk was never allocated or `fd` is out of range.
  Cell* find(int fd) const noexcept {
    if (!in_range(fd)) return nullptr;
    Cell* chunk = chunks_[fd >> kChunkBits].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : &chunk[fd & (kChunkSize - 1)];
  }

  // The cell of `fd`, allocating its chunk if needed; null if `fd` is out of range or the
  // chunk cannot be allocated.
  Cell* get(int fd) noexcept {
    if (Cell* c = find(fd)) return c;
    if (!in_range(fd)) return nullptr;
    auto* fresh = new (std::nothrow) Cell[kChunkSize];
    if (fresh == nullptr) return nullptr;
    for (int i = 0; i < kChunkSize; ++i) fresh[i].store(T{}, std::memory_order_relaxed);
    Cell* expected = nullptr;
    if (!chunks_[fd >> kChunkBits].compare_exchange_strong(expected, fresh,
                                                           std::memory_order_acq_rel)) {
      delete[] fresh;  // another thread installed one first
    }
    return find(fd);
  }

 private:
  std::atomic<Cell*> chunks_[kMaxFd >> kChunkBits] = {};
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_FD_TABLE_H_
