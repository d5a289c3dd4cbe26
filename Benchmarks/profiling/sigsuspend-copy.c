// Preloaded into a server that `campus-bench --profile callgrind` runs under valgrind (docs/PERFORMANCE.md,
// "Where the time goes").
//
// A Swift program with an async `main` ends its main thread in libdispatch's `dispatch_main`, which waits in
// `sigsuspend` with a signal mask kept in read-only memory. Valgrind 3.19 (Debian 12's) edits the mask it is given
// before passing it on, and crashes on the read-only page. This `sigsuspend` hands the kernel a copy instead; it
// changes nothing else.
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    // The kernel's signal set is 8 bytes on Linux (64 signals), not glibc's 128-byte sigset_t.
    return (int)syscall(SYS_rt_sigsuspend, &copy, 8);
}
