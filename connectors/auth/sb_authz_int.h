/* Inside sb_authz (sb_authz.h), shared by its files only:
 *
 *   sb_authz.c          life, the listening thread, the roles' cache and
 *                       its checks
 *   sb_authz_session.c  the sessions' cache, sign-in and sign-out */
#ifndef SB_AUTHZ_INT_H
#define SB_AUTHZ_INT_H

#include "sb_authz.h"
#include "sb_pg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define AUTHZ_BUCKETS 65536u /* per map; chains below */
#define AUTHZ_PENDING 256    /* reloads noted per wait; past it: all */

/* (tenant, user) -> until when each role is held: 0 not held, INT64_MAX
 * without end (micros). Only whole-tenant, active grants. */
typedef struct grant_s {
  struct grant_s *next;
  uint64_t h;
  int64_t until[SB_ROLE_COUNT];
  char tenant[SB_TENANT_MAX + 1];
  char user[SB_AUTH_SUB_MAX + 1];
} grant_t;

typedef struct tenant_s {
  struct tenant_s *next;
  uint64_t h;
  char name[SB_TENANT_MAX + 1];
} mtenant_t;

typedef struct sess_s {
  struct sess_s *next;
  sb_session_t s;
} sess_t;

typedef struct {
  grant_t **users;     /* AUTHZ_BUCKETS */
  mtenant_t **tenants; /* AUTHZ_BUCKETS */
  size_t nusers, ntenants;
} roles_map_t;

struct sb_authz_s {
  const sb_conf_t *c;
  uv_loop_t *loop;
  pthread_mutex_t lock; /* roles, sessions, the counters below */
  roles_map_t roles;
  sess_t **sessions; /* AUTHZ_BUCKETS */
  size_t nsessions;
  int no_rbac; /* the rbac projection does not exist: nothing managed */

  pthread_t thread;
  int thread_started;
  sb_pg_t *lpg; /* the first listening connection, for the thread */
  atomic_int stop;
  _Atomic long long fresh_ms; /* last time in touch with the database */
  uint64_t reloads, full_loads, notifications;

  /* the listening thread's notes between waits */
  char pend_tenants[AUTHZ_PENDING][SB_TENANT_MAX + 1];
  size_t npend_tenants;
  char pend_sessions[AUTHZ_PENDING][65];
  size_t npend_sessions;
  int pend_all_roles, pend_all_sessions;

  /* sign-in and sign-out: their own connection, one statement at a time */
  pthread_mutex_t wlock;
  sb_pg_t *wpg;
  atomic_int inflight;
};

uint64_t sb__authz_hash(const char *a, const char *b);

/* sb_authz_session.c, on the listening thread (pg is its connection):
 * every live session loaded again, or one (hex of its hash). */
int sb__authz_sessions_load(sb_authz_t *z, sb_pg_t *pg, sb_err_t *err);
int sb__authz_session_reload(sb_authz_t *z, sb_pg_t *pg, const char *hex,
                             sb_err_t *err);
void sb__authz_sessions_free(sb_authz_t *z);
/* 1 when the cache may be trusted now. */
int sb__authz_fresh(sb_authz_t *z);

#endif
