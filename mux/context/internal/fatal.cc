// Copyright 2026 The Picos for C++ Authors.

#include "mux/context/internal/fatal.h"

#include <unistd.h>

#include <cstdlib>

namespace picos::mux::context::internal {

FatalMessage& FatalMessage::text(const char* s) noexcept {
  while (*s != '\0' && len_ < sizeof(buf_) - 1) buf_[len_++] = *s++;
  return *this;
}

FatalMessage& FatalMessage::decimal(std::uint64_t v) noexcept {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && len_ < sizeof(buf_) - 1) buf_[len_++] = digits[--n];
  return *this;
}

FatalMessage& FatalMessage::hex(std::uint64_t v) noexcept {
  static constexpr char kDigits[] = "0123456789abcdef";
  char digits[16];
  int n = 0;
  do {
    digits[n++] = kDigits[v & 0xF];
    v >>= 4;
  } while (v != 0);
  text("0x");
  while (n > 0 && len_ < sizeof(buf_) - 1) buf_[len_++] = digits[--n];
  return *this;
}

void FatalMessage::write_to_stderr() const noexcept {
  char out[sizeof(buf_) + 1];
  for (std::size_t i = 0; i < len_; ++i) out[i] = buf_[i];
  out[len_] = '\n';
  std::size_t done = 0;
  while (done < len_ + 1) {
    ssize_t n = ::write(2, out + done, len_ + 1 - done);
    if (n <= 0) break;  // nothing sensible left to do on a failing stderr
    done += static_cast<std::size_t>(n);
  }
}

void FatalMessage::abort() const noexcept {
  write_to_stderr();
  std::abort();
}

void fatal(const char* what) noexcept { FatalMessage().text("picos: ").text(what).abort(); }

}  // namespace picos::mux::context::internal
