// Copyright 2026 The Picos for C++ Authors.

#include "io/read_hint.h"

#include <atomic>
#include <new>

namespace picos::io::internal {
namespace {

constexpr int kChunkBits = 12;  // 4,096 descriptors per chunk
constexpr int kChunkSize = 1 << kChunkBits;
constexpr int kMaxFd = 1 << 24;
constexpr int kChunks = kMaxFd / kChunkSize;

using Cell = std::atomic<std::uint8_t>;

// Never destroyed: reads may run during static destruction.
std::atomic<Cell*> chunks[kChunks];

Cell* cell(int fd, bool create) noexcept {
  if (fd < 0 || fd >= kMaxFd) return nullptr;
  std::atomic<Cell*>& slot = chunks[fd >> kChunkBits];
  Cell* c = slot.load(std::memory_order_acquire);
  if (c == nullptr) {
    if (!create) return nullptr;
    Cell* fresh = new (std::nothrow) Cell[kChunkSize];
    if (fresh == nullptr) return nullptr;
    for (int i = 0; i < kChunkSize; ++i) fresh[i].store(0, std::memory_order_relaxed);
    if (slot.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
      c = fresh;
    } else {
      delete[] fresh;  // another thread installed one first: `c` is it
    }
  }
  return &c[fd & (kChunkSize - 1)];
}

}  // namespace

ReadHint read_hint(int fd) noexcept {
  Cell* c = cell(fd, false);
  return c == nullptr ? ReadHint() : ReadHint(c->load(std::memory_order_relaxed));
}

void set_read_hint(int fd, ReadHint hint) noexcept {
  // A descriptor never marked needs no chunk for "nothing learned".
  if (Cell* c = cell(fd, hint.bits() != 0)) c->store(hint.bits(), std::memory_order_relaxed);
}

void clear_read_hint(int fd) noexcept {
  if (Cell* c = cell(fd, false)) c->store(0, std::memory_order_relaxed);
}

}  // namespace picos::io::internal
