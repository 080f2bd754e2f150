// The process's stdio. Without a terminal it gets pipes, and the monitor copies between them and
// the client's FIFOs; with one, the pty master comes over the runtime's console socket and is
// copied to and from the FIFOs. `file://` hands a file to the process itself; `binary://`
// starts a logging binary on containerd's contract.
//
// The monitor opens the output FIFOs O_RDWR and keeps them: a reader that goes away never makes
// the process's writes fail (no EPIPE, no SIGPIPE), and a new reader gets what follows. The stdin
// FIFO is opened read-only, as containerd's shim does: once a client has written and closed it,
// the process's stdin ends (as does close-stdin); poll reports nothing before a first writer, so
// a FIFO nobody opened yet does not read as ended. When a FIFO is full the copy stops reading
// its source: the process blocks on its full pipe instead of the monitor buffering without bound.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monitor.h"

/** Each copy's buffer: small, since the kernel's pipe buffer does most of the work. */
#define COPY_BUFFER 16384
/** Bounded passes per wake-up, so one busy stream cannot starve the others. */
#define COPY_ROUNDS 8

static int copy_start(struct copy *c, int src, bool own_src, int dst, bool own_dst) {
  c->buf = malloc(COPY_BUFFER);
  if (!c->buf) return -1;
  c->active = true;
  c->src = src;
  c->own_src = own_src;
  c->dst = dst;
  c->own_dst = own_dst;
  c->eof = c->closing = false;
  c->len = c->off = 0;
  c->log = NULL;
  c->stream = NULL;
  return 0;
}

static void copy_stop(struct copy *c) {
  if (!c->active) return;
  if (c->own_src && c->src >= 0) close(c->src);
  if (c->own_dst && c->dst >= 0) close(c->dst);
  free(c->buf);
  c->buf = NULL;
  c->active = false;
}

/** What the copy waits for: POLLOUT on dst while it holds data, else POLLIN on src (0: nothing). */
short copy_poll(const struct copy *c, int *fd) {
  if (!c->active) return 0;
  if (c->len > c->off) {
    *fd = c->dst;
    return POLLOUT;
  }
  if (c->eof) return 0;
  *fd = c->src;
  return POLLIN;
}

/** Moves what it can without blocking; ends the copy once src has ended and all is written. */
void copy_pump(struct copy *c) {
  for (int round = 0; c->active && round < COPY_ROUNDS; round++) {
    if (c->len > c->off) {
      ssize_t n = write(c->dst, c->buf + c->off, c->len - c->off);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n < 0) {
        // the reader is gone for good (the process closed its stdin): drop the stream
        copy_stop(c);
        return;
      }
      c->off += (size_t)n;
      if (c->off < c->len) return;
    }
    c->len = c->off = 0;
    if (c->eof) {
      copy_stop(c);
      return;
    }
    ssize_t n = read(c->src, c->buf, COPY_BUFFER);
    if (n > 0) {
      c->len = (size_t)n;
      if (c->log) log_write(c->log, c->stream, c->buf, c->len);
      // nowhere to copy to: dropped at once, so that the copy never waits for a destination that is not there
      if (c->dst < 0) c->len = 0;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      if (!c->closing) return;
      c->eof = true; // close-stdin: what the FIFO held has been read
    } else {
      c->eof = true; // 0, or EIO from a pty master whose other side is closed
    }
  }
}

/** Opens a client FIFO for the monitor to hold (see the top of this file); `mode` O_RDWR or O_RDONLY. */
static int open_fifo(const char *path, int mode, char *err, size_t errsize) {
  int fd = open(path, mode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) format_message(err, errsize, "open %s: %s", path, strerror(errno));
  return fd;
}

enum kind { NONE, FIFO, FILE_URI, BINARY_URI, BAD };

/** The kind of a stdio URI and, for the others than NONE, its decoded path in path. */
static enum kind uri_kind(const char *uri, char *path, size_t size, const char **query) {
  *query = NULL;
  if (!uri || !*uri) return NONE;
  enum kind k = FIFO;
  const char *p = uri;
  if (strncmp(uri, "fifo://", 7) == 0) p = uri + 7;
  else if (strncmp(uri, "file://", 7) == 0) p = uri + 7, k = FILE_URI;
  else if (strncmp(uri, "binary://", 9) == 0) p = uri + 9, k = BINARY_URI;
  if (*p != '/') return BAD; // relative, or a host part
  size_t n = 0;
  for (; *p && n + 1 < size; p++) {
    if (k != FIFO && *p == '?') {
      *query = p + 1;
      break;
    }
    unsigned v;
    if (k != FIFO && *p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
      path[n++] = (char)v;
      p += 2;
    } else {
      path[n++] = *p;
    }
  }
  path[n] = '\0';
  return k;
}

