// Copyright 2026 The Picos for C++ Authors.
//
// tools/common/flags.h — Abseil's command-line parsing for the tools' binaries (the demo, the
// HTTP server, the benchmark runners), with one difference: a usage flag (--help, --helpfull,
// --helpshort, --helppackage, --helpmatch=S) prints its text on stdout and exits with status 0.
// Debian's Abseil (20220623) exits with 1 after printing help, so `tool --help && ...` failed
// and scripts could not tell a help request from a bad flag. --version and --only_check_args
// keep Abseil's status (0). Undefined flags and bad values still print Abseil's error and
// exit 1, as absl::ParseCommandLine does.

#ifndef PICOS_TOOLS_COMMON_FLAGS_H_
#define PICOS_TOOLS_COMMON_FLAGS_H_

#include <vector>

namespace picos::tools {

// absl::ParseCommandLine(argc, argv), but a usage flag exits with 0 (see above). Returns the
// positional arguments, argv[0] first.
std::vector<char*> parse_command_line(int argc, char* argv[]);

}  // namespace picos::tools

#endif  // PICOS_TOOLS_COMMON_FLAGS_H_
