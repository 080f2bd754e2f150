// berth-monitor's start, its event loop and the container process's exit.
//
//   berth-monitor --id ID --runtime PATH [--runtime-arg ARG]... --dir PROCDIR --socket PATH
//                 (--bundle DIR [--create-arg ARG]... [--start-fifo PATH] [--rootfs PATH] [--start] | --exec PROCESS_JSON)
//                 [--stdin PATH] [--stdout URI] [--stderr URI] [--terminal] [--namespace NS]
//                 [--log-path PATH [--log-max-size BYTES] [--log-max-files N]]
//   berth-monitor --wait      (the same arguments come later on descriptor 4, each ending in NUL)
//
// berthd starts it with a pipe on fd 3; one line comes back on it: `ok <pid>` or
// `error <message>`. docs/monitor.md is the whole contract.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monitor.h"

#define SYNC_FD 3
/** --wait: where the arguments come from */
#define ARGS_FD 4
/** How long output may still come after the process exited (a descendant holding the pipe). */
#define DRAIN_MS 1000

/** A whole number in [min, max], or a usage error naming the flag. */
static long long number(const char *flag, const char *v, long long min, long long max) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end || n < min || n > max) die_usage("%s must be a whole number from %lld to %lld, not %s", flag, min, max, v);
  return n;
}

static void parse_args(int argc, char **argv, struct options *o) {
  o->log_max_files = 1;
  // at most argc of each repeated flag
  o->runtime_args = calloc((size_t)argc, sizeof *o->runtime_args);
  o->create_args = calloc((size_t)argc, sizeof *o->create_args);
  if (!o->runtime_args || !o->create_args) die_usage("out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--terminal") == 0) {
      o->terminal = true;
      continue;
    }
    if (strcmp(a, "--start") == 0) {
      o->start = true;
      continue;
    }
    if (i + 1 >= argc) die_usage("%s needs a value (or is unknown)", a);
    const char *v = argv[++i];
    if (strcmp(a, "--id") == 0) o->id = v;
    else if (strcmp(a, "--runtime") == 0) o->runtime = v;
    else if (strcmp(a, "--runtime-arg") == 0) o->runtime_args[o->n_runtime_args++] = v;
    else if (strcmp(a, "--dir") == 0) o->dir = v;
    else if (strcmp(a, "--socket") == 0) o->socket = v;
    else if (strcmp(a, "--bundle") == 0) o->bundle = v;
    else if (strcmp(a, "--create-arg") == 0) o->create_args[o->n_create_args++] = v;
    else if (strcmp(a, "--exec") == 0) o->exec_process = v;
    else if (strcmp(a, "--start-fifo") == 0) o->start_fifo = v;
    else if (strcmp(a, "--rootfs") == 0) o->rootfs = v;
    else if (strcmp(a, "--stdin") == 0) o->stdin_path = v;
    else if (strcmp(a, "--stdout") == 0) o->stdout_uri = v;
    else if (strcmp(a, "--stderr") == 0) o->stderr_uri = v;
    else if (strcmp(a, "--namespace") == 0) o->ns = v;
    else if (strcmp(a, "--log-path") == 0) o->log_path = v;
    else if (strcmp(a, "--log-max-size") == 0) o->log_max_size = number(a, v, 0, LLONG_MAX);
    else if (strcmp(a, "--log-max-files") == 0) o->log_max_files = (int)number(a, v, 1, 1000);
    else if (strcmp(a, "--log-max-line") == 0) o->log_max_line = number(a, v, 1, LLONG_MAX);
    else die_usage("unknown flag %s", a);
  }
  if (!o->id || !*o->id) die_usage("--id is required");
  if (o->log_path && *o->log_path != '/') die_usage("--log-path must be an absolute path");
  if (!o->runtime) die_usage("--runtime is required");
  if (!o->dir) die_usage("--dir is required");
  if (!o->socket) die_usage("--socket is required");
  if (!o->bundle == !o->exec_process) die_usage("exactly one of --bundle and --exec is required");
  if (o->n_create_args > 0 && !o->bundle) die_usage("--create-arg goes with --bundle");
  if ((o->start_fifo || o->rootfs || o->start) && !o->bundle) die_usage("--start-fifo, --rootfs and --start go with --bundle");
  if (strlen(o->socket) >= sizeof((struct sockaddr_un *)0)->sun_path)
    die_usage("--socket %s is longer than a unix socket path may be", o->socket);
  if (fcntl(SYNC_FD, F_GETFD) < 0) die_usage("fd 3 (the sync pipe) is not open");
}

/**
 * --wait: the arguments, each ending in NUL, read from ARGS_FD to its end; berthd starts the
 * monitor early (its exec and dynamic linking then cost nothing on the path of a create) and
 * sends them once the bundle is ready. No arguments (the write end closed unused): exit quietly.
 */
