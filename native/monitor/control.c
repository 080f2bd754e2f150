// The control socket: many clients at once, each sending request lines and getting one answer
// line per request (docs/monitor.md lists them).
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "monitor.h"

struct client {
  int fd;
  bool waiting;     // sent `wait`, not answered yet
  bool read_closed; // it shut down its sending side
  size_t len;
  char buf[REQUEST_MAX + 1];
  struct client *next;
};

int control_listen(const char *path, char *err, size_t errsize) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    format_message(err, errsize, "socket: %s", strerror(errno));
    return -1;
  }
  unlink(path); // a stale one from a monitor that was killed
  mode_t old = umask(0177); // the socket is created 0600: only root may drive the monitor
  int r = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  umask(old);
  if (r < 0 || listen(fd, 64) < 0) {
    format_message(err, errsize, "control socket %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

void control_accept(struct monitor *m) {
  for (;;) {
    int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    struct client *c = control_poll_count(m) < MAX_CLIENTS ? calloc(1, sizeof *c) : NULL;
    if (!c) {
      close(fd);
      return;
    }
    c->fd = fd;
    c->next = m->clients;
    m->clients = c;
  }
}

static void drop(struct monitor *m, struct client *c) {
  for (struct client **p = &m->clients; *p; p = &(*p)->next) {
    if (*p == c) {
      *p = c->next;
      break;
    }
  }
  close(c->fd);
  free(c);
}

/** Sends one answer line; a client that cannot take a few bytes is dropped. */
static bool answer(struct monitor *m, struct client *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool answer(struct monitor *m, struct client *c, const char *fmt, ...) {
  char line[REQUEST_MAX + 2];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
    drop(m, c);
    return false;
  }
  return true;
}

static bool answer_exited(struct monitor *m, struct client *c) {
  return answer(m, c, "exited %d %d %lld", m->pid, m->status, (long long)m->exited_at);
}

/** Parses a decimal number in [min, max] that is the whole of s. */
static bool number(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) return false;
  *out = v;
  return true;
}

static void do_resize(struct monitor *m, struct client *c, char *args) {
  char *h = args ? strchr(args, ' ') : NULL;
  long width, height;
  if (h) *h++ = '\0';
  if (!h || !number(args, 0, 65535, &width) || !number(h, 0, 65535, &height)) {
    answer(m, c, "error usage: resize <width> <height>");
    return;
  }
  if (m->io.master < 0) {
    answer(m, c, "error no terminal");
    return;
  }
  struct winsize ws = {.ws_col = (unsigned short)width, .ws_row = (unsigned short)height};
  if (ioctl(m->io.master, TIOCSWINSZ, &ws) < 0) answer(m, c, "error %s", strerror(errno));
  else answer(m, c, "ok");
}

static void do_kill(struct monitor *m, struct client *c, const char *args) {
  long sig;
  if (!args || !number(args, 1, 64, &sig)) {
    answer(m, c, "error usage: kill <signal number>");
    return;
  }
  // Once reaped, the pid may belong to someone else: refuse. Until then it is our child (or
  // our re-parented orphan), so its pid cannot have been reused.
  if (m->reaped) {
    answer(m, c, "error process exited");
    return;
  }
  if (kill(m->pid, (int)sig) < 0) answer(m, c, "error %s", strerror(errno));
  else answer(m, c, "ok");
}

/** start: the runtime starts the container this monitor created (berthd need not spawn it). */
static void do_start(struct monitor *m, struct client *c) {
  if (!m->opt->bundle) {
    answer(m, c, "error an exec process starts when it is created");
    return;
  }
  // started by --start already: the first `start` is told how that went
  if (m->started != 0) {
    if (m->started > 0) answer(m, c, "ok");
    else answer(m, c, "error %s", m->start_error);
    m->started = 0;
    return;
  }
  if (m->reaped) {
    answer(m, c, "error process exited");
    return;
  }
  char err[MESSAGE_MAX] = "";
  if (runtime_start(m, err, sizeof err) < 0) {
    one_line(err, sizeof err);
    answer(m, c, "error %s", err);
  } else {
    answer(m, c, "ok");
  }
}

/** Unmounts everything mounted on path; what stays busy is left to berthd. */
static void unmount_all(const char *path) {
  for (int i = 0; i < 32 && umount2(path, 0) == 0; i++) {
  }
}

/**
 * release: the exit is collected, the monitor goes. `release delete` (create mode) first runs the
 * runtime's delete and unmounts the rootfs: the container is gone when the answer comes.
 */
static void do_release(struct monitor *m, struct client *c, const char *args) {
  bool delete = args && strcmp(args, "delete") == 0;
  if (args && (!delete || !m->opt->bundle)) {
    answer(m, c, "error usage: release [delete] (delete in create mode only)");
    return;
  }
  if (!m->exit_written) {
    answer(m, c, "error running");
    return;
  }
  char err[MESSAGE_MAX] = "";
  if (delete && runtime_delete(m, err, sizeof err) < 0) {
    one_line(err, sizeof err);
    answer(m, c, "error %s", err);
  } else {
    if (delete && m->opt->rootfs) unmount_all(m->opt->rootfs);
    answer(m, c, "ok");
  }
  unlink(m->opt->socket);
  exit(0);
}

/** Handles one request line; false when the client was dropped. */
static bool request(struct monitor *m, struct client *c, char *line) {
  char *args = strchr(line, ' ');
  if (args) *args++ = '\0';
  if (strcmp(line, "state") == 0 && !args) {
    if (m->exit_written) return answer_exited(m, c);
    return answer(m, c, "running %d", m->pid);
  }
  if (strcmp(line, "wait") == 0 && !args) {
    if (m->exit_written) return answer_exited(m, c);
    c->waiting = true;
    return true;
  }
  if (strcmp(line, "close-stdin") == 0 && !args) {
    stdio_close_stdin(&m->io);
    return answer(m, c, "ok");
  }
  if (strcmp(line, "release") == 0) {
    do_release(m, c, args);
    return false;
  }
  if (strcmp(line, "resize") == 0) {
    do_resize(m, c, args);
    return true; // a failed answer dropped it; the caller checks nothing more this round
  }
  if (strcmp(line, "start") == 0 && !args) {
    do_start(m, c);
    return true;
  }
  if (strcmp(line, "reopen-log") == 0 && !args) {
    char err[MESSAGE_MAX] = "";
    if (m->io.log.fd < 0) return answer(m, c, "error no log");
    if (log_reopen(&m->io.log, err, sizeof err) < 0) return answer(m, c, "error %s", err);
    return answer(m, c, "ok");
  }
  if (strcmp(line, "kill") == 0) {
    do_kill(m, c, args);
    return true;
  }
  return answer(m, c, "error unknown request");
}

/** Reads what a client sent and handles each complete line. A line too long drops the client. */
static void client_read(struct monitor *m, struct client *c) {
  ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    c->read_closed = true;
    if (!c->waiting) drop(m, c);
    return;
  }
  c->len += (size_t)n;
  char *nl;
  while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
    *nl = '\0';
    size_t used = (size_t)(nl - c->buf) + 1;
    char line[REQUEST_MAX + 1];
    memcpy(line, c->buf, used);
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    int fd = c->fd;
    if (!request(m, c, line)) return;
    // resize and kill may have dropped it: look it up again
    struct client *still = m->clients;
    while (still && still != c) still = still->next;
    if (!still || still->fd != fd) return;
  }
  if (c->len >= sizeof c->buf) drop(m, c); // longer than REQUEST_MAX: not a request
}

