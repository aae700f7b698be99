// Copyright 2026 The Picos for C++ Authors.
//
// mux/testing/config.h — how a picos::testing library reads its configuration from the
// environment (the PICOS_TESTING_* variables documented in mux/testing/testing.h).
//
// Every reader fails loudly: a value that does not parse, is out of range, or a
// PICOS_TESTING_* variable the library does not know prints a message naming the variable and
// aborts. An unset variable takes its documented default.

#ifndef PICOS_MUX_TESTING_CONFIG_H_
#define PICOS_MUX_TESTING_CONFIG_H_

#include <cstdint>
#include <initializer_list>
#include <string>

#include "mux/testing/testing.h"

namespace picos::testing::config {

// What a testing library tells of its configuration.
struct Configuration {
  std::string name;  // scheduler_name()
  Capabilities capabilities;
};

// Each testing library defines this: it reads its settings with the functions below (keeping
// its scheduler's options for run_fiber) and returns its configuration. config.cc calls it
// once, at startup (so a bad setting aborts before any test runs), and implements
// scheduler_name() and capabilities() with the result.
Configuration configure();

// Checks the settings `family`'s library does not read (check_known) and returns
// PICOS_TESTING_CONFIG (name), `derived` if unset.
std::string start(const char* family, std::initializer_list<const char*> known,
                  const std::string& derived);

// The configuration of a library without settings (libevent, lifo, thread, nosched): start()
// with none known, named `family` unless PICOS_TESTING_CONFIG says otherwise.
Configuration fixed(const char* family, const Capabilities& capabilities);

// The capabilities those libraries share.
// One thread, a fixed order (the program's), its own event loop as the reactor of //io.
inline constexpr Capabilities kSequentialWithReactor{
    .parallelism = 1, .deterministic = true, .has_reactor = true};
// Every fiber is an OS thread: suites pick their thread-friendly sizes.
inline constexpr Capabilities kFibersAreThreads{.parallelism = 1 << 20, .fibers_are_threads = true};

// The scheduler options a library with settings fills in configure() and passes on in
// run_fiber: one `Options` per process.
template <typename Options>
Options& options() {
  static Options o;
  return o;
}

// Prints "picos::testing: <message>" to stderr and aborts.
[[noreturn]] void fail(const std::string& message);

// Aborts unless every PICOS_TESTING_* variable in the environment is PICOS_TESTING_CONFIG or
// one of `known` (full names). `family` names the library in the message ("fifo").
void check_known(const char* family, std::initializer_list<const char*> known);

// The value of `var`, a decimal integer in [min, max]; `default_value` if unset.
std::int64_t integer(const char* var, std::int64_t default_value, std::int64_t min,
                     std::int64_t max);

// The value of `var`, a decimal unsigned 64-bit integer; `default_value` if unset.
std::uint64_t unsigned64(const char* var, std::uint64_t default_value);

// The value of `var`, "0" or "1"; `default_value` if unset.
bool boolean(const char* var, bool default_value);

// PICOS_TESTING_CONFIG, which must be `family` or start with `family` + "_" (a configuration
// of another scheduler's library is an error); `derived` if unset.
std::string name(const char* family, const std::string& derived);

}  // namespace picos::testing::config

#endif  // PICOS_MUX_TESTING_CONFIG_H_
