// Copyright 2026 The Picos for C++ Authors.
//
// std/structured/structured.h — picos::structured, structured concurrency written only against
// //picos: Control (control.h), Promise (promise.h), Bundle and Flock (bundle.h), Run (run.h).
// See docs/structured.md.

#ifndef PICOS_STD_STRUCTURED_STRUCTURED_H_
#define PICOS_STD_STRUCTURED_STRUCTURED_H_

#include "std/structured/bundle.h"   // IWYU pragma: export
#include "std/structured/control.h"  // IWYU pragma: export
#include "std/structured/promise.h"  // IWYU pragma: export
#include "std/structured/run.h"      // IWYU pragma: export

#endif  // PICOS_STD_STRUCTURED_STRUCTURED_H_
