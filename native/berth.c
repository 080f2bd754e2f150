/*
 * berth's native layer: the few Linux system calls Node.js does not offer.
 *
 * Plain C against Node-API only. Every function is synchronous and runs on the
 * calling (JS) thread (createNamespace and writeInNamespace wait for a
 * short-lived thread of their own),
 * except connectInNetns, which answers a Promise. Arguments are checked strictly: a wrong type throws a
 * TypeError (code ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE), a number that
 * is not an integer in range throws a RangeError (ERR_OUT_OF_RANGE), and a
 * failed system call throws an Error shaped like Node's fs errors:
 *   { code: 'ENOENT', errno: -2, syscall: 'mknod', path: '/x',
 *     message: "ENOENT: no such file or directory, mknod '/x'" }
 * (errno is negative, as in Node's own fs errors.)
 *
 * Paths and xattr names may be strings (UTF-8) or Buffers/Uint8Arrays (raw
 * bytes, for names that are not valid UTF-8); they must not contain NUL.
 *
 * No global state: the module keeps nothing between calls.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

extern char **environ;

#include <linux/limits.h> /* XATTR_SIZE_MAX, XATTR_LIST_MAX */

/* Tries of "ask the size, then fetch" while an xattr keeps growing between the
 * two calls, before one last fetch into a buffer of the largest size there is. */
#define XATTR_TRIES 8

/* ---------------------------------------------------------------- errors */

/* Throws a generic Error for a failed Node-API call, unless one is already
 * pending (the usual case: the failed call threw). */
static void throw_napi_failure(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  const char *msg = "Node-API call failed";
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL &&
      info->error_message != NULL)
    msg = info->error_message;
  napi_throw_error(env, "ERR_BERTH_NATIVE", msg);
}

#define NAPI_OK(call)                                                          \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      throw_napi_failure(env);                                                 \
      goto out;                                                                \
    }                                                                          \
  } while (0)

static void set_str_prop(napi_env env, napi_value obj, const char *key,
                         const char *val) {
  napi_value v;
  if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, obj, key, v);
}

/* An Error shaped like Node's fs errors (path and dest may be NULL), or NULL
 * when it cannot be made. */
static napi_value errno_error(napi_env env, int err, const char *syscall,
                              const char *path, const char *dest) {
  char descbuf[128];
  /* GNU strerror_r: returns a pointer to the message (maybe not descbuf). */
  const char *desc = strerror_r(err, descbuf, sizeof descbuf);
  const char *code = strerrorname_np(err);
  if (code == NULL) code = "UNKNOWN";

  size_t need = strlen(code) + strlen(desc) + strlen(syscall) + 16;
  if (path != NULL) need += strlen(path) + 4;
  if (dest != NULL) need += strlen(dest) + 8;
  char *msg = malloc(need);
  if (msg == NULL) return NULL;
  int n = snprintf(msg, need, "%s: %s, %s", code, desc, syscall);
  size_t lead = strlen(code) + 2; /* lower-case the description, as libuv */
  if (msg[lead] >= 'A' && msg[lead] <= 'Z') msg[lead] = (char)(msg[lead] + 32);
  if (path != NULL && n > 0 && (size_t)n < need)
    n += snprintf(msg + n, need - (size_t)n, " '%s'", path);
  if (dest != NULL && n > 0 && (size_t)n < need)
    snprintf(msg + n, need - (size_t)n, " -> '%s'", dest);

  napi_value codev, msgv, errv, errnov;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &codev) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msgv) != napi_ok ||
      napi_create_error(env, codev, msgv, &errv) != napi_ok) {
    free(msg);
    return NULL;
  }
  free(msg);
  if (napi_create_int32(env, -err, &errnov) == napi_ok)
    napi_set_named_property(env, errv, "errno", errnov);
  set_str_prop(env, errv, "code", code);
  set_str_prop(env, errv, "syscall", syscall);
  if (path != NULL) set_str_prop(env, errv, "path", path);
  if (dest != NULL) set_str_prop(env, errv, "dest", dest);
  return errv;
}

/* Throws an Error shaped like Node's fs errors. path and dest may be NULL. */
static void throw_errno(napi_env env, int err, const char *syscall,
                        const char *path, const char *dest) {
  napi_value errv = errno_error(env, err, syscall, path, dest);
  if (errv == NULL) {
    const char *code = strerrorname_np(err);
    napi_throw_error(env, code != NULL ? code : "UNKNOWN", syscall);
    return;
  }
  napi_throw(env, errv);
}

static const char *type_name(napi_valuetype t) {
  switch (t) {
  case napi_undefined: return "undefined";
  case napi_null: return "null";
  case napi_boolean: return "boolean";
  case napi_number: return "number";
  case napi_string: return "string";
  case napi_symbol: return "symbol";
  case napi_object: return "object";
  case napi_function: return "function";
  case napi_external: return "external";
  case napi_bigint: return "bigint";
  }
  return "unknown";
}

