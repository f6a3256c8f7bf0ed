/* LD_PRELOAD library for the signal tests: holds the first call of one kind
 * that touches a file inside one folder, so a test can send a signal while a
 * step of the local share probe is under way. strace can hold fsync, rename
 * and unlink (only the probe makes them), but not open, write, read or stat,
 * which the whole process makes all the time; this library tells them apart
 * by the file's path.
 *
 * HOLD_DIR   the folder (absolute, no trailing slash); only files inside it count
 * HOLD_CALL  create | write | read | stat
 * HOLD_WHEN  before (the call happens after the hold) | after (it happened)
 * HOLD_MARK  a file created when the hold begins, for the test to wait on
 * HOLD_MS    how long to hold
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int held;

static int wanted(const char *call) {
    const char *want = getenv("HOLD_CALL");
    return want && strcmp(want, call) == 0 && !__atomic_load_n(&held, __ATOMIC_SEQ_CST);
}

static int inside(const char *path) {
    const char *dir = getenv("HOLD_DIR");
    size_t len = dir ? strlen(dir) : 0;
    return path && len && strncmp(path, dir, len) == 0 && path[len] == '/' && path[len + 1];
}

static int fd_inside(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return inside(path);
}

static int when_after(void) {
    const char *when = getenv("HOLD_WHEN");
    return when && strcmp(when, "after") == 0;
}

/* Marks the hold (raw syscalls: the marker is outside HOLD_DIR, but no
 * wrapper of ours should run for it anyway) and sleeps. */
static void hold(void) {
    if (__atomic_exchange_n(&held, 1, __ATOMIC_SEQ_CST)) return;
    const char *mark = getenv("HOLD_MARK");
    if (mark) {
        long fd = syscall(SYS_openat, AT_FDCWD, mark, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) syscall(SYS_close, fd);
    }
    const char *ms = getenv("HOLD_MS");
    long millis = ms ? atol(ms) : 1500;
    struct timespec pause = {millis / 1000, (millis % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0) {
    }
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static int open_common(int dirfd, const char *path, int flags, mode_t mode) {
    int hit = (flags & O_CREAT) && inside(path) && wanted("create");
    if (hit && !when_after()) hold();
    int fd = (int)syscall(SYS_openat, dirfd, path, flags, mode);
    if (hit && when_after()) hold();
    return fd;
}

static mode_t mode_of(int flags, va_list args) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(args, int) : 0;
}

int open64(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    return open_common(AT_FDCWD, path, flags, mode);
}

int open(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    return open_common(AT_FDCWD, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    return open_common(dirfd, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    return open_common(dirfd, path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t count) {
    int hit = wanted("write") && fd_inside(fd);
    if (hit && !when_after()) hold();
    ssize_t n = NEXT(write)(fd, buf, count);
    if (hit && when_after()) hold();
    return n;
}

ssize_t read(int fd, void *buf, size_t count) {
    int hit = wanted("read") && fd_inside(fd);
    if (hit && !when_after()) hold();
    ssize_t n = NEXT(read)(fd, buf, count);
    if (hit && when_after()) hold();
    return n;
}

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *out) {
    int hit = wanted("stat") && inside(path);
    if (hit && !when_after()) hold();
    int rc = (int)syscall(SYS_statx, dirfd, path, flags, mask, out);
    if (hit && when_after()) hold();
    return rc;
}
