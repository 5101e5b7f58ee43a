#include "sb_instance.h"

#include "sb_log.h"
#include "sb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static void path_of(const sb_conf_t *c, const char *name, char *buf, size_t sz) {
  snprintf(buf, sz, "%s/%s", c->data_dir, name);
}

int sb_instance_lock(const sb_conf_t *c, int *fd, sb_err_t *err) {
  char path[PATH_MAX];
  *fd = -1;
  if (sb_mkdir_p(c->data_dir, 0700, err) != 0)
    return err->code;
  path_of(c, "up.lock", path, sizeof path);
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (f < 0)
    return sb_err_set(err, SB_EIO, "cannot open %s: %s", path, strerror(errno));
  if (flock(f, LOCK_EX | LOCK_NB) != 0) {
    close(f);
    return sb_err_set(err, SB_EBUSY,
                      "another switchboard up is running on %s: stop it, or "
                      "choose another --data-dir",
                      c->data_dir);
  }
  *fd = f;
  return 0;
}

/* 1 when some process holds the instance lock of c->data_dir. */
static int instance_alive(const sb_conf_t *c) {
  char path[PATH_MAX];
  path_of(c, "up.lock", path, sizeof path);
  int f = open(path, O_RDWR | O_CLOEXEC);
  if (f < 0)
    return 0;
  int alive = flock(f, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(f);
  return alive;
}

int sb_instance_write(const sb_conf_t *c, const char *brokers,
                     const char *database_url, const char *http_url,
                     sb_err_t *err) {
  char path[PATH_MAX];
  path_of(c, "runtime.conf", path, sizeof path);
  size_t cap = strlen(brokers) + strlen(database_url) + 512;
  char *text = malloc(cap);
  if (text == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int n = snprintf(text, cap,
                   "# written by switchboard up; removed when it stops\n"
                   "pid = %ld\nbrokers = %s\ndatabase_url = %s\n%s%s%s%s",
                   (long)getpid(), brokers, database_url,
                   c->kafka_embedded ? "embedded = true\n" : "",
                   http_url ? "# the HTTP API\nhttp = " : "",
                   http_url ? http_url : "", http_url ? "\n" : "");
  int rc = sb_write_file(path, text, (size_t)n, 0600, err);
  free(text);
  return rc;
}

void sb_instance_remove(const sb_conf_t *c) {
  char path[PATH_MAX];
  path_of(c, "runtime.conf", path, sizeof path);
  unlink(path);
}

int sb_instance_discover(sb_conf_t *c, sb_err_t *err) {
  if (c->brokers != NULL && c->database_url != NULL)
    return 0;
  char path[PATH_MAX];
  path_of(c, "runtime.conf", path, sizeof path);
  if (access(path, F_OK) != 0)
    return 0;
  if (!instance_alive(c)) {
    sb_log(SB_LOG_DEBUG, "runtime", "ignoring stale runtime.conf",
           SB_F_STR("path", path), SB_F_END);
    return 0;
  }
  char *text = NULL;
  int rc = sb_read_file(path, 64 * 1024, &text, NULL, err);
  if (rc != 0)
    return rc;
  char *cur = text, *k, *v;
  int brokers_here = c->brokers == NULL, embedded = 0;
  while (rc == 0 && sb_kv_next(&cur, &k, &v)) {
    if ((strcmp(k, "brokers") == 0 && c->brokers == NULL) ||
        (strcmp(k, "database_url") == 0 && c->database_url == NULL))
      rc = sb_conf_set(c, k, v, SB_CO_RUNTIME, path, err);
    else if (strcmp(k, "embedded") == 0 && strcmp(v, "true") == 0)
      embedded = 1;
  }
  if (brokers_here && embedded) /* the instance's own brokers */
    c->kafka_embedded = 1;
  free(text);
  return rc;
}
