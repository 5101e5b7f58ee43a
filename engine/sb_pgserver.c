#define _GNU_SOURCE /* pipe2 */
#include "sb_pgserver.h"

#include "sb_tenant.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DB_NAME "switchboard"
#define DB_USER "switchboard" /* the owner: a superuser, migrations only */
#define APP_ROLE "switchboard_app"
#define READER_ROLE "switchboard_reader"
#define READER_PREFIX "sb_reader_"
#define ROLE_PW_HEX 48 /* hex characters of a derived password */

/* Everything one operation needs to know about the private server. */
typedef struct {
  char dir[PATH_MAX];    /* absolute data directory */
  char pgdata[PATH_MAX]; /* <dir>/postgres */
  char state[PATH_MAX];  /* <dir>/postgres.state: port and password, 0600 */
  char bindir[PATH_MAX];
  struct passwd pw; /* whom the server runs as; pw_name NULL: ourselves */
  char pwbuf[1024];
  int as_other; /* 1 when we are root and switch to pw */
  int port;
  char password[65];
} srv_t;

/* <base>/<name> into buf; srv_setup keeps base short enough to fit. */
static void join(const char *base, const char *name, char *buf, size_t sz) {
  sb_fmt(buf, sz, NULL, "%s/%s", base, name);
}

static int is_exec(const char *dir, const char *name) {
  char p[PATH_MAX];
  if (sb_fmt(p, sizeof p, NULL, "%s/%s", dir, name) != 0)
    return 0;
  return access(p, X_OK) == 0;
}

static int bindir_ok(const char *dir) {
  return is_exec(dir, "initdb") && is_exec(dir, "pg_ctl") &&
         is_exec(dir, "postgres");
}

/* The newest /usr/lib/postgresql/<version>/bin holding the server. */
static int scan_debian(char *out, size_t sz) {
  DIR *d = opendir("/usr/lib/postgresql");
  if (d == NULL)
    return 0;
  long best = -1;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    long long v;
    char cand[PATH_MAX];
    if (sb_parse_ll(de->d_name, &v) != 0 || v <= best)
      continue;
    sb_fmt(cand, sizeof cand, NULL, "/usr/lib/postgresql/%s/bin", de->d_name);
    if (bindir_ok(cand)) {
      best = (long)v;
      snprintf(out, sz, "%s", cand);
    }
  }
  closedir(d);
  return best >= 0;
}

static int find_bindir(const sb_conf_t *c, char *out, size_t sz,
                       sb_err_t *err) {
  if (c->pg_bindir != NULL) {
    if (bindir_ok(c->pg_bindir))
      return sb_fmt(out, sz, err, "%s", c->pg_bindir);
    return sb_err_set(err, SB_ENOENT,
                      "postgres: no initdb, pg_ctl and postgres in "
                      "postgres.bindir '%s': point it at the server's bin "
                      "directory, or install the Debian package 'postgresql'",
                      c->pg_bindir);
  }
  FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
  if (p != NULL) {
    char line[PATH_MAX] = "";
    char *got = fgets(line, sizeof line, p);
    pclose(p);
    if (got != NULL && bindir_ok(sb_trim(line)))
      return sb_fmt(out, sz, err, "%s", sb_trim(line));
  }
  if (scan_debian(out, sz))
    return 0;
  const char *path = getenv("PATH");
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path ? path : "");
  char *save = NULL;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
    if (bindir_ok(d))
      return sb_fmt(out, sz, err, "%s", d);
  return sb_err_set(err, SB_ENOENT,
                    "postgres: PostgreSQL server binaries (initdb, pg_ctl) not "
                    "found: install them (apt-get install postgresql), set "
                    "postgres.bindir, or give --database-url");
}

/* Runs argv as the server's user, detached from our terminal, capturing its
 * output (last bytes kept) into out. Returns the exit status, or -1. */
