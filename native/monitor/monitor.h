// berth-monitor: one small process per container process (the init and each exec). It runs
// the OCI runtime as its own child so that the container's process is re-parented to it, owns
// the process's stdio, writes the exit status to a file and serves a tiny control socket.
// The contract is docs/monitor.md.
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

/** The longest request line the control socket accepts (without its newline). */
#define REQUEST_MAX 256
/** Clients connected at once; more are closed as they come (each costs ~300 bytes). */
#define MAX_CLIENTS 256
/** What a runtime error message sent up the sync pipe is cut to. */
#define MESSAGE_MAX 400

struct options {
  const char *id;
  const char *runtime;
  const char *dir;    // PROCDIR: pid, exit, monitor.pid
  const char *socket; // the control socket
  const char *bundle; // create mode
  const char *exec_process; // exec mode: the process.json
  const char *start_fifo;   // create mode: runc's exec FIFO, read to start the container
  const char *rootfs;       // create mode: unmounted after the runtime's delete
  const char *stdin_path;
  const char *stdout_uri;
  const char *stderr_uri;
  const char *ns;
  const char *log_path;     // the CRI-format container log, written beside the FIFOs
  long long log_max_size;   // rotate past this many bytes (0: never)
  int log_max_files;        // files kept, the current one included
  long long log_max_line;   // longer lines are split into partial records of this size (0: at reads only)
  const char **runtime_args;
  int n_runtime_args;
  const char **create_args;
  int n_create_args;
  bool terminal;
  bool start;               // create mode: start the container as soon as it is created
};

/** One direction of copying, src → dst, through a small buffer (never more than that: backpressure). */
struct copy {
  bool active;   // false: no such stream, or finished
  int src;       // read non-blocking
  int dst;       // written non-blocking; -1 discards what is read
  bool own_src;  // close src when the copy ends (not the shared pty master)
  bool own_dst;
  bool eof;      // src has ended
  bool closing;  // close-stdin: the first "nothing more to read" counts as the end
  char *buf;
  size_t len, off;
  struct container_log *log; // what is read also goes here (NULL: nowhere)
  const char *stream;        // "stdout" or "stderr", for the log
};

/** The CRI-format log file (log.c). */
struct container_log {
  const char *path;
  int fd;
  int64_t size;
  int64_t max_size;
  int max_files;
  int64_t max_line; // 0: records are split only where reads end
};

struct stdio {
  struct copy in, out, err;
  struct container_log log; // fd -1: no log
  int child_fd[3];   // the process's 0/1/2 as handed to the runtime; -1 is /dev/null
  int master;        // the pty master, -1 without a terminal
  int console;       // the listening console socket while the runtime runs
  char console_path[108];
  pid_t logger;      // the logging binary, 0 when none or reaped
};

struct monitor {
  const struct options *opt;
  struct stdio io;
  int signal_fd;
  int listen_fd;
  pid_t pid;            // the container's process
  bool reaped;          // its exit status is known
  bool exit_written;    // PROCDIR/exit is on disk: clients may be told
  int status;           // exit code, or 128+signal
  int64_t exited_at;    // CLOCK_REALTIME, ns
  int64_t drain_deadline; // CLOCK_MONOTONIC ms: stop waiting for output after this
  int started;           // --start: 1 started, -1 failed (start_error says why), 0 once `start` has answered
  char start_error[MESSAGE_MAX];
  struct client *clients;
};

// main.c
int runtime_start(const struct monitor *m, char *err, size_t errsize);
int runtime_delete(const struct monitor *m, char *err, size_t errsize);

// util.c
void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void format_message(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int write_file_atomic(const char *dir, const char *name, const char *content);
void runtime_log_message(const char *log_path, char *out, size_t size);
void one_line(char *s, size_t max);
int64_t monotonic_ms(void);
int64_t realtime_ns(void);
int set_nonblock(int fd);
pid_t spawn_process(char *const argv[], const int *fds, int nfds, char *const env_add[], char *err, size_t errsize);

// stdio.c
int stdio_open(struct stdio *io, const struct options *opt, char *err, size_t errsize);
void stdio_close_child_side(struct stdio *io);
int stdio_receive_console(struct stdio *io, char *err, size_t errsize);
void stdio_close_stdin(struct stdio *io);
bool stdio_output_done(const struct stdio *io);
void stdio_close_all(struct stdio *io);
short copy_poll(const struct copy *c, int *fd);
void copy_pump(struct copy *c);

// log.c
int log_open(struct container_log *l, char *err, size_t errsize);
int log_reopen(struct container_log *l, char *err, size_t errsize);
void log_write(struct container_log *l, const char *stream, const char *buf, size_t len);
void log_close(struct container_log *l);

// control.c
int control_listen(const char *path, char *err, size_t errsize);
void control_accept(struct monitor *m);
int control_poll_count(const struct monitor *m);
int control_fill_poll(struct monitor *m, struct pollfd *p, int max);
void control_handle(struct monitor *m, struct pollfd *p, int n);
void control_answer_waiters(struct monitor *m);

#endif