/** Decodes one query component (percent escapes and '+') of length len into out. */
static char *query_part(const char *s, size_t len) {
  char *out = malloc(len + 1);
  if (!out) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned v;
    if (s[i] == '%' && i + 2 < len + 1 && sscanf(s + i + 1, "%2x", &v) == 1) {
      out[n++] = (char)v;
      i += 2;
    } else {
      out[n++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  out[n] = '\0';
  return out;
}

/**
 * containerd's logging-binary contract: the binary gets the process's stdout and stderr read
 * ends as fds 3 and 4 and a pipe on fd 5 that it closes (or writes to) once ready; its
 * environment names the container; the query `?k=v` becomes the arguments `k v`.
 */
static int start_logger(struct stdio *io, const struct options *opt, const char *path, const char *query, char *err,
                        size_t errsize) {
  int out[2], er[2], ready[2];
  if (pipe2(out, O_CLOEXEC) < 0) goto fail_errno;
  if (pipe2(er, O_CLOEXEC) < 0) {
    close(out[0]), close(out[1]);
    goto fail_errno;
  }
  if (pipe2(ready, O_CLOEXEC) < 0) {
    close(out[0]), close(out[1]), close(er[0]), close(er[1]);
    goto fail_errno;
  }
  io->child_fd[1] = out[1];
  io->child_fd[2] = er[1];

  char *argv[66] = {(char *)path};
  int argc = 1;
  while (query && *query && argc < 64) {
    size_t len = strcspn(query, "&");
    const char *eq = memchr(query, '=', len);
    size_t klen = eq ? (size_t)(eq - query) : len;
    argv[argc++] = query_part(query, klen);
    argv[argc++] = query_part(eq ? eq + 1 : query + len, eq ? len - klen - 1 : 0);
    query += len + (query[len] == '&');
  }
  argv[argc] = NULL;
  char id_env[PATH_MAX], ns_env[PATH_MAX];
  snprintf(id_env, sizeof id_env, "CONTAINER_ID=%s", opt->id);
  snprintf(ns_env, sizeof ns_env, "CONTAINER_NAMESPACE=%s", opt->ns ? opt->ns : "default");
  char *env[] = {id_env, ns_env, NULL};
  int fds[6] = {-1, -1, -1, out[0], er[0], ready[1]};
  io->logger = spawn_process(argv, fds, 6, env, err, errsize);
  for (int i = 1; i < argc; i++) free(argv[i]);
  close(out[0]);
  close(er[0]);
  close(ready[1]);
  if (io->logger < 0) {
    io->logger = 0;
    close(ready[0]);
    return -1;
  }
  // ready: the binary closed fd 5 or wrote to it
  struct pollfd p = {.fd = ready[0], .events = POLLIN};
  int r;
  do r = poll(&p, 1, 10000);
  while (r < 0 && errno == EINTR);
  close(ready[0]);
  if (r == 0) {
    format_message(err, errsize, "logging binary %s: not ready after 10 s", path);
    return -1;
  }
  return 0;
fail_errno:
  format_message(err, errsize, "pipe: %s", strerror(errno));
  return -1;
}

/**
 * A pipe for one output stream: the process writes (blocking), the monitor reads (non-blocking)
 * and copies to the FIFO (none: only to the log), and to the log if there is one.
 */
static int output_pipe(struct stdio *io, struct copy *c, int n, const char *fifo_path, char *err, size_t errsize) {
  int fifo = -1;
  if (fifo_path && (fifo = open_fifo(fifo_path, O_RDWR, err, errsize)) < 0) return -1;
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0 || set_nonblock(p[0]) < 0 || copy_start(c, p[0], true, fifo, fifo >= 0) < 0) {
    format_message(err, errsize, "pipe: %s", strerror(errno));
    if (fifo >= 0) close(fifo);
    return -1;
  }
  io->child_fd[n] = p[1];
  if (io->log.fd >= 0) {
    c->log = &io->log;
    c->stream = n == 1 ? "stdout" : "stderr";
  }
  return 0;
}

/**
 * The console socket runc sends the pty master to: a listening unix socket beside the control
 * socket (`SOCKET.tty`), whose path berthd keeps short, where PROCDIR's may be too long for
 * sun_path (a long state dir, a 64-hex container id).
 */
static int console_listen(struct stdio *io, const char *control_socket, char *err, size_t errsize) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s.tty", control_socket) >= (int)sizeof addr.sun_path) {
    format_message(err, errsize, "console socket path %s.tty is too long", control_socket);
    return -1;
  }
  snprintf(io->console_path, sizeof io->console_path, "%s", addr.sun_path);
  unlink(addr.sun_path);
  io->console = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (io->console < 0 || bind(io->console, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(io->console, 1) < 0) {
    format_message(err, errsize, "console socket %s: %s", addr.sun_path, strerror(errno));
    return -1;
  }
  return 0;
}

