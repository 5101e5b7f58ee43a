/* Who may act now: the users' current roles (RBAC as data, built by the
 * rbac processor from role.granted / role.revoked) and the dashboards'
 * sessions, held in memory by every serving process and followed through
 * PostgreSQL's LISTEN / NOTIFY, so that checking a request costs no round
 * trip:
 *
 *   roles     rbac.user_roles and rbac.tenants (processors/rbac), reloaded
 *             per tenant when their trigger notifies "sb_rbac" (at the
 *             processor's commit), and whole every 30 s (a replay's swap
 *             notifies nothing);
 *   sessions  sb.sessions (sql/0010), each row reloaded when its trigger
 *             notifies "sb_sessions".
 *
 * A thread of its own keeps one listening connection: on (re)connecting it
 * loads everything again, since notifications sent while it was away are
 * lost; it runs SELECT 1 every second while idle, so a connection that
 * died silently is noticed. While it has not been in touch with the
 * database for auth.cache_max_stale_ms, every check answers SB_EUNAVAIL
 * (the API says 503): a revocation is never ignored for longer than that.
 *
 * What a token (or a session) may do:
 *   - a tenant none of whose users was ever granted or revoked a role (no
 *     row in rbac.tenants) is not managed: tokens act with the role they
 *     name (bootstrap: the first admin's token grants the first roles);
 *   - in a managed tenant a user acts with the token's role only while it
 *     currently holds it: granted for the whole tenant (a grant limited to
 *     a team gives no tenant-wide permission), not revoked since, not past
 *     its expires_at. A user with no grant there has no role at all.
 *
 * Sign-in (sb_authz_session_begin) and sign-out run their statement on
 * libuv's thread pool with a connection of their own, and call back on the
 * loop's thread. Everything else is thread-safe and never blocks on the
 * database. */
#ifndef SB_AUTHZ_H
#define SB_AUTHZ_H

#include "sb_auth.h"
#include "sb_conf.h"
#include "sb_err.h"

#include <stdint.h>
#include <uv.h>

typedef struct sb_authz_s sb_authz_t;

/* Cookie values: base64url of 32 random bytes. */
#define SB_SESSION_SECRET_LEN 43
#define SB_SESSION_ID_LEN 26 /* the public id: a ULID */

/* A live session. */
typedef struct sb_session_s {
  unsigned char hash[32]; /* SHA-256 of the cookie's value */
  char id[SB_SESSION_ID_LEN + 1];
  sb_claims_t who; /* exp: when the session ends (seconds) */
  int64_t expires_us;
} sb_session_t;

/* Connects to c->database_url, loads the roles and sessions and starts the
 * listening thread. A database without the rbac projection (not migrated)
 * is read as no tenant managed, logged once. *out is owned by the caller. */
int sb_authz_new(uv_loop_t *loop, const sb_conf_t *c, sb_authz_t **out,
                 sb_err_t *err);
/* Stops the thread (joins it). Accepts NULL. Sign-ins in flight still call
 * back while the loop runs. */
void sb_authz_close(sb_authz_t *z);
/* After the loop ran dry. Accepts NULL. */
void sb_authz_free(sb_authz_t *z);

/* May who act with who->role now (now_us: the clock)? 0; SB_EPERM with a
 * message naming the user, role and tenant (reason to record:
 * insufficient_role); SB_EUNAVAIL when the cache is stale. */
int sb_authz_check(sb_authz_t *z, const sb_claims_t *who, int64_t now_us,
                   sb_err_t *err);

/* May a role.granted (grant 1) or role.revoked (grant 0) of role for user
 * be posted in tenant now? 0; or SB_EPERM naming the rule:
 *   - in a tenant not managed yet, only a grant of admin (so a managed
 *     tenant starts with an admin: any other first role event would take
 *     every token's role away, its poster's included);
 *   - the last user holding admin in a tenant keeps it (grant admin to
 *     another user first).
 * SB_EUNAVAIL when the cache is stale. */
int sb_authz_role_event_check(sb_authz_t *z, const char *tenant, int grant,
                              sb_role_t role, const char *user, int64_t now_us,
                              sb_err_t *err);

/* 1 when tenant's roles are managed as data (some role event was
 * processed for it), else 0. */
int sb_authz_managed(sb_authz_t *z, const char *tenant);

/* The live session whose cookie value is secret: 0 with *out filled,
 * SB_ENOENT (unknown, ended or expired), SB_EUNAVAIL (stale cache). */
int sb_authz_session_find(sb_authz_t *z, const char *secret, int64_t now_us,
                          sb_session_t *out, sb_err_t *err);
/* 1 while the session of hash is live (the WebSocket hub's sweep). */
int sb_authz_session_live(sb_authz_t *z, const unsigned char hash[32],
                          int64_t now_us);

/* On the loop's thread: rc 0 with the session (and, for begin, its cookie
 * value: SB_SESSION_SECRET_LEN characters; never logged) or an error
 * message. */
typedef void (*sb_authz_session_cb)(void *ud, int rc, const sb_session_t *s,
                                    const char *secret, const char *error);

/* Signs who in: a session of auth.session_ttl_seconds for who's tenant,
 * subject and role, from ip with user agent ua (may be NULL). A user keeps
 * at most auth.session_max_per_user live sessions (its oldest end, reason
 * superseded); the instance at most auth.session_max (SB_EBUSY, at once).
 * 0 and cb called later; or an error now (cb not called). */
int sb_authz_session_begin(sb_authz_t *z, const sb_claims_t *who,
                           const char *ip, const char *ua,
                           sb_authz_session_cb cb, void *ud, sb_err_t *err);
/* Ends session s (reason: "logout"). Same contract. */
int sb_authz_session_end(sb_authz_t *z, const sb_session_t *s,
                         const char *reason, sb_authz_session_cb cb, void *ud,
                         sb_err_t *err);

/* For metrics and tests. */
typedef struct sb_authz_stats_s {
  uint64_t users, tenants, sessions; /* held now */
  uint64_t reloads, full_loads, notifications;
  int fresh; /* in touch with the database within the bound */
} sb_authz_stats_t;
void sb_authz_snapshot(sb_authz_t *z, sb_authz_stats_t *out);

#endif