static void throw_arg_type(napi_env env, const char *name, const char *want,
                           napi_valuetype got) {
  char msg[256];
  snprintf(msg, sizeof msg,
           "The \"%s\" argument must be %s. Received type %s", name, want,
           type_name(got));
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

/* ------------------------------------------------------------- arguments */

/* Reads a string or Uint8Array (Buffer) argument into a fresh NUL-terminated
 * heap copy (*out, caller frees). With nullable, undefined/null give *out =
 * NULL. Returns 0, or -1 with an exception pending. */
static int get_cstring(napi_env env, napi_value v, const char *name,
                       bool nullable, char **out) {
  *out = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    throw_napi_failure(env);
    return -1;
  }
  if (nullable && (t == napi_undefined || t == napi_null)) return 0;

  char *s = NULL;
  size_t len = 0;
  if (t == napi_string) {
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      throw_napi_failure(env);
      return -1;
    }
    s = malloc(len + 1);
    if (s == NULL) goto oom;
    size_t got = 0;
    if (napi_get_value_string_utf8(env, v, s, len + 1, &got) != napi_ok) {
      free(s);
      throw_napi_failure(env);
      return -1;
    }
    len = got;
  } else {
    bool is_ta = false;
    napi_typedarray_type tat;
    void *data = NULL;
    if (t == napi_object && napi_is_typedarray(env, v, &is_ta) == napi_ok &&
        is_ta &&
        napi_get_typedarray_info(env, v, &tat, &len, &data, NULL, NULL) ==
            napi_ok &&
        tat == napi_uint8_array) {
      s = malloc(len + 1);
      if (s == NULL) goto oom;
      if (len > 0) memcpy(s, data, len);
      s[len] = '\0';
    } else {
      throw_arg_type(env, name,
                     nullable ? "of type string, Buffer, Uint8Array or null"
                              : "of type string or an instance of Buffer or "
                                "Uint8Array",
                     t);
      return -1;
    }
  }
  if (strlen(s) != len) {
    char msg[160];
    snprintf(msg, sizeof msg, "The argument '%s' must not contain null bytes",
             name);
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return -1;
  }
  *out = s;
  return 0;
oom:
  napi_throw_error(env, "ENOMEM", "out of memory");
  return -1;
}

/* Reads an integer argument in [min, max] (|bounds| <= 2^53). With
 * has_default, undefined gives def. Returns 0, or -1 with an exception. */
static int get_int(napi_env env, napi_value v, const char *name, int64_t min,
                   int64_t max, bool has_default, int64_t def, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    throw_napi_failure(env);
    return -1;
  }
  if (has_default && t == napi_undefined) {
    *out = def;
    return 0;
  }
  if (t != napi_number) {
    throw_arg_type(env, name, "of type number", t);
    return -1;
  }
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    throw_napi_failure(env);
    return -1;
  }
  /* NaN fails both comparisons; the range check comes before the cast. */
  if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "The value of \"%s\" is out of range. It must be an integer >= "
             "%lld and <= %lld. Received %.17g",
             name, (long long)min, (long long)max, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

static int get_bool(napi_env env, napi_value v, const char *name, bool def,
                    bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    throw_napi_failure(env);
    return -1;
  }
  if (t == napi_undefined) {
    *out = def;
    return 0;
  }
  if (t != napi_boolean) {
    throw_arg_type(env, name, "of type boolean", t);
    return -1;
  }
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    throw_napi_failure(env);
    return -1;
  }
  return 0;
}

/* Fetches up to `max` arguments; missing ones read as undefined. */
#define GET_ARGS(max)                                                          \
  size_t argc = (max);                                                         \
  napi_value argv[(max) + 1];                                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {       \
    throw_napi_failure(env);                                                   \
    return NULL;                                                               \
  }

static napi_value undefined(napi_env env) {
  napi_value u = NULL;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value null_value(napi_env env) {
  napi_value n = NULL;
  napi_get_null(env, &n);
  return n;
}

/* ------------------------------------------------------------ functions */

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  napi_value ret = NULL;
  char *path = NULL;
  int64_t mode, maj, min;
  if (get_cstring(env, argv[0], "path", false, &path) ||
      get_int(env, argv[1], "mode", 0, UINT32_MAX, false, 0, &mode) ||
      get_int(env, argv[2], "major", 0, UINT32_MAX, false, 0, &maj) ||
      get_int(env, argv[3], "minor", 0, UINT32_MAX, false, 0, &min))
    goto out;
  if (mknod(path, (mode_t)mode,
            makedev((unsigned int)maj, (unsigned int)min)) != 0) {
    throw_errno(env, errno, "mknod", path, NULL);
    goto out;
  }
  ret = undefined(env);
out:
  free(path);
  return ret;
}

/* lsetxattr(path, name, value: Uint8Array, flags = 0) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  napi_value ret = NULL;
  char *path = NULL, *name = NULL;
  int64_t flags;
  void *data = NULL;
  size_t len = 0;
  if (get_cstring(env, argv[0], "path", false, &path) ||
      get_cstring(env, argv[1], "name", false, &name))
    goto out;
  {
    napi_valuetype t;
    bool is_ta = false;
    napi_typedarray_type tat;
    NAPI_OK(napi_typeof(env, argv[2], &t));
    if (t != napi_object || napi_is_typedarray(env, argv[2], &is_ta) != napi_ok ||
        !is_ta ||
        napi_get_typedarray_info(env, argv[2], &tat, &len, &data, NULL,
                                 NULL) != napi_ok ||
        tat != napi_uint8_array) {
      throw_arg_type(env, "value", "an instance of Buffer or Uint8Array", t);
      goto out;
    }
  }
  if (get_int(env, argv[3], "flags", 0, INT32_MAX, true, 0, &flags)) goto out;
  if (lsetxattr(path, name, len ? data : "", len, (int)flags) != 0) {
    throw_errno(env, errno, "lsetxattr", path, NULL);
    goto out;
  }
  ret = undefined(env);
out:
  free(path);
  free(name);
  return ret;
}

/* Reads an xattr value (name != NULL) or the path's name list (name == NULL)
 * into *out (caller frees; NULL when empty) and returns its length, or -1 with
 * errno set. The kernel's protocol is two calls, ask the size then fetch, and
 * another process may change the attribute in between: a fetch that no longer
 * fits (ERANGE) asks again, and the last try uses the kernel's maximum size,
 * which always fits. A size of 0 is an empty result: fetching with a 0-byte
 * buffer would only ask the size again. */