int control_poll_count(const struct monitor *m) {
  int n = 0;
  for (const struct client *c = m->clients; c; c = c->next) n++;
  return n;
}

/** One pollfd per client, in list order, at most max. */
int control_fill_poll(struct monitor *m, struct pollfd *p, int max) {
  int n = 0;
  for (struct client *c = m->clients; c && n < max; c = c->next, n++) {
    p[n].fd = c->fd;
    // a waiting client that has finished sending is only watched for hang-up
    p[n].events = c->read_closed ? 0 : POLLIN;
    p[n].revents = 0;
  }
  return n;
}

/** Handles the clients' poll results (p as filled by control_fill_poll; the list may shrink meanwhile). */
void control_handle(struct monitor *m, struct pollfd *p, int n) {
  for (int i = 0; i < n; i++) {
    if (!p[i].revents) continue;
    struct client *c = m->clients;
    while (c && c->fd != p[i].fd) c = c->next;
    if (!c) continue;
    if (p[i].revents & POLLIN) client_read(m, c);
    else drop(m, c); // POLLHUP or POLLERR
  }
}

void control_answer_waiters(struct monitor *m) {
  struct client *c = m->clients;
  while (c) {
    struct client *next = c->next;
    if (c->waiting) {
      c->waiting = false;
      if (answer_exited(m, c) && c->read_closed) drop(m, c);
    }
    c = next;
  }
}