static char **wait_for_args(const char *self, int *argc) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) die_usage("out of memory");
  for (;;) {
    if (len == cap) {
      char *grown = realloc(buf, cap *= 2);
      if (!grown) die_usage("out of memory");
      buf = grown;
    }
    ssize_t n = read(ARGS_FD, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die_usage("reading the arguments: %s", strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
  }
  close(ARGS_FD);
  if (len == 0) exit(0);
  if (buf[len - 1] != '\0') die_usage("the arguments must each end in NUL");
  int n = 1;
  for (size_t i = 0; i < len; i++) n += buf[i] == '\0';
  char **argv = calloc((size_t)n + 1, sizeof *argv);
  if (!argv) die_usage("out of memory");
  argv[0] = (char *)self;
  *argc = 1;
  for (size_t i = 0; i < len; i += strlen(buf + i) + 1) argv[(*argc)++] = buf + i;
  return argv;
}

/** Closes every descriptor above the sync pipe (close_range, else one by one from /proc/self/fd). */
static void close_inherited(void) {
  if (syscall(SYS_close_range, SYNC_FD + 1, ~0U, 0) == 0) return;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name);
    if (fd > SYNC_FD && fd != dirfd(d)) close(fd);
  }
  closedir(d);
}

/** The child half of the start: its own session, subreaper, no inherited descriptors, stdio on /dev/null. */
static void detach(void) {
  setsid();
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  close_inherited();
  int null = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; fd++) dup2(null, fd);
  if (null > 2) close(null);
  fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
}

/** Tells berthd the outcome of the start on the sync pipe. */
static void sync_send(const char *word, const char *text) {
  char line[MESSAGE_MAX + 32];
  int n = snprintf(line, sizeof line, "%s %s\n", word, text);
  if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
  ssize_t unused = write(SYNC_FD, line, (size_t)n);
  (void)unused;
}

/** The runtime's --log path: berthd's, or the monitor's own (added as JSON) when berthd gave none. */
static const char *runtime_log(const struct options *o, char *own, size_t size, bool *added) {
  *added = false;
  for (int i = 0; i < o->n_runtime_args; i++) {
    if (strcmp(o->runtime_args[i], "--log") == 0 && i + 1 < o->n_runtime_args) return o->runtime_args[i + 1];
    if (strncmp(o->runtime_args[i], "--log=", 6) == 0) return o->runtime_args[i] + 6;
  }
  snprintf(own, size, "%s/runtime.log", o->dir);
  *added = true;
  return own;
}

/**
 * Runs the runtime with the global arguments and then `args` (NULL-terminated), as the monitor's
 * child with `fds` as its stdio, and waits for it. On failure, err holds the runtime's own error.
 */
static int run_runtime_command(const struct monitor *m, const char *const *args, const int *fds, char *err, size_t errsize) {
  const struct options *o = m->opt;
  char own_log[PATH_MAX];
  bool added;
  const char *log = runtime_log(o, own_log, sizeof own_log, &added);
  if (added) unlink(own_log); // only this command's messages

  int n_args = 0;
  while (args[n_args]) n_args++;
  const char **argv = calloc((size_t)(o->n_runtime_args + n_args + 6), sizeof *argv);
  if (!argv) {
    format_message(err, errsize, "out of memory");
    return -1;
  }
  int n = 0;
  argv[n++] = o->runtime;
  for (int i = 0; i < o->n_runtime_args; i++) argv[n++] = o->runtime_args[i];
  if (added) argv[n++] = "--log", argv[n++] = own_log, argv[n++] = "--log-format", argv[n++] = "json";
  for (int i = 0; i < n_args; i++) argv[n++] = args[i];
  argv[n] = NULL;

  pid_t pid = spawn_process((char *const *)argv, fds, 3, NULL, err, errsize);
  free(argv);
  if (pid < 0) return -1;
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  runtime_log_message(log, err, errsize);
  if (!*err) {
    if (WIFEXITED(status)) format_message(err, errsize, "%s exited with status %d", o->runtime, WEXITSTATUS(status));
    else format_message(err, errsize, "%s killed by signal %d", o->runtime, WTERMSIG(status));
  }
  return -1;
}

/**
 * Runs `runtime create` or `runtime exec -d` as the monitor's child and waits for it. The
 * container's process outlives it and, the monitor being a subreaper, becomes its child.
 */
