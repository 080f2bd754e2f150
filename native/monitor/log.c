// The container log: the process's output in the CRI log format (Kubernetes' kubelet reads it,
// and so does `berth logs`), one record per line:
//
//   2026-12-07T04:11:23.123456789Z stdout F a complete line
//   2026-12-07T04:11:23.123456789Z stderr P the start of a line that goes on in the next record
//
// Written as the output is read, beside (not instead of) the copy to a client's FIFO. When the
// file grows past max_size it is rotated: PATH.1 … PATH.(max_files-1) keep the older records.
// `reopen-log` (CRI's ReopenContainerLog) opens PATH again after someone else moved it away. With
// max_line, no record holds more than that many bytes of a line (the rest follows in P records).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"

int log_open(struct container_log *l, char *err, size_t errsize) {
  l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (l->fd < 0) {
    format_message(err, errsize, "open %s: %s", l->path, strerror(errno));
    return -1;
  }
  struct stat st;
  l->size = fstat(l->fd, &st) == 0 ? st.st_size : 0;
  return 0;
}

int log_reopen(struct container_log *l, char *err, size_t errsize) {
  int old = l->fd;
  if (log_open(l, err, errsize) < 0) {
    l->fd = old; // keep writing where it went
    return -1;
  }
  if (old >= 0) close(old);
  return 0;
}

/** Moves PATH to PATH.1 (and each PATH.i to PATH.i+1, the last one dropped) and starts PATH anew. */
static void rotate(struct container_log *l) {
  char from[PATH_MAX], to[PATH_MAX];
  if (l->max_files <= 1) {
    if (ftruncate(l->fd, 0) == 0) l->size = 0;
    return;
  }
  for (int i = l->max_files - 1; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof from, "%s", l->path);
    else snprintf(from, sizeof from, "%s.%d", l->path, i - 1);
    snprintf(to, sizeof to, "%s.%d", l->path, i);
    rename(from, to);
  }
  char ignored[MESSAGE_MAX];
  log_reopen(l, ignored, sizeof ignored);
}

/** `2026-12-07T04:11:23.123456789Z ` for now (UTC, nanoseconds), into out (at least 32 bytes). */
static size_t timestamp(char *out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
  return n + (size_t)snprintf(out + n, 16, ".%09ldZ ", ts.tv_nsec);
}

void log_write(struct container_log *l, const char *stream, const char *buf, size_t len) {
  if (!l || l->fd < 0) return;
  char head[64];
  size_t head_len = timestamp(head);
  size_t stream_len = strlen(stream);
  memcpy(head + head_len, stream, stream_len);
  head_len += stream_len;
  while (len > 0) {
    const char *nl = memchr(buf, '\n', len);
    size_t line = nl ? (size_t)(nl - buf) : len;
    // max_line (CRI's max_container_log_line_size): a longer line goes out in partial records of that size
    if (l->max_line > 0 && line > (size_t)l->max_line) {
      line = (size_t)l->max_line;
      nl = NULL;
    }
    struct iovec v[3] = {
        {.iov_base = head, .iov_len = head_len},
        {.iov_base = (void *)(nl ? " F " : " P "), .iov_len = 3},
        {.iov_base = (void *)buf, .iov_len = line},
    };
    struct iovec end = {.iov_base = "\n", .iov_len = 1};
    size_t record = head_len + 3 + line + 1;
    if (l->max_size > 0 && l->size > 0 && l->size + (int64_t)record > l->max_size) rotate(l);
    struct iovec all[4] = {v[0], v[1], v[2], end};
    // a failed write (disk full) loses the record, never the process's output to its client
    ssize_t n = writev(l->fd, all, 4);
    if (n > 0) l->size += n;
    size_t used = nl ? line + 1 : line;
    buf += used;
    len -= used;
  }
}

void log_close(struct container_log *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
}