static ssize_t read_xattr(const char *path, const char *name, char **out) {
  *out = NULL;
  for (int i = 0;; i++) {
    bool last = i == XATTR_TRIES;
    ssize_t size;
    if (last)
      size = name != NULL ? XATTR_SIZE_MAX : XATTR_LIST_MAX;
    else
      size = name != NULL ? lgetxattr(path, name, NULL, 0)
                          : llistxattr(path, NULL, 0);
    if (size <= 0) return size;
    char *buf = malloc((size_t)size);
    if (buf == NULL) {
      errno = ENOMEM;
      return -1;
    }
    ssize_t n = name != NULL ? lgetxattr(path, name, buf, (size_t)size)
                             : llistxattr(path, buf, (size_t)size);
    if (n > 0 && n <= size) {
      *out = buf;
      return n;
    }
    int err = n < 0 ? errno : 0;
    free(buf);
    if (n == 0) return 0;
    if (n > size) err = EIO; /* the kernel never does this */
    if (err != ERANGE || last) {
      errno = err;
      return -1;
    }
  }
}

/* lgetxattr(path, name): Buffer | null (null when the attribute is absent) */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  napi_value ret = NULL;
  char *path = NULL, *name = NULL, *buf = NULL;
  if (get_cstring(env, argv[0], "path", false, &path) ||
      get_cstring(env, argv[1], "name", false, &name))
    goto out;
  ssize_t n = read_xattr(path, name, &buf);
  if (n < 0) {
    if (errno == ENODATA)
      ret = null_value(env);
    else
      throw_errno(env, errno, "lgetxattr", path, NULL);
    goto out;
  }
  NAPI_OK(napi_create_buffer_copy(env, (size_t)n, n > 0 ? buf : "", NULL, &ret));
out:
  free(path);
  free(name);
  free(buf);
  return ret;
}

/* llistxattr(path): string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  napi_value ret = NULL, arr;
  char *path = NULL, *buf = NULL;
  if (get_cstring(env, argv[0], "path", false, &path)) goto out;
  ssize_t n = read_xattr(path, NULL, &buf);
  if (n < 0) {
    throw_errno(env, errno, "llistxattr", path, NULL);
    goto out;
  }
  NAPI_OK(napi_create_array(env, &arr));
  uint32_t idx = 0;
  for (ssize_t off = 0; off < n;) {
    /* Names are NUL-terminated; be safe if the last one is not. */
    size_t l = strnlen(buf + off, (size_t)(n - off));
    if (l > 0) {
      napi_value s;
      NAPI_OK(napi_create_string_utf8(env, buf + off, l, &s));
      NAPI_OK(napi_set_element(env, arr, idx++, s));
    }
    off += (ssize_t)l + 1;
  }
  ret = arr;
out:
  free(path);
  free(buf);
  return ret;
}

/* lremovexattr(path, name) */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  napi_value ret = NULL;
  char *path = NULL, *name = NULL;
  if (get_cstring(env, argv[0], "path", false, &path) ||
      get_cstring(env, argv[1], "name", false, &name))
    goto out;
  if (lremovexattr(path, name) != 0) {
    throw_errno(env, errno, "lremovexattr", path, NULL);
    goto out;
  }
  ret = undefined(env);
out:
  free(path);
  free(name);
  return ret;
}

/* chroot(path) */
static napi_value js_chroot(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  napi_value ret = NULL;
  char *path = NULL;
  if (get_cstring(env, argv[0], "path", false, &path)) goto out;
  if (chroot(path) != 0) {
    throw_errno(env, errno, "chroot", path, NULL);
    goto out;
  }
  ret = undefined(env);
out:
  free(path);
  return ret;
}

/* fchdir(fd) */
static napi_value js_fchdir(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int64_t fd;
  if (get_int(env, argv[0], "fd", 0, INT32_MAX, false, 0, &fd)) return NULL;
  if (fchdir((int)fd) != 0) {
    throw_errno(env, errno, "fchdir", NULL, NULL);
    return NULL;
  }
  return undefined(env);
}

/* flock(fd, operation): true once the lock is taken or released; false when
 * LOCK_NB was asked and another open file description holds a conflicting
 * lock (EWOULDBLOCK). */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int64_t fd, op;
  if (get_int(env, argv[0], "fd", 0, INT32_MAX, false, 0, &fd) ||
      get_int(env, argv[1], "operation", 0, INT32_MAX, false, 0, &op))
    return NULL;
  int rc;
  do {
    rc = flock((int)fd, (int)op);
  } while (rc != 0 && errno == EINTR);
  napi_value result = NULL;
  if (rc != 0 && errno != EWOULDBLOCK) {
    throw_errno(env, errno, "flock", NULL, NULL);
    return NULL;
  }
  if (napi_get_boolean(env, rc == 0, &result) != napi_ok) {
    throw_napi_failure(env);
    return NULL;
  }
  return result;
}