static int run_runtime(struct monitor *m, char *err, size_t errsize) {
  const struct options *o = m->opt;
  char pid_file[PATH_MAX], exit_file[PATH_MAX];
  snprintf(pid_file, sizeof pid_file, "%s/pid", o->dir);
  snprintf(exit_file, sizeof exit_file, "%s/exit", o->dir);
  // a previous run's files (the same bundle started again) must not pass for this one's
  unlink(pid_file);
  unlink(exit_file);

  const char **args = calloc((size_t)(o->n_create_args + 12), sizeof *args);
  if (!args) {
    format_message(err, errsize, "out of memory");
    return -1;
  }
  int n = 0;
  if (o->bundle) args[n++] = "create", args[n++] = "--bundle", args[n++] = o->bundle;
  else args[n++] = "exec", args[n++] = "-d", args[n++] = "--process", args[n++] = o->exec_process;
  args[n++] = "--pid-file", args[n++] = pid_file;
  if (o->terminal) args[n++] = "--console-socket", args[n++] = m->io.console_path;
  for (int i = 0; i < o->n_create_args; i++) args[n++] = o->create_args[i];
  args[n++] = o->id;
  args[n] = NULL;
  int r = run_runtime_command(m, args, m->io.child_fd, err, errsize);
  free(args);
  return r;
}

/** Whether the container's process has exited (reaped, or a zombie not reaped yet). */
static bool process_gone(const struct monitor *m) {
  if (m->reaped) return true;
  siginfo_t info = {0};
  return waitid(P_PID, (id_t)m->pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid != 0;
}

/**
 * Starts the created container as `runc start` does, without running runc: runc's init waits to
 * open its exec FIFO for writing and, once a reader has it, writes one byte and execs the
 * container's process (the FIFO is close-on-exec, so the reader then sees its end). Reading it
 * to the end and removing it is all `runc start` does to a created container. Returns 1 when
 * there is no such FIFO: the runtime's own start is used then.
 */
static int start_by_fifo(const struct monitor *m, char *err, size_t errsize) {
  const char *path = m->opt->start_fifo;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 1;
    format_message(err, errsize, "open %s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
    close(fd);
    return 1;
  }
  size_t got = 0;
  for (;;) {
    // until the init opens its end, poll reports nothing (not even a hang-up)
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, 100);
    if (r < 0) {
      if (errno == EINTR) continue;
      format_message(err, errsize, "poll %s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    if (r == 0 && !process_gone(m)) continue;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && r != 0) continue;
    break; // the end: the init exec'd the process, or died (r == 0: gone without opening it)
  }
  close(fd);
  if (got == 0) {
    format_message(err, errsize, "container process is already dead");
    return -1;
  }
  unlink(path); // what runc reads as "running" from now on
  return 0;
}

/** `runtime start <id>` for the container this monitor created (the control socket's `start`). */
int runtime_start(const struct monitor *m, char *err, size_t errsize) {
  if (m->opt->start_fifo) {
    int r = start_by_fifo(m, err, errsize);
    if (r <= 0) return r;
  }
  const char *args[] = {"start", m->opt->id, NULL};
  const int devnull[3] = {-1, -1, -1};
  return run_runtime_command(m, args, devnull, err, errsize);
}

/** `runtime delete --force <id>` once the exit is collected (the control socket's `release delete`). */
int runtime_delete(const struct monitor *m, char *err, size_t errsize) {
  const char *args[] = {"delete", "--force", m->opt->id, NULL};
  const int devnull[3] = {-1, -1, -1};
  return run_runtime_command(m, args, devnull, err, errsize);
}

static pid_t read_pid_file(const char *dir) {
  char path[PATH_MAX], buf[32] = {0};
  snprintf(path, sizeof path, "%s/pid", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
  return pid > 0 ? (pid_t)pid : -1;
}

/** Reaps every child that has exited: the container's process, the logging binary, orphans. */
static void reap(struct monitor *m) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == m->io.logger) m->io.logger = 0;
    if (pid == m->pid && !m->reaped) {
      m->reaped = true;
      m->exited_at = realtime_ns();
      m->status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      m->drain_deadline = monotonic_ms() + DRAIN_MS;
    }
  }
}

/** The output is complete (or the grace is over): the exit goes to disk, then to the waiting clients. */
static void finish_exit(struct monitor *m) {
  stdio_close_all(&m->io);
  char line[64];
  snprintf(line, sizeof line, "%d %lld\n", m->status, (long long)m->exited_at);
  // If this fails (disk full), clients are still told: berthd learns the status either way.
  write_file_atomic(m->opt->dir, "exit", line);
  m->exit_written = true;
  control_answer_waiters(m);
}

