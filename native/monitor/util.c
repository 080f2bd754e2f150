// Small helpers: atomic files, the runtime's error message, clocks, starting a child with a
// given set of descriptors.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"

void die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("berth-monitor: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

void format_message(char *out, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, size, fmt, ap);
  va_end(ap);
}

/** Writes dir/name through dir/.name.tmp and rename(2): a reader sees the old file or the whole new one. */
int write_file_atomic(const char *dir, const char *name, const char *content) {
  char tmp[PATH_MAX], path[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp ||
      snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  size_t len = strlen(content), done = 0;
  while (done < len) {
    ssize_t n = write(fd, content + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      errno = e;
      return -1;
    }
    done += (size_t)n;
  }
  if (close(fd) < 0 || rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}

/** Replaces control characters by spaces, trims both ends and cuts the string to max bytes. */
void one_line(char *s, size_t max) {
  size_t len = strnlen(s, max);
  s[len] = '\0';
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) s[i] = ' ';
  while (len > 0 && s[len - 1] == ' ') s[--len] = '\0';
  size_t lead = strspn(s, " ");
  memmove(s, s + lead, len - lead + 1);
}

/**
 * Copies the value of a quoted msg field (JSON `"msg":"..."` or logfmt `msg="..."`) from line
 * to out, undoing the common escapes. Returns false when the line has no such field.
 */
static bool quoted_msg(const char *line, char *out, size_t size) {
  const char *p = strstr(line, "\"msg\":\"");
  if (p) p += 7;
  else if ((p = strstr(line, "msg=\"")) != NULL) p += 5;
  else return false;
  size_t n = 0;
  for (; *p && *p != '"' && n + 1 < size; p++) {
    char c = *p;
    if (c == '\\' && p[1]) {
      p++;
      c = *p == 'n' || *p == 't' || *p == 'r' ? ' ' : *p;
      if (*p == 'u') { // \uXXXX: keep ASCII, mark the rest
        unsigned v = 0;
        if (sscanf(p + 1, "%4x", &v) == 1) p += 4;
        c = v > 0 && v < 0x80 ? (char)v : '?';
      }
    }
    out[n++] = c;
  }
  out[n] = '\0';
  return true;
}

/**
 * The runtime's error message from its log: the msg of the last error-level line, else the last
 * line. Only the log's tail is read (a failing create writes its error last).
 */
void runtime_log_message(const char *log_path, char *out, size_t size) {
  out[0] = '\0';
  int fd = open(log_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char tail[8192];
  off_t end = lseek(fd, 0, SEEK_END);
  off_t start = end > (off_t)sizeof tail - 1 ? end - (off_t)sizeof tail + 1 : 0;
  ssize_t n = pread(fd, tail, sizeof tail - 1, start);
  close(fd);
  if (n <= 0) return;
  tail[n] = '\0';
  char *last = NULL, *last_error = NULL, *save = NULL;
  for (char *line = strtok_r(tail, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    last = line;
    if (strstr(line, "\"level\":\"error\"") || strstr(line, "level=error") || strstr(line, "\"level\":\"fatal\"") ||
        strstr(line, "level=fatal"))
      last_error = line;
  }
  const char *line = last_error ? last_error : last;
  if (!line) return;
  if (!quoted_msg(line, out, size)) snprintf(out, size, "%s", line);
}

int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int set_nonblock(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/** In the child: fds[i] becomes descriptor i (-1: /dev/null for 0-2); everything else stays close-on-exec. */
static void child_setup_fds(const int *fds, int nfds) {
  int moved[8];
  // first above every target, so that a later dup2 cannot overwrite a source not yet placed
  for (int i = 0; i < nfds; i++) {
    int src = fds[i] >= 0 ? fds[i] : open("/dev/null", O_RDWR | O_CLOEXEC);
    moved[i] = fcntl(src, F_DUPFD_CLOEXEC, 16);
    if (moved[i] < 0) _exit(127);
  }
  for (int i = 0; i < nfds; i++)
    if (dup2(moved[i], i) < 0) _exit(127);
}

/**
 * Forks and executes argv[0] with fds as its first descriptors and env_add added to the
 * environment. The child gets default signal handling back. Returns the pid, or -1 with a
 * message (the exec's own failure included: a close-on-exec pipe carries its errno).
 */
pid_t spawn_process(char *const argv[], const int *fds, int nfds, char *const env_add[], char *err, size_t errsize) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) {
    format_message(err, errsize, "pipe: %s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    format_message(err, errsize, "fork: %s", strerror(errno));
    close(report[0]);
    close(report[1]);
    return -1;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    child_setup_fds(fds, nfds);
    for (int i = 0; env_add && env_add[i]; i++) putenv(env_add[i]);
    execvp(argv[0], argv);
    int e = errno;
    ssize_t unused = write(report[1], &e, sizeof e);
    (void)unused;
    _exit(127);
  }
  close(report[1]);
  int child_errno = 0;
  ssize_t n;
  do n = read(report[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == (ssize_t)sizeof child_errno) {
    format_message(err, errsize, "exec %s: %s", argv[0], strerror(child_errno));
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  return pid;
}
