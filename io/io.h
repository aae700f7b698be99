// Copyright 2026 The Picos for C++ Authors.
//
// io/io.h — picos::io: POSIX IO that suspends the calling fiber instead of its thread.
//
// Every function has the shape of the POSIX call it wraps and is meant for descriptors in
// non-blocking mode (the constructors here — pipe, socketpair, socket, accept — make them so,
// with close-on-exec). Each one tries the call; on EAGAIN/EWOULDBLOCK it waits for readiness
// through a reactor (picos/reactor.h) by awaiting a trigger, and retries; EINTR is retried.
// The reactor is the running scheduler's (`Handler::reactor()`, e.g. mux/libevent's event
// loop) when it offers one, else the process-wide background epoll thread
// (`default_reactor()`), so the same code works on every scheduler and on plain threads
// (each thread is an implicit fiber). On a descriptor left in blocking mode the calls still
// work but block the thread.
//
// Errors: a failing call throws std::system_error whose code() is the errno (generic
// category) and whose what() starts with "picos::io::<operation>". End of file is not an
// error (read/recv return 0).
//
// Cancelation: every wait is a cancelation point. If the calling fiber's computation is
// canceled while it waits (or before it starts to wait), the interest is removed from the
// reactor and the reason is thrown; the descriptor is untouched and stays usable. A call
// that does not need to wait does not check cancelation. Timeouts compose through
// cancelation, e.g. a fiber whose computation has `cancel_after(0.5, reason)` armed.
//
// Completion-based reads: where the reactor makes the call itself (Reactor::start_operation:
// the io_uring reactor of fifo and multififo, on sockets and pipes), read, recv and read_full
// that would block (EAGAIN) hand the kernel the call and the buffer instead of waiting for
// readiness and trying again. A cancelation aborts the operation (IORING_OP_ASYNC_CANCEL) and
// waits, uncancelably, until the kernel has let go of the buffer; bytes it read before the
// abort took effect are returned, not lost (the cancelation then shows at the next
// cancelation point), and until the canceled fiber runs, data that arrives may still go to
// it. Other calls, descriptors and reactors keep the readiness path above.
//
// Reads that learn: read, recv and read_full keep a hint per descriptor (io/read_hint.h). When
// a descriptor's reads have kept having to wait for their data (a connection in a
// request-response exchange: each read after an answer finds nothing), the next read waits
// for data first (unless it reads 0 bytes), or hands the call to the reactor (above), instead
// of making a call that fails with EAGAIN; every 8th read still tries first, and one that
// finds data there ends the habit. A wrong guess costs a wait that ends at once, never data.
// The one visible difference: such a read is a cancelation point even if data turns out to
// be there (a fiber canceled before the read still gets the data without waiting).
//
// Closing: `io::close(fd)` first wakes every fiber waiting on `fd` with
// std::system_error(EBADF), in whichever reactor it waits — any scheduler's, the default
// one — and from whichever thread or fiber the close is made; then it closes `fd`. So a
// waiter never hangs and never touches a reused descriptor number. Close descriptors that io
// may be waiting on with io::close (or call `forget` before ::close). The reactors that
// waited on `fd` are found in a process-wide per-descriptor record
// (picos/internal/reactor_registry.h): a close costs an atomic exchange, plus one call per
// reactor that waited on `fd` since its last close; a wait costs one more load. A wait that
// begins while another thread closes the same descriptor is the caller's race, as in POSIX.
//
// SIGPIPE: send/sendto pass MSG_NOSIGNAL; in addition the first io call sets SIGPIPE to
// SIG_IGN if its disposition is still the default, so write/writev to a closed pipe or
// socket raise EPIPE instead of killing the process. A handler the application installed
// itself is left alone.
//
// Thread safety: every function may be called from any fiber or thread. Concurrent waits on
// one fd are allowed (e.g. one reader and one writer, or several acceptors).

#ifndef PICOS_IO_IO_H_
#define PICOS_IO_IO_H_

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>

#include "picos/reactor.h"

