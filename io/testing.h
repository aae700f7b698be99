// Copyright 2026 The Picos for C++ Authors.
//
// io/testing.h — helpers for tests of code that uses //io (target //io:testing, testonly).

#ifndef PICOS_IO_TESTING_H_
#define PICOS_IO_TESTING_H_

#include <dirent.h>

namespace picos::io::testing {

// The number of descriptors this process has open (entries of /proc/self/fd, not counting the
// one used to list them); -1 if /proc is unavailable. Tests compare it before and after to
// prove that nothing leaked.
inline int count_open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

}  // namespace picos::io::testing

#endif  // PICOS_IO_TESTING_H_