/** Until release: copy stdio, serve the control socket, reap children. */
static void loop(struct monitor *m) {
  struct pollfd *p = NULL;
  size_t cap = 0;
  for (;;) {
    reap(m);
    if (m->reaped && !m->exit_written && (stdio_output_done(&m->io) || monotonic_ms() >= m->drain_deadline))
      finish_exit(m);

    size_t need = 5 + (size_t)control_poll_count(m);
    if (need > cap) {
      struct pollfd *grown = realloc(p, need * sizeof *p);
      if (grown) p = grown, cap = need;
      else if (cap == 0) abort(); // not even the first few bytes; with some, serve the clients that fit
    }
    struct copy *copies[3] = {&m->io.in, &m->io.out, &m->io.err};
    p[0] = (struct pollfd){.fd = m->signal_fd, .events = POLLIN};
    p[1] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
    for (int i = 0; i < 3; i++) {
      p[2 + i] = (struct pollfd){.fd = -1};
      p[2 + i].events = copy_poll(copies[i], &p[2 + i].fd);
      if (!p[2 + i].events) p[2 + i].fd = -1;
    }
    int nclients = control_fill_poll(m, p + 5, (int)(cap - 5));

    int timeout = -1;
    if (m->reaped && !m->exit_written) {
      int64_t left = m->drain_deadline - monotonic_ms();
      timeout = left > 0 ? (int)left : 0;
    }
    int r = poll(p, (nfds_t)(5 + nclients), timeout);
    if (r < 0 && errno != EINTR) continue;
    if (r <= 0) continue;

    if (p[0].revents) {
      struct signalfd_siginfo si;
      while (read(m->signal_fd, &si, sizeof si) > 0) {
      }
    }
    for (int i = 0; i < 3; i++)
      if (p[2 + i].revents) copy_pump(copies[i]);
    control_handle(m, p + 5, nclients);
    if (p[1].revents) control_accept(m);
  }
}

/**
 * A failed start: leave nothing behind, say why on the sync pipe, exit. The pipe is left for
 * the exit to close, so that berthd, reading it to its end, knows the monitor is gone.
 */
static void fail(struct monitor *m, const char *message) {
  char text[MESSAGE_MAX + 1];
  snprintf(text, sizeof text, "%s", message);
  one_line(text, MESSAGE_MAX);
  stdio_close_all(&m->io);
  if (m->io.logger > 0) {
    kill(m->io.logger, SIGKILL);
    waitpid(m->io.logger, NULL, 0);
  }
  if (m->listen_fd >= 0) unlink(m->opt->socket);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/monitor.pid", m->opt->dir);
  unlink(path);
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  sync_send("error", text);
  exit(1);
}

int main(int argc, char **argv) {
  static struct options opt;
  static struct monitor mon = {.listen_fd = -1, .signal_fd = -1};
  if (argc == 2 && strcmp(argv[1], "--wait") == 0) {
    argv = wait_for_args(argv[0], &argc);
    // again with them on the command line, where ps (and whatever finds a container's monitor
    // by its --dir or --id) sees them; the rest of the start goes as usual
    execv("/proc/self/exe", argv);
    die_usage("exec /proc/self/exe: %s", strerror(errno));
  }
  parse_args(argc, argv, &opt);
  mon.opt = &opt;
  mon.io.master = mon.io.console = -1;
  for (int i = 0; i < 3; i++) mon.io.child_fd[i] = -1;

  pid_t child = fork();
  if (child < 0) die_usage("fork: %s", strerror(errno));
  if (child > 0) return 0; // berthd reaps this one; the monitor lives on in the child
  detach();

  char err[MESSAGE_MAX + 1] = "";
  char pid_text[32];
  snprintf(pid_text, sizeof pid_text, "%d\n", getpid());
  if (write_file_atomic(opt.dir, "monitor.pid", pid_text) < 0) {
    format_message(err, sizeof err, "write %s/monitor.pid: %s", opt.dir, strerror(errno));
    fail(&mon, err);
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  mon.signal_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (mon.signal_fd < 0) fail(&mon, "signalfd failed");
  mon.listen_fd = control_listen(opt.socket, err, sizeof err);
  if (mon.listen_fd < 0) fail(&mon, err);
  if (stdio_open(&mon.io, &opt, err, sizeof err) < 0) fail(&mon, err);
  if (run_runtime(&mon, err, sizeof err) < 0) fail(&mon, err);
  stdio_close_child_side(&mon.io);
  if (opt.terminal && stdio_receive_console(&mon.io, err, sizeof err) < 0) fail(&mon, err);
  mon.pid = read_pid_file(opt.dir);
  if (mon.pid < 0) fail(&mon, "the runtime wrote no pid file");
  // the monitor's own pid too: berthd need not read monitor.pid on the path of every create
  snprintf(pid_text, sizeof pid_text, "%d %d", mon.pid, (int)getpid());
  sync_send("ok", pid_text);
  close(SYNC_FD);
  // --start: what berthd's `start` would do, without waiting for berthd to ask; its `start` gets
  // the outcome (the container's process may run before berthd has heard of its create)
  if (opt.start) {
    if (runtime_start(&mon, mon.start_error, sizeof mon.start_error) < 0) {
      one_line(mon.start_error, sizeof mon.start_error);
      mon.started = -1;
    } else {
      mon.started = 1;
    }
  }
  loop(&mon);
}
