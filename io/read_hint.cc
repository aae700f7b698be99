// Copyright 2026 The Picos for C++ Authors.

#include "io/read_hint.h"

#include <atomic>
#include <new>

namespace picos::io::internal {

// Never destroyed: reads may run during static destruction.
std::atomic<ReadHintCell*> read_hint_chunks[kReadHintMaxFd >> kReadHintChunkBits];

void set_read_hint(int fd, ReadHint hint) noexcept {
  ReadHintCell* c = read_hint_cell(fd);
  if (c == nullptr) {
    // A descriptor never marked needs no chunk for "nothing learned".
    if (hint.bits() == 0 || static_cast<unsigned>(fd) >= static_cast<unsigned>(kReadHintMaxFd)) {
      return;
    }
    constexpr int kChunkSize = 1 << kReadHintChunkBits;
    auto* fresh = new (std::nothrow) ReadHintCell[kChunkSize];
    if (fresh == nullptr) return;
    for (int i = 0; i < kChunkSize; ++i) fresh[i].store(0, std::memory_order_relaxed);
    std::atomic<ReadHintCell*>& slot = read_hint_chunks[fd >> kReadHintChunkBits];
    ReadHintCell* expected = nullptr;
    if (!slot.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
      delete[] fresh;  // another thread installed one first
    }
    c = read_hint_cell(fd);
  }
  c->store(hint.bits(), std::memory_order_relaxed);
}

void clear_read_hint(int fd) noexcept {
  if (ReadHintCell* c = read_hint_cell(fd)) c->store(0, std::memory_order_relaxed);
}

}  // namespace picos::io::internal