/* mount(source | null, target, fstype | null, flags, data | null) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  GET_ARGS(5);
  napi_value ret = NULL;
  char *source = NULL, *target = NULL, *fstype = NULL, *data = NULL;
  int64_t flags;
  if (get_cstring(env, argv[0], "source", true, &source) ||
      get_cstring(env, argv[1], "target", false, &target) ||
      get_cstring(env, argv[2], "fstype", true, &fstype) ||
      get_int(env, argv[3], "flags", 0, UINT32_MAX, false, 0, &flags) ||
      get_cstring(env, argv[4], "data", true, &data))
    goto out;
  if (mount(source, target, fstype, (unsigned long)flags, data) != 0) {
    /* Like Node's rename/link: path is the first operand, dest the second. */
    throw_errno(env, errno, "mount", source != NULL ? source : "none", target);
    goto out;
  }
  ret = undefined(env);
out:
  free(source);
  free(target);
  free(fstype);
  free(data);
  return ret;
}

/* umount2(target, flags = 0) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  napi_value ret = NULL;
  char *target = NULL;
  int64_t flags;
  if (get_cstring(env, argv[0], "target", false, &target) ||
      get_int(env, argv[1], "flags", 0, INT32_MAX, true, 0, &flags))
    goto out;
  if (umount2(target, (int)flags) != 0) {
    throw_errno(env, errno, "umount2", target, NULL);
    goto out;
  }
  ret = undefined(env);
out:
  free(target);
  return ret;
}

/* unshare(flags) */
static napi_value js_unshare(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int64_t flags;
  if (get_int(env, argv[0], "flags", 0, INT32_MAX, false, 0, &flags))
    return NULL;
  if (unshare((int)flags) != 0) {
    throw_errno(env, errno, "unshare", NULL, NULL);
    return NULL;
  }
  return undefined(env);
}

/* ------------------------------------------------------------- namespaces */

/* The namespaces a file can hold for a pod: name (as /proc/PID/ns/ names it) and clone flag. */
static int ns_flag(const char *name) {
  if (strcmp(name, "net") == 0) return CLONE_NEWNET;
  if (strcmp(name, "ipc") == 0) return CLONE_NEWIPC;
  if (strcmp(name, "uts") == 0) return CLONE_NEWUTS;
  return 0;
}

struct ns_job {
  const char *path;
  const char *type;     /* "net", "ipc" or "uts" */
  const char *hostname; /* uts only: set in the new namespace, or NULL */
  const char *file;     /* writeInNamespace: the file written inside */
  const char *value;    /* and what is written */
  size_t value_len;
  int err;              /* 0, or the errno of the failed call */
  const char *syscall;  /* that call's name */
  const char *about;    /* and the path it was about */
};

/* Sets IFF_UP on lo in the calling thread's network namespace (what CNI's
 * loopback plugin does on ADD). -1 with errno on failure. */
static int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int saved = errno;
  close(s);
  errno = saved;
  return rc;
}

static void *job_failed(struct ns_job *job, const char *syscall, const char *about) {
  job->err = errno;
  job->syscall = syscall;
  job->about = about;
  return NULL;
}

/* Moves the calling thread into the namespace of clone flag `flag` held by the
 * file at path. -1 with errno on failure, *syscall naming the call that failed. */
static int enter_namespace(const char *path, int flag, const char **syscall) {
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    *syscall = "open";
    return -1;
  }
  int rc = setns(ns, flag);
  int saved = errno;
  close(ns);
  errno = saved;
  if (rc != 0) *syscall = "setns";
  return rc;
}

/* Runs fn(arg) on a short-lived thread of its own and waits for it (the
 * namespace calls change only that thread's namespaces). 0, or
 * pthread_create's error. */
static int run_on_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  int rc = pthread_create(&t, NULL, fn, arg);
  if (rc == 0) pthread_join(t, NULL);
  return rc;
}

/* Runs on a thread of its own: unshares a new namespace of job->type for this
 * thread only (lo up in a network namespace, the hostname set in a UTS one)
 * and bind-mounts it onto job->path. The thread then ends; the mount keeps the
 * namespace alive, and the caller's threads never enter it. */
static void *create_ns_thread(void *arg) {
  struct ns_job *job = arg;
  char self[64];
  if (unshare(ns_flag(job->type)) != 0) return job_failed(job, "unshare", job->path);
  if (strcmp(job->type, "net") == 0 && loopback_up() != 0) return job_failed(job, "ioctl(SIOCSIFFLAGS lo)", job->path);
  if (job->hostname != NULL && sethostname(job->hostname, strlen(job->hostname)) != 0) return job_failed(job, "sethostname", job->path);
  snprintf(self, sizeof self, "/proc/self/task/%d/ns/%s", (int)gettid(), job->type);
  /* the type is ignored for MS_BIND; "none" as mount(8) passes it */
  if (mount(self, job->path, "none", MS_BIND, NULL) != 0) return job_failed(job, "mount", job->path);
  return NULL;
}

