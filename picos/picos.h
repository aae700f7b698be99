// Copyright 2026 The Picos for C++ Authors.
//
// picos/picos.h — the whole core interface in one include.

#ifndef PICOS_PICOS_H_
#define PICOS_PICOS_H_

#include "picos/computation.h"  // IWYU pragma: export
#include "picos/fiber.h"        // IWYU pragma: export
#include "picos/handler.h"      // IWYU pragma: export
#include "picos/trigger.h"      // IWYU pragma: export
#include "picos/tx.h"           // IWYU pragma: export

#endif  // PICOS_PICOS_H_
