// Copyright 2026 The Picos for C++ Authors.

#include "io/read_hint.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>

namespace picos::io::internal {

// Constant-initialized, trivially destroyed, its chunks never freed: reads may run during
// static destruction.
constinit ReadHintTable read_hint_table;

bool is_stream(int fd) noexcept {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) return type == SOCK_STREAM;
  if (errno != ENOTSOCK) return false;
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

void set_read_hint(int fd, ReadHint hint) noexcept {
  // A descriptor never marked needs no chunk for "nothing learned".
  ReadHintCell* c = hint.bits() == 0 ? read_hint_table.find(fd) : read_hint_table.get(fd);
  if (c != nullptr) c->store(hint.bits(), std::memory_order_relaxed);
}

void clear_read_hint(int fd) noexcept {
  if (ReadHintCell* c = read_hint_table.find(fd)) c->store(0, std::memory_order_relaxed);
}

}  // namespace picos::io::internal