/* Runs on a thread of its own: enters the namespace held by job->path and
 * writes job->value to job->file there (a /proc/sys file is the namespace's
 * of the thread that opens it). The thread ends; the caller's never moved. */
static void *write_in_ns_thread(void *arg) {
  struct ns_job *job = arg;
  const char *call;
  if (enter_namespace(job->path, ns_flag(job->type), &call) != 0) return job_failed(job, call, job->path);
  int fd = open(job->file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return job_failed(job, "open", job->file);
  /* a sysctl takes its value in one write */
  ssize_t n;
  do {
    n = write(fd, job->value, job->value_len);
  } while (n < 0 && errno == EINTR);
  int saved = errno;
  close(fd);
  errno = saved;
  if (n < 0) return job_failed(job, "write", job->file);
  if ((size_t)n != job->value_len) {
    errno = EIO;
    return job_failed(job, "write", job->file);
  }
  return NULL;
}

/* Runs fn(job) on a short-lived thread and waits for it. */
static void run_ns_thread(void *(*fn)(void *), struct ns_job *job) {
  int rc = run_on_thread(fn, job);
  if (rc != 0) {
    job->err = rc;
    job->syscall = "pthread_create";
  }
}

static bool get_ns_type(napi_env env, napi_value v, char **out) {
  if (get_cstring(env, v, "type", false, out)) return true;
  if (ns_flag(*out) == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "The \"type\" argument must be \"net\", \"ipc\" or \"uts\"");
    free(*out);
    *out = NULL;
    return true;
  }
  return false;
}

/* createNamespace(path, type, hostname?): a new file (0444, O_EXCL) with a new
 * namespace of type bind-mounted on it (a network one with its lo up, a UTS
 * one with the hostname when given); on failure nothing is left behind. */
static napi_value js_create_namespace(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  napi_value ret = NULL;
  char *path = NULL, *type = NULL, *hostname = NULL;
  if (get_cstring(env, argv[0], "path", false, &path) || get_ns_type(env, argv[1], &type) ||
      get_cstring(env, argv[2], "hostname", true, &hostname))
    goto out;
  if (hostname != NULL && strcmp(type, "uts") != 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "The \"hostname\" argument is only for a \"uts\" namespace");
    goto out;
  }

  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    throw_errno(env, errno, "open", path, NULL);
    goto out;
  }
  struct ns_job job = {.path = path, .type = type, .hostname = hostname};
  if (fchmod(fd, 0444) != 0) { /* the umask may have taken bits away */
    job.err = errno;
    job.syscall = "fchmod";
  }
  close(fd);
  if (job.err == 0) run_ns_thread(create_ns_thread, &job);
  if (job.err != 0) {
    unlink(path);
    throw_errno(env, job.err, job.syscall, path, NULL);
    goto out;
  }
  ret = undefined(env);
out:
  free(path);
  free(type);
  free(hostname);
  return ret;
}

/* writeInNamespace(path, type, file, value): value written to file from
 * inside the namespace of type that the file at path holds. */
static napi_value js_write_in_namespace(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  napi_value ret = NULL;
  char *path = NULL, *type = NULL, *file = NULL, *value = NULL;
  if (get_cstring(env, argv[0], "path", false, &path) || get_ns_type(env, argv[1], &type) ||
      get_cstring(env, argv[2], "file", false, &file) || get_cstring(env, argv[3], "value", false, &value))
    goto out;
  struct ns_job job = {.path = path, .type = type, .file = file, .value = value, .value_len = strlen(value)};
  run_ns_thread(write_in_ns_thread, &job);
  if (job.err != 0) {
    throw_errno(env, job.err, job.syscall, job.about ? job.about : path, NULL);
    goto out;
  }
  ret = undefined(env);
out:
  free(path);
  free(type);
  free(file);
  free(value);
  return ret;
}

/* connectInNetns(path, port): Promise<fd>. A TCP connection to 127.0.0.1:port
 * inside the network namespace the file at path holds (a pod's), for port
 * forwarding. The socket is made by a short-lived thread of its own that
 * setns()es into the namespace (a socket stays in the namespace it was made
 * in); that thread is started from a libuv pool thread, so neither the JS
 * thread nor a pool thread ever changes namespace and the event loop does not
 * wait for the connect. The descriptor is non-blocking and close-on-exec; the
 * caller owns it. Rejects with a Node-style error (ENOENT, EINVAL for a file
 * that is no network namespace, ECONNREFUSED, ETIMEDOUT after 10 s...). */

struct connect_job {
  char *path;
  int port;
  int fd;              /* the connected socket, or -1 */
  int err;             /* 0, or the errno of the failed call */
  const char *syscall; /* that call's name */
  napi_deferred deferred;
  napi_async_work work;
};

static void *connect_thread(void *arg) {
  struct connect_job *job = arg;
  if (enter_namespace(job->path, CLONE_NEWNET, &job->syscall) != 0) {
    job->err = errno;
    return NULL;
  }
  int rc;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    job->err = errno;
    job->syscall = "socket";
    return NULL;
  }
  /* connect(2) gives up after SO_SNDTIMEO (EINPROGRESS, reported as ETIMEDOUT) */
  struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)job->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    job->err = errno;
    job->syscall = "setsockopt";
  } else {
    do {
      rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      job->err = errno == EINPROGRESS ? ETIMEDOUT : errno;
      job->syscall = "connect";
    }
  }
  struct timeval none = {0, 0};
  int flags;
  if (job->err == 0 &&
      (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none) != 0 ||
       (flags = fcntl(fd, F_GETFL)) < 0 ||
       fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)) {
    job->err = errno;
    job->syscall = "fcntl";
  }
  if (job->err != 0) {
    close(fd);
    return NULL;
  }
  job->fd = fd;
  return NULL;
}

