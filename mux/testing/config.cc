// Copyright 2026 The Picos for C++ Authors.

#include "mux/testing/config.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

extern char** environ;

namespace picos::testing::config {

namespace {

constexpr char kPrefix[] = "PICOS_TESTING_";
constexpr char kConfigVar[] = "PICOS_TESTING_CONFIG";

// The value of `var`, or null if it is unset. An empty value is an error, not "unset".
const char* value_of(const char* var) {
  const char* value = std::getenv(var);
  if (value != nullptr && *value == '\0') fail(std::string(var) + " is set but empty");
  return value;
}

}  // namespace

void fail(const std::string& message) {
  std::fprintf(stderr, "picos::testing: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void check_known(const char* family, std::initializer_list<const char*> known) {
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, kPrefix, sizeof(kPrefix) - 1) != 0) continue;
    std::string var(*e, std::strcspn(*e, "="));
    if (var == kConfigVar) continue;
    bool ok = false;
    std::string names = kConfigVar;
    for (const char* k : known) {
      ok = ok || var == k;
      names += ", ";
      names += k;
    }
    if (!ok) {
      std::string message = var;
      message += " is not a setting of the ";
      message += family;
      message += " configurations (they read: ";
      message += names;
      message += ")";
      fail(message);
    }
  }
}

std::int64_t integer(const char* var, std::int64_t default_value, std::int64_t min,
                     std::int64_t max) {
  const char* value = value_of(var);
  if (value == nullptr) return default_value;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || n < min || n > max) {
    fail(std::string(var) + "=\"" + value + "\": expected an integer in [" + std::to_string(min) +
         ", " + std::to_string(max) + "]");
  }
  return n;
}

std::uint64_t unsigned64(const char* var, std::uint64_t default_value) {
  const char* value = value_of(var);
  if (value == nullptr) return default_value;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || value[0] == '+') {
    fail(std::string(var) + "=\"" + value + "\": expected an unsigned decimal integer");
  }
  return n;
}

bool boolean(const char* var, bool default_value) {
  const char* value = value_of(var);
  if (value == nullptr) return default_value;
  if (std::strcmp(value, "1") == 0) return true;
  if (std::strcmp(value, "0") == 0) return false;
  fail(std::string(var) + "=\"" + value + "\": expected 0 or 1");
}

std::string name(const char* family, const std::string& derived) {
  const char* value = value_of(kConfigVar);
  if (value == nullptr) return derived;
  std::string n = value;
  std::string f = family;
  if (n != f && n.rfind(f + "_", 0) != 0) {
    fail(std::string(kConfigVar) + "=\"" + n + "\" names no configuration of the " + f +
         " library (expected \"" + f + "\" or \"" + f + "_...\")");
  }
  return n;
}

std::string start(const char* family, std::initializer_list<const char*> known,
                  const std::string& derived) {
  check_known(family, known);
  return name(family, derived);
}

Configuration fixed(const char* family, const Capabilities& capabilities) {
  return {start(family, {}, family), capabilities};
}

namespace {

const Configuration& configuration() {
  static const Configuration c = configure();
  return c;
}

[[maybe_unused]] const bool kConfigured = (configuration(), true);

}  // namespace
}  // namespace picos::testing::config

namespace picos::testing {

const char* scheduler_name() { return config::configuration().name.c_str(); }

const Capabilities& capabilities() { return config::configuration().capabilities; }

}  // namespace picos::testing