static int run_as(const srv_t *s, char *const argv[], char *out, size_t outsz) {
  int pfd[2];
  if (outsz > 0)
    out[0] = '\0';
  if (pipe2(pfd, O_CLOEXEC) != 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0) {
    setsid();
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    if (s->as_other) {
      if (setgroups(0, NULL) != 0 || setgid(s->pw.pw_gid) != 0 ||
          setuid(s->pw.pw_uid) != 0) {
        dprintf(2, "cannot switch to user %s: %s\n", s->pw.pw_name,
                strerror(errno));
        _exit(126);
      }
      setenv("HOME", s->pw.pw_dir ? s->pw.pw_dir : "/", 1);
      setenv("USER", s->pw.pw_name, 1);
    }
    setenv("LC_ALL", "C", 1);
    unsetenv("PGDATA");
    unsetenv("PGPORT");
    if (chdir("/") != 0)
      _exit(126);
    execv(argv[0], argv);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(pfd[1]);
  size_t n = 0;
  char buf[4096];
  for (;;) {
    ssize_t r = read(pfd[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    for (ssize_t i = 0; i < r && outsz > 1; i++) {
      if (n + 1 >= outsz) { /* keep the tail: errors come last */
        memmove(out, out + outsz / 2, n - outsz / 2);
        n -= outsz / 2;
      }
      out[n++] = buf[i];
    }
  }
  if (outsz > 0)
    out[n < outsz ? n : outsz - 1] = '\0';
  close(pfd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The last non-empty line of text, for one-line errors. */
static const char *last_line(char *text) {
  char *end = text + strlen(text);
  while (end > text && (end[-1] == '\n' || end[-1] == ' '))
    *--end = '\0';
  char *nl = strrchr(text, '\n');
  return nl ? nl + 1 : text;
}

/* Whether PostgreSQL could listen on port: it sets SO_REUSEADDR, so a port
 * held only by connections in TIME_WAIT counts as free. */
static int port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static int pick_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int write_state(srv_t *s, sb_err_t *err) {
  char text[256];
  int n = snprintf(text, sizeof text,
                   "# private PostgreSQL of this data directory; keep secret\n"
                   "port = %d\npassword = %s\n",
                   s->port, s->password);
  return sb_write_file(s->state, text, (size_t)n, 0600, err);
}

static int read_state(srv_t *s, sb_err_t *err) {
  char *text = NULL;
  int rc = sb_read_file(s->state, 4096, &text, NULL, err);
  if (rc != 0)
    return rc;
  s->port = 0;
  s->password[0] = '\0';
  char *cur = text, *k, *v;
  while (sb_kv_next(&cur, &k, &v)) {
    long long port;
    if (strcmp(k, "port") == 0 && sb_parse_ll(v, &port) == 0)
      s->port = (int)port;
    else if (strcmp(k, "password") == 0)
      snprintf(s->password, sizeof s->password, "%s", v);
  }
  free(text);
  if (s->port <= 0 || s->port > 65535 || s->password[0] == '\0')
    return sb_err_set(err, SB_ESTATE, "postgres: %s is damaged: remove it "
                                      "together with %s to start afresh",
                      s->state, s->pgdata);
  return 0;
}

static int chown_to(const srv_t *s, const char *path, sb_err_t *err) {
  if (!s->as_other)
    return 0;
  if (chown(path, s->pw.pw_uid, s->pw.pw_gid) != 0)
    return sb_err_set(err, SB_EIO, "postgres: cannot hand %s to user %s: %s",
                      path, s->pw.pw_name, strerror(errno));
  return 0;
}

/* Resolves paths, binaries and the user the server runs as. */
static int srv_setup(const sb_conf_t *c, srv_t *s, int need_bin, sb_err_t *err) {
  memset(s, 0, sizeof *s);
  if (sb_mkdir_p(c->data_dir, 0700, err) != 0)
    return err->code;
  if (realpath(c->data_dir, s->dir) == NULL)
    return sb_err_set(err, SB_EIO, "cannot resolve %s: %s", c->data_dir,
                      strerror(errno));
  if (strlen(s->dir) > PATH_MAX - 64)
    return sb_err_set(err, SB_EINVAL, "data directory path too long: %s",
                      s->dir);
  if (sb_fmt(s->pgdata, sizeof s->pgdata, err, "%s/postgres", s->dir) != 0 ||
      sb_fmt(s->state, sizeof s->state, err, "%s/postgres.state", s->dir) != 0)
    return SB_EINVAL;
  if (need_bin && find_bindir(c, s->bindir, sizeof s->bindir, err) != 0)
    return err->code;
  if (geteuid() != 0)
    return 0;
  struct passwd *res = NULL;
  getpwnam_r(c->pg_os_user, &s->pw, s->pwbuf, sizeof s->pwbuf, &res);
  if (res == NULL)
    return sb_err_set(err, SB_ECONFIG,
                      "postgres: running as root, the private server must run "
                      "as an unprivileged user, and user '%s' does not exist: "
                      "create it (useradd --system %s) or set postgres.os_user",
                      c->pg_os_user, c->pg_os_user);
  if (s->pw.pw_uid == 0)
    return sb_err_set(err, SB_ECONFIG,
                      "postgres: postgres.os_user '%s' is root; PostgreSQL "
                      "refuses to run as root: name an unprivileged user",
                      c->pg_os_user);
  s->as_other = 1;
  /* the server's user must be able to traverse into the data directory */
  if (chmod(s->dir, 0711) != 0)
    return sb_err_set(err, SB_EIO, "cannot chmod %s: %s", s->dir,
                      strerror(errno));
  char out[512];
  char *const argv[] = {"/usr/bin/test", "-x", s->dir, NULL};
  if (run_as(s, argv, out, sizeof out) != 0)
    return sb_err_set(err, SB_EPERM,
                      "postgres: user '%s' cannot reach %s (the private server "
                      "runs as that user): make its parent directories "
                      "traversable (chmod o+x) or choose another --data-dir",
                      c->pg_os_user, s->dir);
  return 0;
}

static int srv_init(srv_t *s, sb_err_t *err) {
  char pg_version[PATH_MAX];
  join(s->pgdata, "PG_VERSION", pg_version, sizeof pg_version);
  if (access(pg_version, F_OK) == 0)
    return read_state(s, err);

  DIR *d = opendir(s->pgdata);
  if (d != NULL) {
    struct dirent *de;
    int entries = 0;
    while ((de = readdir(d)) != NULL)
      entries += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    if (entries > 0)
      return sb_err_set(err, SB_ESTATE,
                        "postgres: %s exists, is not empty and holds no "
                        "cluster: move it away",
                        s->pgdata);
  }
  s->port = pick_port();
  if (s->port < 0)
    return sb_err_set(err, SB_EIO, "postgres: cannot find a free loopback port");
  if (sb_random_hex(s->password, sizeof s->password, 24, err) != 0)
    return err->code;
  if (write_state(s, err) != 0)
    return err->code;

  if (sb_mkdir_p(s->pgdata, 0700, err) != 0 || chown_to(s, s->pgdata, err) != 0)
    return err->code;
  char pwfile[PATH_MAX];
  join(s->dir, "postgres.pwfile", pwfile, sizeof pwfile);
  if (sb_write_file(pwfile, s->password, strlen(s->password), 0600, err) != 0 ||
      chown_to(s, pwfile, err) != 0) {
    unlink(pwfile);
    return err->code;
  }
  char initdb[PATH_MAX + 8], pwarg[PATH_MAX + 16];
  join(s->bindir, "initdb", initdb, sizeof initdb);
  sb_fmt(pwarg, sizeof pwarg, NULL, "--pwfile=%s", pwfile);
  char *const argv[] = {initdb, "-D", s->pgdata, "-U", DB_USER, pwarg,
                        "--auth=scram-sha-256", "-E", "UTF8", "--no-locale",
                        "--no-instructions", NULL};
  char out[4096];
  sb_log(SB_LOG_INFO, "pg", "creating the private PostgreSQL cluster",
         SB_F_STR("dir", s->pgdata), SB_F_END);
  int st = run_as(s, argv, out, sizeof out);
  unlink(pwfile);
  if (st != 0)
    return sb_err_set(err, SB_EPG, "postgres: initdb failed: %s",
                      last_line(out));
  /* our settings live in their own file, rewritten at each start */
  char conf[PATH_MAX];
  join(s->pgdata, "postgresql.conf", conf, sizeof conf);
  FILE *f = fopen(conf, "a");
  if (f == NULL)
    return sb_err_set(err, SB_EIO, "cannot open %s: %s", conf, strerror(errno));
  fprintf(f, "\n# added by switchboard\ninclude_if_exists = 'switchboard.conf'\n");
  if (fclose(f) != 0)
    return sb_err_set(err, SB_EIO, "cannot write %s", conf);
  return 0;
}

static int write_server_conf(srv_t *s, sb_err_t *err) {
  char path[PATH_MAX], text[512];
  join(s->pgdata, "switchboard.conf", path, sizeof path);
  int n = snprintf(text, sizeof text,
                   "# written by switchboard at each start\n"
                   "listen_addresses = '127.0.0.1'\n"
                   "port = %d\n"
                   "unix_socket_directories = ''\n"
                   "max_connections = 200\n"
                   "logging_collector = off\n",
                   s->port);
  if (sb_write_file(path, text, (size_t)n, 0600, err) != 0)
    return err->code;
  return chown_to(s, path, err);
}

static int pg_ctl(srv_t *s, const char *action, char *out, size_t outsz) {
  char exe[PATH_MAX + 8], logf[PATH_MAX + 16];
  join(s->bindir, "pg_ctl", exe, sizeof exe);
  join(s->pgdata, "server.log", logf, sizeof logf);
  if (strcmp(action, "start") == 0) {
    char *const argv[] = {exe, "-D", s->pgdata, "-l", logf, "-w", "-t", "60",
                          "start", NULL};
    return run_as(s, argv, out, outsz);
  }
  if (strcmp(action, "stop") == 0) {
    char *const argv[] = {exe, "-D", s->pgdata, "-m", "fast", "-w", "-t", "60",
                          "stop", NULL};
    return run_as(s, argv, out, outsz);
  }
  char *const argv[] = {exe, "-D", s->pgdata, "status", NULL};
  return run_as(s, argv, out, outsz);
}

/* The tail of the server log, for a one-line reason. */
static void server_log_tail(srv_t *s, char *out, size_t sz) {
  char path[PATH_MAX], *text = NULL;
  join(s->pgdata, "server.log", path, sizeof path);
  out[0] = '\0';
  if (sb_read_file(path, 64 << 20, &text, NULL, NULL) == 0) {
    snprintf(out, sz, "%s", last_line(text));
    free(text);
  }
}

static void make_url(const srv_t *s, const char *db, char *url, size_t sz) {
  snprintf(url, sz, "postgresql://%s:%s@127.0.0.1:%d/%s", DB_USER, s->password,
           s->port, db);
}

/* The password of a login other than the owner: HMAC-SHA-256 of label
 * ("role:" + role name) under the owner's password, as hex. One-way: a
 * printed application or reader password tells nothing of the owner's. */
static int derive_password(const srv_t *s, const char *label,
                           char out[ROLE_PW_HEX + 1], sb_err_t *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  char msg[160];
  int n = snprintf(msg, sizeof msg, "switchboard login password\n%s", label);
  if (n < 0 || (size_t)n >= sizeof msg ||
      HMAC(EVP_sha256(), s->password, (int)strlen(s->password),
           (const unsigned char *)msg, (size_t)n, md, &len) == NULL ||
      len * 2 < ROLE_PW_HEX)
    return sb_err_set(err, SB_ECRYPTO, "postgres: cannot derive a password");
  for (int i = 0; i < ROLE_PW_HEX / 2; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  OPENSSL_cleanse(md, sizeof md);
  return 0;
}

/* The URL of a login other than the owner (names are [A-Za-z0-9._-], which
 * URLs carry as they are). */
static int role_url(const srv_t *s, const char *role, char *url, size_t sz,
                    sb_err_t *err) {
  char pw[ROLE_PW_HEX + 1], label[128];
  snprintf(label, sizeof label, "role:%s", role);
  if (derive_password(s, label, pw, err) != 0)
    return err->code;
  int rc = sb_fmt(url, sz, err, "postgresql://%s:%s@127.0.0.1:%d/%s", role, pw,
                  s->port, DB_NAME);
  OPENSSL_cleanse(pw, sizeof pw);
  return rc;
}

/* Sets role's password to its derived one. */
static int set_role_password(const srv_t *s, sb_pg_t *pg, const char *role,
                             sb_err_t *err) {
  char pw[ROLE_PW_HEX + 1], label[128];
  snprintf(label, sizeof label, "role:%s", role);
  if (derive_password(s, label, pw, err) != 0)
    return err->code;
  int rc = sb_pg_set_password(pg, role, pw, err);
  OPENSSL_cleanse(pw, sizeof pw);
  return rc;
}

/* The application role logs in as itself, with the attributes nothing in
 * Switchboard needs taken away, and the reader role exists (the
 * migrations grant them what they may do; sql/0006_roles.sql). */
static const char roles_sql[] =
    "DO $$ BEGIN CREATE ROLE " APP_ROLE " LOGIN; "
    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;\n"
    "ALTER ROLE " APP_ROLE " LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB "
    "NOREPLICATION BYPASSRLS;\n"
    "DO $$ BEGIN CREATE ROLE " READER_ROLE " NOLOGIN; "
    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;\n";

static int ensure_roles(const srv_t *s, sb_err_t *err) {
  char url[512];
  sb_pg_t *pg = NULL;
  make_url(s, DB_NAME, url, sizeof url);
  int rc = sb_pg_connect(url, &pg, err);
  if (rc == 0)
    rc = sb_pg_exec(pg, roles_sql, 0, NULL, err);
  if (rc == 0)
    rc = set_role_password(s, pg, APP_ROLE, err);
  sb_pg_close(pg);
  OPENSSL_cleanse(url, sizeof url);
  if (rc != 0)
    sb_err_prefix(err, "postgres: setting up the application role: ");
  return rc;
}

static int ensure_database(srv_t *s, sb_err_t *err) {
  char url[512], row[16];
  make_url(s, "postgres", url, sizeof url);
  sb_pg_t *pg = NULL;
  int found = 0;
  int rc = sb_pg_connect(url, &pg, err);
  if (rc == 0)
    rc = sb_pg_query1(pg, "SELECT 1 FROM pg_database WHERE datname = $1", 1,
                      (const char *const[]){DB_NAME}, row, sizeof row, &found,
                      NULL, err);
  if (rc == 0 && !found)
    rc = sb_pg_exec(pg, "CREATE DATABASE " DB_NAME, 0, NULL, err);
  sb_pg_close(pg);
  return rc;
}

/* Serialises start and stop of one data directory across processes. */
static int lock_dir(const srv_t *s, sb_err_t *err) {
  char path[PATH_MAX];
  join(s->dir, "postgres.lock", path, sizeof path);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    sb_err_set(err, SB_EIO, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  while (flock(fd, LOCK_EX) != 0)
    if (errno != EINTR) {
      close(fd);
      sb_err_set(err, SB_EIO, "cannot lock %s: %s", path, strerror(errno));
      return -1;
    }
  return fd;
}

int sb_pgserver_start(const sb_conf_t *c, char *url, size_t urlsz,
                      sb_err_t *err) {
  srv_t s;
  if (srv_setup(c, &s, 1, err) != 0)
    return err->code;
  int lock = lock_dir(&s, err);
  if (lock < 0)
    return err->code;
  int rc = srv_init(&s, err);
  if (rc != 0)
    goto out;
  char out[4096];
  if (pg_ctl(&s, "status", out, sizeof out) == 0) {
    sb_log(SB_LOG_INFO, "pg", "private PostgreSQL already running, reusing it",
           SB_F_INT("port", s.port), SB_F_END);
  } else {
    int want = c->pg_port > 0 ? c->pg_port : s.port;
    /* just after a stop the port can stay busy for a moment; moving would
     * strand every client holding the URL, so wait a little first */
    for (int i = 0; i < 30 && !port_free(want); i++)
      usleep(100 * 1000);
    if (!port_free(want)) {
      if (c->pg_port > 0) {
        rc = sb_err_set(err, SB_EBUSY,
                        "postgres: port %d (postgres.port) is in use: free it "
                        "or choose another",
                        want);
        goto out;
      }
      want = pick_port();
      sb_log(SB_LOG_WARN, "pg", "the private server's port is taken; moving",
             SB_F_INT("old_port", s.port), SB_F_INT("new_port", want), SB_F_END);
    }
    if (want != s.port) {
      s.port = want;
      if ((rc = write_state(&s, err)) != 0)
        goto out;
    }
    if ((rc = write_server_conf(&s, err)) != 0)
      goto out;
    if (pg_ctl(&s, "start", out, sizeof out) != 0) {
      char tail[512];
      server_log_tail(&s, tail, sizeof tail);
      rc = sb_err_set(err, SB_EPG, "postgres: the private server did not start: "
                                   "%s",
                      tail[0] ? tail : last_line(out));
      goto out;
    }
    sb_log(SB_LOG_INFO, "pg", "private PostgreSQL started",
           SB_F_INT("port", s.port), SB_F_STR("dir", s.pgdata), SB_F_END);
  }
  if ((rc = ensure_database(&s, err)) != 0 || (rc = ensure_roles(&s, err)) != 0)
    goto out;
  rc = role_url(&s, APP_ROLE, url, urlsz, err);
out:
  OPENSSL_cleanse(s.password, sizeof s.password);
  close(lock);
  return rc;
}

int sb_pgserver_check(const sb_conf_t *c, sb_err_t *err) {
  srv_t s;
  return srv_setup(c, &s, 1, err);
}

int sb_pgserver_stop(const sb_conf_t *c, sb_err_t *err) {
  srv_t s;
  if (srv_setup(c, &s, 1, err) != 0)
    return err->code;
  int lock = lock_dir(&s, err);
  if (lock < 0)
    return err->code;
  int rc = 0;
  char out[4096];
  if (pg_ctl(&s, "status", out, sizeof out) == 0) {
    if (pg_ctl(&s, "stop", out, sizeof out) != 0)
      rc = sb_err_set(err, SB_EPG, "postgres: stopping the private server "
                                   "failed: %s",
                      last_line(out));
    else
      sb_log(SB_LOG_INFO, "pg", "private PostgreSQL stopped", SB_F_END);
  }
  close(lock);
  return rc;
}

int sb_pgserver_running(const sb_conf_t *c) {
  srv_t s;
  sb_err_t err = SB_ERR_INIT;
  if (srv_setup(c, &s, 1, &err) != 0)
    return 0;
  char out[1024];
  return pg_ctl(&s, "status", out, sizeof out) == 0;
}

int sb_pgserver_url(const sb_conf_t *c, char *url, size_t urlsz,
                    sb_err_t *err) {
  srv_t s;
  if (srv_setup(c, &s, 0, err) != 0 || read_state(&s, err) != 0)
    return err->code;
  int rc = role_url(&s, APP_ROLE, url, urlsz, err);
  OPENSSL_cleanse(s.password, sizeof s.password);
  return rc;
}

int sb_pgserver_owner_url(const sb_conf_t *c, char *url, size_t urlsz,
                          sb_err_t *err) {
  srv_t s;
  if (srv_setup(c, &s, 0, err) != 0 || read_state(&s, err) != 0)
    return err->code;
  make_url(&s, DB_NAME, url, urlsz);
  OPENSSL_cleanse(s.password, sizeof s.password);
  return 0;
}

/* tenant's login name: sb_reader_<tenant>, or, where that would pass
 * PostgreSQL's 63 bytes, a prefix of the tenant and a hash of all of it. */
static void reader_name(const char *tenant, char *out, size_t sz) {
  size_t room = 63 - strlen(READER_PREFIX);
  if (strlen(tenant) <= room) {
    snprintf(out, sz, READER_PREFIX "%s", tenant);
    return;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(tenant, strlen(tenant), md, &len, EVP_sha256(), NULL);
  snprintf(out, sz, READER_PREFIX "%.*s_%02x%02x%02x%02x%02x%02x",
           (int)(room - 13), tenant, md[0], md[1], md[2], md[3], md[4], md[5]);
}

int sb_pgserver_reader_url(const sb_conf_t *c, const char *tenant, char *url,
                           size_t urlsz, sb_err_t *err) {
  if (!sb_tenant_valid(tenant))
    return sb_err_set(err, SB_EUSAGE,
                      "--tenant: '%.64s' is not a tenant: 1 to %d of A-Z a-z "
                      "0-9 . _ -",
                      tenant, SB_TENANT_MAX);
  srv_t s;
  if (srv_setup(c, &s, 0, err) != 0 || read_state(&s, err) != 0)
    return err->code;
  char owner[512], role[80], sql[512], row[8];
  int found = 0;
  sb_pg_t *pg = NULL;
  reader_name(tenant, role, sizeof role);
  make_url(&s, DB_NAME, owner, sizeof owner);
  int rc = sb_pg_connect(owner, &pg, err);
  OPENSSL_cleanse(owner, sizeof owner);
  if (rc == 0)
    rc = sb_pg_query1(pg, "SELECT to_regclass('sb.reader_logins') IS NOT NULL",
                      0, NULL, row, sizeof row, &found, NULL, err);
  if (rc == 0 && strcmp(row, "t") != 0)
    rc = sb_err_set(err, SB_ESTATE,
                    "postgres: the database lacks sb.reader_logins: apply "
                    "the migrations first (switchboard migrate, or start "
                    "switchboard up)");
  if (rc == 0)
    rc = sb_pg_exec(pg, "BEGIN", 0, NULL, err);
  if (rc == 0)
    rc = sb_pg_query1(pg, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1,
                      (const char *const[]){role}, row, sizeof row, &found,
                      NULL, err);
  /* the name holds [A-Za-z0-9._-] only: quoted, it is always one identifier */
  if (rc == 0 && !found) {
    snprintf(sql, sizeof sql, "CREATE ROLE \"%s\" LOGIN", role);
    rc = sb_pg_exec(pg, sql, 0, NULL, err);
  }
  if (rc == 0) {
    snprintf(sql, sizeof sql,
             "ALTER ROLE \"%s\" LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB "
             "NOREPLICATION NOBYPASSRLS; GRANT " READER_ROLE " TO \"%s\"",
             role, role);
    rc = sb_pg_exec(pg, sql, 0, NULL, err);
  }
  if (rc == 0)
    rc = sb_pg_exec(pg, "INSERT INTO sb.reader_logins (role_name, tenant_id) "
                        "VALUES ($1, $2) ON CONFLICT (role_name) DO UPDATE "
                        "SET tenant_id = EXCLUDED.tenant_id",
                    2, (const char *const[]){role, tenant}, err);
  if (rc == 0)
    rc = set_role_password(&s, pg, role, err);
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
  sb_pg_close(pg);
  if (rc == 0)
    rc = role_url(&s, role, url, urlsz, err);
  OPENSSL_cleanse(s.password, sizeof s.password);
  return rc;
}