/* On a libuv pool thread: runs connect_thread on a thread of its own. */
static void connect_execute(napi_env env, void *data) {
  (void)env;
  struct connect_job *job = data;
  int rc = run_on_thread(connect_thread, job);
  if (rc != 0) {
    job->err = rc;
    job->syscall = "pthread_create";
  }
}

/* Back on the JS thread: settles the promise. */
static void connect_complete(napi_env env, napi_status status, void *data) {
  struct connect_job *job = data;
  napi_value v = NULL;
  if (status == napi_ok && job->err == 0 &&
      napi_create_int32(env, job->fd, &v) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, v);
  } else {
    if (job->fd >= 0) close(job->fd);
    int err = job->err != 0 ? job->err : ECANCELED;
    const char *call = job->syscall ? job->syscall : "connect";
    bool about_file = strcmp(call, "open") == 0 || strcmp(call, "setns") == 0;
    v = errno_error(env, err, call, about_file ? job->path : NULL, NULL);
    if (v == NULL) napi_get_undefined(env, &v);
    napi_reject_deferred(env, job->deferred, v);
  }
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

static napi_value js_connect_in_netns(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  napi_value promise = NULL, name;
  char *path = NULL;
  int64_t port;
  if (get_cstring(env, argv[0], "path", false, &path)) return NULL;
  if (get_int(env, argv[1], "port", 1, 65535, false, 0, &port)) {
    free(path);
    return NULL;
  }
  struct connect_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    free(path);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  job->path = path;
  job->port = (int)port;
  job->fd = -1;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "berth:connectInNetns", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, connect_execute, connect_complete, job, &job->work) != napi_ok) {
    throw_napi_failure(env);
    goto fail;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    throw_napi_failure(env);
    goto fail;
  }
  return promise;
fail:
  /* a created deferred that is never settled is only garbage */
  free(job->path);
  free(job);
  return NULL;
}

/* setChildSubreaper() */
static napi_value js_set_child_subreaper(napi_env env,
                                         napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) != 0) {
    throw_errno(env, errno, "prctl", NULL, NULL);
    return NULL;
  }
  return undefined(env);
}

/* { pid, exitCode, signal } for an exited or killed child. */
static napi_value exit_object(napi_env env, pid_t pid, bool exited, int code,
                              bool killed, int sig) {
  napi_value obj = NULL, v;
  NAPI_OK(napi_create_object(env, &obj));
  NAPI_OK(napi_create_int32(env, pid, &v));
  NAPI_OK(napi_set_named_property(env, obj, "pid", v));
  if (exited)
    NAPI_OK(napi_create_int32(env, code, &v));
  else
    v = null_value(env);
  NAPI_OK(napi_set_named_property(env, obj, "exitCode", v));
  if (killed)
    NAPI_OK(napi_create_int32(env, sig, &v));
  else
    v = null_value(env);
  NAPI_OK(napi_set_named_property(env, obj, "signal", v));
  return obj;
out:
  return NULL;
}

/* pipe(): [readFd, writeFd], both close-on-exec. */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    throw_errno(env, errno, "pipe2", NULL, NULL);
    return NULL;
  }
  napi_value arr = NULL, v;
  NAPI_OK(napi_create_array_with_length(env, 2, &arr));
  for (uint32_t i = 0; i < 2; i++) {
    NAPI_OK(napi_create_int32(env, fds[i], &v));
    NAPI_OK(napi_set_element(env, arr, i, v));
  }
  return arr;
out:
  close(fds[0]);
  close(fds[1]);
  return NULL;
}

/* The most descriptors spawn() places in a child. */
#define SPAWN_MAX_FDS 8

