/* LISTEN / NOTIFY: see sb_pg_listen.h. Wraps libpq like sb_pg.c. */
#include "sb_pg_listen.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

static int channel_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_'))
      return 0;
  return 1;
}

int sb_pg_listen(sb_pg_t *pg, const char *channel, sb_err_t *err) {
  if (!channel_ok(channel))
    return sb_err_set(err, SB_EINVAL,
                      "postgres: LISTEN: '%.64s' is not a channel name "
                      "([a-z_][a-z0-9_]{0,62})",
                      channel ? channel : "");
  char sql[96];
  snprintf(sql, sizeof sql, "LISTEN %s", channel);
  return sb_pg_exec(pg, sql, 0, NULL, err);
}

/* Hands the notifications libpq has parsed. */
static int drain(PGconn *conn, sb_pg_notify_fn fn, void *ud) {
  int n = 0;
  PGnotify *nt;
  while ((nt = PQnotifies(conn)) != NULL) {
    fn(ud, nt->relname, nt->extra ? nt->extra : "");
    PQfreemem(nt);
    n++;
  }
  return n;
}

static int lost(PGconn *conn, sb_err_t *err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
  for (char *p = msg; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  return sb_err_set(err, SB_EUNAVAIL,
                    "postgres: the listening connection was lost: %s", msg);
}

int sb_pg_notifies(sb_pg_t *pg, int timeout_ms, sb_pg_notify_fn fn, void *ud,
                   sb_err_t *err) {
  PGconn *conn = sb_pg_conn(pg);
  if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
    return lost(conn, err);
  if (PQconsumeInput(conn) != 1)
    return lost(conn, err);
  int n = drain(conn, fn, ud);
  if (n > 0)
    return n;
  struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
  if (p.fd < 0)
    return lost(conn, err);
  int r = poll(&p, 1, timeout_ms);
  if (r < 0 && errno != EINTR)
    return sb_err_set(err, SB_EIO, "postgres: poll: %s", strerror(errno));
  if (r <= 0)
    return 0;
  if (PQconsumeInput(conn) != 1 || PQstatus(conn) != CONNECTION_OK)
    return lost(conn, err);
  return drain(conn, fn, ud);
}
