// Copyright 2026 The Picos for C++ Authors.
//
// io/fd_event.h — descriptor readiness as picos::event events, so that one select can wait
// for a socket, a channel and a timeout together (what picos_io's `select` gives OCaml).
//
//   enum class Got { kData, kJob, kTimeout };
//   switch (event::select({event::map(io::readable_evt(sock), [] { return Got::kData; }),
//                          event::map(event::receive_evt(jobs), [](auto) { return Got::kJob; }),
//                          event::map(event::after(5s), [] { return Got::kTimeout; })})) {
//     case Got::kData: n = io::read(sock, buf, len); ...   // retries itself on EAGAIN
//
// Contract:
//  - readable_evt(fd) is ready when `fd` may be read without blocking (data, end of file, a
//    pending error, a connection to accept); writable_evt(fd) when it may be written;
//    ready_evt(fd, events) for kFdRead, kFdWrite or both (picos/reactor.h). Their value is
//    nothing: perform the operation afterwards with io::read/io::write..., which wait again
//    if the readiness was spurious or another fiber took the data first (the event reports
//    readiness, it consumes nothing, so a losing alternative loses nothing).
//  - Requested (at the sync, on the syncing fiber), the alternative first asks the kernel
//    with poll(fd, 0): a descriptor ready on entry commits at once, registering nothing
//    (so among alternatives ready on entry the first listed wins, as for every event).
//    Otherwise it registers an FdInterest with the reactor io uses on the calling thread
//    (io::current_reactor(), or the one passed in) whose trigger commits the select when
//    the reactor signals it.
//  - Withdrawn (it lost, or the sync was canceled), it removes its interest from the
//    reactor before the sync returns: a select leaves nothing registered, whichever
//    alternative won, and the descriptor stays usable (and may be closed at once).
//  - Close: if `fd` is closed with io::close (or io::forget) while a sync waits on it, that
//    alternative commits and sync throws std::system_error(EBADF, "picos::io::readable_evt")
//    (or writable_evt, ready_evt), as io::await_fd does. A descriptor that is not open when
//    the sync starts throws the same from sync, with nothing registered; one the reactor
//    cannot watch (epoll refuses regular files, but poll() says they are always ready, so
//    they commit at once) throws what the reactor's add threw, as std::system_error.
//  - Cancelation, ordering, exactly-one-commit: as for every event (std/event/event.h).
//  - `fd` is a number: the event does not own it, and must not be synced after its close.
//  - Cost per sync: one poll() system call; if not ready, one allocation for the commit
//    action and a reactor add and remove (the epoll reactors' add may make an epoll_ctl;
//    their remove makes no system call).
//
// Thread safety: events are values; sync them from any fiber. The reactor passed in, if any,
// must accept add and remove from the syncing fiber (a scheduler's reactor: its own fibers).

#ifndef PICOS_IO_FD_EVENT_H_
#define PICOS_IO_FD_EVENT_H_

#include "picos/reactor.h"
#include "std/event/event.h"

namespace picos::io {

// Ready when `fd` may be ready for `events` (kFdRead, kFdWrite or both). `reactor`: the one to
// wait in; nullptr: io::current_reactor() of the syncing thread, at each sync.
event::Event<void> ready_evt(int fd, unsigned events, Reactor* reactor = nullptr);

// ready_evt(fd, kFdRead).
event::Event<void> readable_evt(int fd, Reactor* reactor = nullptr);
// ready_evt(fd, kFdWrite).
event::Event<void> writable_evt(int fd, Reactor* reactor = nullptr);

}  // namespace picos::io

#endif  // PICOS_IO_FD_EVENT_H_