/* spawn(path, argv, fds): pid. posix_spawn(3) of path with argv (argv[0]
 * included) and the daemon's environment; descriptor i of the child is fds[i]
 * (-1: /dev/null), every other is closed;
 * signal mask and dispositions back to the defaults. glibc spawns with
 * clone(CLONE_VM|CLONE_VFORK): unlike fork, no copy of a large daemon's page
 * tables. Each fds[i] must be >= fds.length (not a slot being filled). The
 * caller reaps the child (waitpid). */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  napi_value ret = NULL;
  char *path = NULL;
  char **args = NULL;
  uint32_t nargs = 0, nfds = 0;
  int fds[SPAWN_MAX_FDS];
  bool is_array;
  bool fa_ready = false, attr_ready = false;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;

  if (get_cstring(env, argv[0], "path", false, &path)) goto out;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"argv\" argument must be an array of strings");
    goto out;
  }
  NAPI_OK(napi_get_array_length(env, argv[1], &nargs));
  if (nargs == 0 || nargs > 4096) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "argv must hold 1 to 4096 strings");
    goto out;
  }
  args = calloc(nargs + 1, sizeof *args);
  if (args == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < nargs; i++) {
    napi_value a;
    NAPI_OK(napi_get_element(env, argv[1], i, &a));
    if (get_cstring(env, a, "argv", false, &args[i])) goto out;
  }
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"fds\" argument must be an array of descriptors");
    goto out;
  }
  NAPI_OK(napi_get_array_length(env, argv[2], &nfds));
  if (nfds > SPAWN_MAX_FDS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "fds must hold at most 8 descriptors");
    goto out;
  }
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value f;
    int64_t fd;
    NAPI_OK(napi_get_element(env, argv[2], i, &f));
    if (get_int(env, f, "fds", -1, INT32_MAX, false, 0, &fd)) goto out;
    /* a source among the slots could be overwritten before it is placed */
    if (fd >= 0 && fd < (int64_t)nfds) {
      throw_errno(env, EINVAL, "spawn", path, NULL);
      goto out;
    }
    fds[i] = (int)fd;
  }

  int rc = posix_spawn_file_actions_init(&fa);
  if (rc == 0) fa_ready = true;
  for (uint32_t i = 0; rc == 0 && i < nfds; i++) {
    if (fds[i] < 0) rc = posix_spawn_file_actions_addopen(&fa, (int)i, "/dev/null", O_RDWR, 0);
    else rc = posix_spawn_file_actions_adddup2(&fa, fds[i], (int)i);
  }
  /* what a parent left open without close-on-exec (a Node IPC channel) stays out too */
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, (int)nfds);
  if (rc == 0) rc = posix_spawnattr_init(&attr);
  if (rc == 0) {
    attr_ready = true;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  pid_t pid = 0;
  if (rc == 0) rc = posix_spawn(&pid, path, &fa, &attr, args, environ);
  if (rc != 0) {
    throw_errno(env, rc, "posix_spawn", path, NULL);
    goto out;
  }
  NAPI_OK(napi_create_int32(env, pid, &ret));
out:
  if (fa_ready) posix_spawn_file_actions_destroy(&fa);
  if (attr_ready) posix_spawnattr_destroy(&attr);
  if (args != NULL)
    for (uint32_t i = 0; i < nargs; i++) free(args[i]);
  free(args);
  free(path);
  return ret;
}

/* waitpid(pid, nohang = true): {pid, exitCode, signal} | null */
static napi_value js_waitpid(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int64_t pid;
  bool nohang;
  if (get_int(env, argv[0], "pid", INT32_MIN + 1, INT32_MAX, false, 0, &pid) ||
      get_bool(env, argv[1], "nohang", true, &nohang))
    return NULL;
  int status = 0;
  pid_t r;
  do {
    r = waitpid((pid_t)pid, &status, nohang ? WNOHANG : 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    throw_errno(env, errno, "waitpid", NULL, NULL);
    return NULL;
  }
  if (r == 0) return null_value(env);
  return exit_object(env, r, WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                     WIFSIGNALED(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* waitidPeek(): {pid, exitCode, signal} | null — the first exited child,
 * left a zombie (WNOWAIT), or null when none has exited or there are none. */
static napi_value js_waitid_peek(napi_env env, napi_callback_info info) {
  (void)info;
  siginfo_t si;
  int r;
  do {
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == ECHILD) return null_value(env);
    throw_errno(env, errno, "waitid", NULL, NULL);
    return NULL;
  }
  if (si.si_pid == 0) return null_value(env);
  bool exited = si.si_code == CLD_EXITED;
  bool killed = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
  return exit_object(env, si.si_pid, exited, exited ? si.si_status : 0, killed,
                     killed ? si.si_status : 0);
}

/* recvFd(socketFd): number | null — one recvmsg(MSG_DONTWAIT) on a connected
 * unix socket; the first descriptor passed with SCM_RIGHTS, opened
 * close-on-exec. null when nothing is queued yet (EAGAIN). Throws ECONNRESET
 * when the peer closed without sending one, ENOMSG when a message came without
 * a descriptor. Any further descriptors in the message are closed. */
static napi_value js_recv_fd(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int64_t sock;
  if (get_int(env, argv[0], "socketFd", 0, INT32_MAX, false, 0, &sock))
    return NULL;
  char data[256];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 8)];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  ssize_t n;
  do {
    n = recvmsg((int)sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return null_value(env);
    throw_errno(env, errno, "recvmsg", NULL, NULL);
    return NULL;
  }
  int fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len < CMSG_LEN(0))
      continue;
    /* Only what lies inside the control buffer (the kernel keeps cmsg_len so). */
    size_t room = msg.msg_controllen -
                  (size_t)((char *)CMSG_DATA(c) - (char *)msg.msg_control);
    size_t count = c->cmsg_len - CMSG_LEN(0);
    if (count > room) count = room;
    count /= sizeof(int);
    int *fds = (int *)CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int f;
      memcpy(&f, &fds[i], sizeof f);
      if (fd < 0)
        fd = f;
      else
        close(f);
    }
  }
  if (fd < 0) {
    throw_errno(env, n == 0 ? ECONNRESET : ENOMSG, "recvmsg", NULL, NULL);
    return NULL;
  }
  napi_value v;
  if (napi_create_int32(env, fd, &v) != napi_ok) {
    close(fd);
    throw_napi_failure(env);
    return NULL;
  }
  return v;
}