int stdio_open(struct stdio *io, const struct options *opt, char *err, size_t errsize) {
  memset(io, 0, sizeof *io);
  io->child_fd[0] = io->child_fd[1] = io->child_fd[2] = -1;
  io->master = io->console = io->log.fd = -1;

  char path[PATH_MAX];
  const char *query;
  enum kind out = uri_kind(opt->stdout_uri, path, sizeof path, &query);
  if (out == BAD) {
    format_message(err, errsize, "bad stdio URI %s", opt->stdout_uri);
    return -1;
  }
  if (opt->log_path) {
    if (out != FIFO && out != NONE) {
      format_message(err, errsize, "a log path goes with FIFOs or no stdout, not %s", opt->stdout_uri);
      return -1;
    }
    io->log = (struct container_log){.path = opt->log_path, .fd = -1, .max_size = opt->log_max_size, .max_files = opt->log_max_files, .max_line = opt->log_max_line};
    if (log_open(&io->log, err, errsize) < 0) return -1;
  }
  if (opt->stdin_path && *opt->stdin_path) {
    int fifo = open_fifo(opt->stdin_path, O_RDONLY, err, errsize);
    if (fifo < 0) return -1;
    if (opt->terminal) {
      if (copy_start(&io->in, fifo, true, -1, false) < 0) return close(fifo), -1; // dst: the master, later
    } else {
      int p[2];
      if (pipe2(p, O_CLOEXEC) < 0 || set_nonblock(p[1]) < 0 || copy_start(&io->in, fifo, true, p[1], true) < 0) {
        format_message(err, errsize, "pipe: %s", strerror(errno));
        close(fifo);
        return -1;
      }
      io->child_fd[0] = p[0];
    }
  }

  if (opt->terminal) {
    if (console_listen(io, opt->socket, err, errsize) < 0) return -1;
    // the pty's output goes to the stdout FIFO or the file; with a logging binary it is dropped
    int dst = -1;
    if (out == FIFO) dst = open_fifo(path, O_RDWR, err, errsize);
    if (out == FILE_URI) dst = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if ((out == FIFO || out == FILE_URI) && dst < 0) {
      if (out == FILE_URI) format_message(err, errsize, "open %s: %s", path, strerror(errno));
      return -1;
    }
    if (copy_start(&io->out, -1, false, dst, dst >= 0) < 0) return -1; // src: the master, later
    if (io->log.fd >= 0) io->out.log = &io->log, io->out.stream = "stdout";
    return 0;
  }

  if (out == FILE_URI) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
      format_message(err, errsize, "open %s: %s", path, strerror(errno));
      return -1;
    }
    io->child_fd[1] = fd;
    io->child_fd[2] = fd; // the same descriptor for both; stdio_close_child_side closes it once
    return 0;
  }
  if (out == BINARY_URI) return start_logger(io, opt, path, query, err, errsize);
  if ((out == FIFO || io->log.fd >= 0) && output_pipe(io, &io->out, 1, out == FIFO ? path : NULL, err, errsize) < 0) return -1;
  const char *equery;
  enum kind errk = uri_kind(opt->stderr_uri, path, sizeof path, &equery);
  if (errk != NONE && errk != FIFO) {
    format_message(err, errsize, "stdout is %s but stderr is %s", opt->stdout_uri ? opt->stdout_uri : "",
                   opt->stderr_uri);
    return -1;
  }
  if ((errk == FIFO || io->log.fd >= 0) && output_pipe(io, &io->err, 2, errk == FIFO ? path : NULL, err, errsize) < 0) return -1;
  return 0;
}

/** The process holds its ends now (the runtime has run): the monitor drops its copies. */
void stdio_close_child_side(struct stdio *io) {
  for (int i = 0; i < 3; i++) {
    int fd = io->child_fd[i];
    if (fd < 0) continue;
    for (int j = i; j < 3; j++)
      if (io->child_fd[j] == fd) io->child_fd[j] = -1; // file:// shares one descriptor for 1 and 2
    close(fd);
  }
}

/** Takes the pty master runc sent over the console socket (SCM_RIGHTS) and starts copying it. */
int stdio_receive_console(struct stdio *io, char *err, size_t errsize) {
  // runc has exited successfully, so its connection and message are already queued
  int conn = accept4(io->console, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) {
    format_message(err, errsize, "the runtime sent no terminal: %s", strerror(errno));
    return -1;
  }
  char name[PATH_MAX];
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  close(conn);
  struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
    format_message(err, errsize, "the runtime sent no terminal descriptor");
    return -1;
  }
  memcpy(&io->master, CMSG_DATA(cm), sizeof(int));
  close(io->console);
  io->console = -1;
  unlink(io->console_path);
  if (set_nonblock(io->master) < 0) {
    format_message(err, errsize, "pty: %s", strerror(errno));
    return -1;
  }
  io->out.src = io->master;
  if (io->in.active) io->in.dst = io->master;
  return 0;
}

/** close-stdin: what the FIFO already holds still goes to the process, then its stdin ends. */
void stdio_close_stdin(struct stdio *io) {
  if (io->in.active) io->in.closing = true;
  copy_pump(&io->in);
}

/** Whether all output has been copied (and the logging binary has finished with it). */
bool stdio_output_done(const struct stdio *io) {
  return !io->out.active && !io->err.active && io->logger == 0;
}

void stdio_close_all(struct stdio *io) {
  copy_stop(&io->in);
  copy_stop(&io->out);
  copy_stop(&io->err);
  log_close(&io->log);
  stdio_close_child_side(io);
  if (io->master >= 0) close(io->master);
  io->master = -1;
  if (io->console >= 0) {
    close(io->console);
    unlink(io->console_path);
  }
  io->console = -1;
}
