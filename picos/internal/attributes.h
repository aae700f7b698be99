// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/attributes.h — compiler attributes that gcc and clang spell differently.
//
// PICOS_NOIPA: the function is never inlined and callers assume nothing about it (no
// interprocedural analysis). For functions that return a thread-local's address or value,
// which a fiber must re-read after every switch, because it may have migrated to another
// thread (docs/hazards.md). gcc has the attribute itself (`noipa`); clang 14 does not
// (-Wunknown-attributes), and gets `noinline` plus `optnone`, which also keeps its
// interprocedural passes (attribute inference) from treating the function as pure.
//
//   PICOS_NOIPA Fiber& Fiber::current() { ... }

#ifndef PICOS_INTERNAL_ATTRIBUTES_H_
#define PICOS_INTERNAL_ATTRIBUTES_H_

#if defined(__clang__)
#define PICOS_NOIPA __attribute__((noinline, optnone))
#else
#define PICOS_NOIPA __attribute__((noipa))
#endif

#endif  // PICOS_INTERNAL_ATTRIBUTES_H_