/* setWinsize(fd, cols, rows): ioctl(TIOCSWINSZ) */
static napi_value js_set_winsize(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int64_t fd, cols, rows;
  if (get_int(env, argv[0], "fd", 0, INT32_MAX, false, 0, &fd) ||
      get_int(env, argv[1], "cols", 0, UINT16_MAX, false, 0, &cols) ||
      get_int(env, argv[2], "rows", 0, UINT16_MAX, false, 0, &rows))
    return NULL;
  struct winsize ws = {.ws_row = (unsigned short)rows,
                       .ws_col = (unsigned short)cols};
  if (ioctl((int)fd, TIOCSWINSZ, &ws) != 0) {
    throw_errno(env, errno, "ioctl", NULL, NULL);
    return NULL;
  }
  return undefined(env);
}

/* exitNow(code): _exit(2) at once. No 'exit' event, no atexit handlers, no Node
 * teardown (V8's and libuv's threads are not joined); what JS wrote to a stream and
 * has not flushed is lost. */
static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int64_t code;
  if (get_int(env, argv[0], "code", 0, 255, false, 0, &code)) return NULL;
  _exit((int)code);
}

/* getWinsize(fd): { cols, rows } via ioctl(TIOCGWINSZ) */
static napi_value js_get_winsize(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int64_t fd;
  if (get_int(env, argv[0], "fd", 0, INT32_MAX, false, 0, &fd)) return NULL;
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  if (ioctl((int)fd, TIOCGWINSZ, &ws) != 0) {
    throw_errno(env, errno, "ioctl", NULL, NULL);
    return NULL;
  }
  napi_value obj = NULL, v;
  NAPI_OK(napi_create_object(env, &obj));
  NAPI_OK(napi_create_uint32(env, ws.ws_col, &v));
  NAPI_OK(napi_set_named_property(env, obj, "cols", v));
  NAPI_OK(napi_create_uint32(env, ws.ws_row, &v));
  NAPI_OK(napi_set_named_property(env, obj, "rows", v));
  return obj;
out:
  return NULL;
}

/* ------------------------------------------------------------ module init */

static napi_value make_constants(napi_env env) {
  static const struct {
    const char *name;
    int64_t value;
  } table[] = {
      {"S_IFMT", S_IFMT},
      {"S_IFREG", S_IFREG},
      {"S_IFCHR", S_IFCHR},
      {"S_IFBLK", S_IFBLK},
      {"S_IFIFO", S_IFIFO},
      {"S_IFDIR", S_IFDIR},
      {"S_IFLNK", S_IFLNK},
      {"S_IFSOCK", S_IFSOCK},
      {"MS_RDONLY", MS_RDONLY},
      {"MS_NOSUID", MS_NOSUID},
      {"MS_NODEV", MS_NODEV},
      {"MS_NOEXEC", MS_NOEXEC},
      {"MS_REMOUNT", MS_REMOUNT},
      {"MS_NOATIME", MS_NOATIME},
      {"MS_NODIRATIME", MS_NODIRATIME},
      {"MS_RELATIME", MS_RELATIME},
      {"MS_STRICTATIME", MS_STRICTATIME},
      {"MS_BIND", MS_BIND},
      {"MS_MOVE", MS_MOVE},
      {"MS_REC", MS_REC},
      {"MS_UNBINDABLE", MS_UNBINDABLE},
      {"MS_PRIVATE", MS_PRIVATE},
      {"MS_SLAVE", MS_SLAVE},
      {"MS_SHARED", MS_SHARED},
      {"MNT_FORCE", MNT_FORCE},
      {"MNT_DETACH", MNT_DETACH},
      {"MNT_EXPIRE", MNT_EXPIRE},
      {"UMOUNT_NOFOLLOW", UMOUNT_NOFOLLOW},
      {"XATTR_CREATE", XATTR_CREATE},
      {"XATTR_REPLACE", XATTR_REPLACE},
      {"CLONE_NEWNS", CLONE_NEWNS},
      {"LOCK_SH", LOCK_SH},
      {"LOCK_EX", LOCK_EX},
      {"LOCK_NB", LOCK_NB},
      {"LOCK_UN", LOCK_UN},
  };
  napi_value obj = NULL, v;
  NAPI_OK(napi_create_object(env, &obj));
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    NAPI_OK(napi_create_int64(env, table[i].value, &v));
    NAPI_OK(napi_set_named_property(env, obj, table[i].name, v));
  }
  NAPI_OK(napi_object_freeze(env, obj));
  return obj;
out:
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"chroot", NULL, js_chroot, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fchdir", NULL, js_fchdir, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flock", NULL, js_flock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unshare", NULL, js_unshare, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createNamespace", NULL, js_create_namespace, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeInNamespace", NULL, js_write_in_namespace, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connectInNetns", NULL, js_connect_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setChildSubreaper", NULL, js_set_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waitpid", NULL, js_waitpid, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waitidPeek", NULL, js_waitid_peek, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvFd", NULL, js_recv_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setWinsize", NULL, js_set_winsize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getWinsize", NULL, js_get_winsize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exitNow", NULL, js_exit_now, NULL, NULL, NULL, napi_enumerable, NULL},
      {"constants", NULL, NULL, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  size_t n = sizeof props / sizeof props[0];
  props[n - 1].value = make_constants(env);
  if (props[n - 1].value == NULL) return NULL;
  if (napi_define_properties(env, exports, n, props) != napi_ok) {
    throw_napi_failure(env);
    return NULL;
  }
  return exports;
}
