// Copyright 2026 The Picos for C++ Authors.

#include "tools/common/flags.h"

#include <cstdlib>
#include <iostream>

#include "absl/flags/internal/parse.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/usage.h"

namespace picos::tools {

std::vector<char*> parse_command_line(int argc, char* argv[]) {
  namespace fi = absl::flags_internal;
  // What absl::ParseCommandLine does, with the usage flags handled here instead.
  std::vector<char*> rest = fi::ParseCommandLineImpl(
      argc, argv, fi::ArgvListAction::kRemoveParsedArgs, fi::UsageFlagsAction::kIgnoreUsage,
      fi::OnUndefinedFlag::kAbortIfUndefined);
  // -1: no usage flag; else Abseil's exit status, 1 after any help text (20220623), which a
  // help request that was answered should not be.
  const int status = fi::HandleUsageFlags(std::cout, absl::ProgramUsageMessage());
  if (status != -1) {
    std::cout.flush();
    std::exit(0);  // NOLINT(concurrency-mt-unsafe): while parsing flags, before any thread
  }
  return rest;
}

}  // namespace picos::tools