namespace picos::io {

// ---- descriptors -------------------------------------------------------------------------

// pipe2(fds, O_NONBLOCK | O_CLOEXEC): fds[0] reads, fds[1] writes.
void pipe(int fds[2]);
// socketpair with SOCK_NONBLOCK | SOCK_CLOEXEC added to `type`.
void socketpair(int domain, int type, int protocol, int sv[2]);
// socket with SOCK_NONBLOCK | SOCK_CLOEXEC added to `type`.
int socket(int domain, int type, int protocol);
// Wakes the waiters on `fd` with EBADF, in every reactor (see above), then closes it. EINTR
// is not retried (on Linux the descriptor is closed anyway) and is not reported.
void close(int fd);
// Wakes the waiters on `fd` with EBADF without closing it (for code that closes by itself).
void forget(int fd) noexcept;
// Sets or clears O_NONBLOCK on a descriptor made elsewhere.
void set_nonblocking(int fd, bool on = true);

// ---- data --------------------------------------------------------------------------------

// Each returns what the POSIX call returns (a partial transfer is possible; 0 is end of
// file for reads), waiting as long as the call would block.
ssize_t read(int fd, void* buf, std::size_t count);
ssize_t write(int fd, const void* buf, std::size_t count);
ssize_t readv(int fd, const struct iovec* iov, int iovcnt);
ssize_t writev(int fd, const struct iovec* iov, int iovcnt);
ssize_t pread(int fd, void* buf, std::size_t count, off_t offset);
ssize_t pwrite(int fd, const void* buf, std::size_t count, off_t offset);
// MSG_NOSIGNAL is always added to `flags`.
ssize_t send(int fd, const void* buf, std::size_t len, int flags = 0);
ssize_t recv(int fd, void* buf, std::size_t len, int flags = 0);
ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* dest,
               socklen_t dest_len);
ssize_t recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* src, socklen_t* src_len);

// Loops until all `count` bytes are written (write), or until `count` bytes are read or end
// of file (returns the bytes read: less than count only at end of file).
void write_all(int fd, const void* buf, std::size_t count);
std::size_t read_full(int fd, void* buf, std::size_t count);

// ---- sockets -----------------------------------------------------------------------------

// accept4(..., SOCK_NONBLOCK | SOCK_CLOEXEC): the new descriptor is non-blocking. `addr` and
// `addrlen` may be null. Errors such as EMFILE are thrown (the listener stays usable).
int accept(int fd, sockaddr* addr = nullptr, socklen_t* addrlen = nullptr);
// Connects a non-blocking socket: on EINPROGRESS waits for writability, then reports
// SO_ERROR (e.g. ECONNREFUSED) as std::system_error. If canceled while in progress, the
// connection attempt is left in progress (close the socket to abort it).
void connect(int fd, const sockaddr* addr, socklen_t addrlen);
void shutdown(int fd, int how);

// ---- waiting -----------------------------------------------------------------------------

// Suspends until `fd` may be ready for `events` (kFdRead, kFdWrite or both). May return
// spuriously. Throws the cancelation reason, or std::system_error (EBADF) if the fd is
// closed with io::close meanwhile or cannot be watched; `op` names the operation in errors.
void await_fd(int fd, unsigned events, const char* op = "await_fd");
inline void await_readable(int fd) { await_fd(fd, kFdRead, "await_readable"); }
inline void await_writable(int fd) { await_fd(fd, kFdWrite, "await_writable"); }

// Fiber::sleep (a cancelation point).
void sleep(std::chrono::nanoseconds delay);
void sleep(double seconds);

// Waits until the child process `pid` exits and reaps it; returns its wait status (use
// WIFEXITED/WEXITSTATUS...). Uses pidfd_open and waits for the pidfd to become readable; on
// kernels without pidfd_open (ENOSYS) it polls waitpid(WNOHANG) with sleeps growing from
// 1 ms to 50 ms. A cancelation point (the child is then not reaped). Errors (ECHILD, ...) as
// std::system_error.
int wait_child(pid_t pid);

// ---- reactors ----------------------------------------------------------------------------

// The process-wide background epoll reactor: one thread, started by the first call and never
// stopped (it holds one epoll descriptor). Any thread.
Reactor& default_reactor();
// The reactor io uses on the calling thread: the installed scheduler's, else the default.
Reactor& current_reactor();

}  // namespace picos::io

#endif  // PICOS_IO_IO_H_
