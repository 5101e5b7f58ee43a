/* PostgreSQL notifications (LISTEN / NOTIFY) on a connection of sb_pg.h:
 * for caches that follow a table without polling it (connectors/auth's
 * role and session caches). A NOTIFY sent in a transaction is delivered
 * when it commits, in commit order, to every connection listening at the
 * time; a connection lost loses what was sent meanwhile, so a caller
 * reloads what it follows after reconnecting.
 *
 * A connection listening is used by one thread at a time, and for nothing
 * else while sb_pg_notifies waits. */
#ifndef SB_PG_LISTEN_H
#define SB_PG_LISTEN_H

#include "sb_err.h"
#include "sb_pg.h"

/* LISTEN channel ([a-z_][a-z0-9_]{0,62}, else SB_EINVAL). */
int sb_pg_listen(sb_pg_t *pg, const char *channel, sb_err_t *err);

/* Called once per notification: channel and payload borrowed for the call
 * (payload "" when none). */
typedef void (*sb_pg_notify_fn)(void *ud, const char *channel,
                                const char *payload);

/* Waits up to timeout_ms for notifications and hands each to fn (those
 * already received first, without waiting). Returns how many were handed
 * (0 on a timeout), or SB_EUNAVAIL when the connection was lost (close and
 * reconnect it). */
int sb_pg_notifies(sb_pg_t *pg, int timeout_ms, sb_pg_notify_fn fn, void *ud,
                   sb_err_t *err);

#endif
