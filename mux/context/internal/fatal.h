// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/internal/fatal.h — fatal-error messages that are safe in a signal handler.
//
// `FatalMessage` formats into a fixed buffer (no allocation, no stdio) and writes with
// write(2), so the stack-overflow handler and the "cannot map a stack" path can use it.
// Private to mux/context.

#ifndef PICOS_MUX_CONTEXT_INTERNAL_FATAL_H_
#define PICOS_MUX_CONTEXT_INTERNAL_FATAL_H_

#include <cstddef>
#include <cstdint>

namespace picos::mux::context::internal {

// A message under construction. Any thread, any context, signal handlers included; each
// append costs a few nanoseconds. Text beyond the buffer is dropped.
class FatalMessage {
 public:
  FatalMessage& text(const char* s) noexcept;
  FatalMessage& decimal(std::uint64_t v) noexcept;
  FatalMessage& hex(std::uint64_t v) noexcept;  // as 0x...

  // Writes the message and a newline to stderr (fd 2).
  void write_to_stderr() const noexcept;

  // Writes the message, then calls abort().
  [[noreturn]] void abort() const noexcept;

 private:
  char buf_[480];
  std::size_t len_ = 0;
};

// Shorthand: writes "picos: <what>" and aborts.
[[noreturn]] void fatal(const char* what) noexcept;

}  // namespace picos::mux::context::internal

#endif  // PICOS_MUX_CONTEXT_INTERNAL_FATAL_H_
