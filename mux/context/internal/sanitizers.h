// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/internal/sanitizers.h — which sanitizer fiber annotations this build needs.
//
// Defines PICOS_CONTEXT_ASAN under -fsanitize=address and PICOS_CONTEXT_TSAN under
// -fsanitize=thread (gcc defines __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__; clang is asked
// through __has_feature), includes the matching runtime interface headers, and defines
// PICOS_CONTEXT_NO_TSAN, the attribute that keeps TSan from instrumenting a function at all
// (no memory access checks and no __tsan_func_entry/exit). Private to mux/context.

#ifndef PICOS_MUX_CONTEXT_INTERNAL_SANITIZERS_H_
#define PICOS_MUX_CONTEXT_INTERNAL_SANITIZERS_H_

#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define PICOS_CONTEXT_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define PICOS_CONTEXT_TSAN 1
#include <sanitizer/tsan_interface.h>
#endif

#define PICOS_CONTEXT_NO_TSAN __attribute__((no_sanitize("thread")))

#endif  // PICOS_MUX_CONTEXT_INTERNAL_SANITIZERS_H_
