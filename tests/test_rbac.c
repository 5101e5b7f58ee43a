/* RBAC as data: the rbac processor's seeded defaults against the API's
 * table, and the API's cache of roles and sessions (sb_authz) following
 * PostgreSQL through LISTEN / NOTIFY. */
#include "rbac.h"
#include "sb_auth.h"
#include "sb_authz.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pipeline.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_time.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Every tenant's role_permissions start as the API's built-in table: the
 * processor's copy must be that table, row for row. */
int test_rbac_defaults_match_auth(void) {
  size_t n = 0, m = 0;
  const sb_auth_grant_t *g = sb_auth_grants(&n);
  for (const rbac_grant_t *d = rbac_default_grants; d->role; d++, m++) {
    size_t hits = 0;
    for (size_t i = 0; i < n; i++)
      hits += strcmp(sb_role_name(g[i].role), d->role) == 0 &&
              strcmp(sb_perm_name(g[i].perm), d->kind) == 0 &&
              strcmp(g[i].pattern, d->pattern) == 0;
    if (hits != 1)
      fprintf(stderr, "rbac default %s %s %s: %zu rows of the API's table\n",
              d->role, d->kind, d->pattern, hits);
    CHECK_INT(hits, 1);
  }
  CHECK_INT(m, n);
  CHECK(n > 30);
  return 0;
}

typedef struct {
  int done, rc;
  sb_session_t s;
  char secret[SB_SESSION_SECRET_LEN + 1];
} cb_t;

static void on_session(void *ud, int rc, const sb_session_t *s,
                       const char *secret, const char *error) {
  cb_t *c = ud;
  (void)error;
  c->done = 1;
  c->rc = rc;
  if (s)
    c->s = *s;
  if (secret)
    snprintf(c->secret, sizeof c->secret, "%s", secret);
}

static int run_until(uv_loop_t *loop, const cb_t *c) {
  for (int i = 0; i < 500 && !c->done; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(10 * 1000);
  }
  return c->done;
}

static sb_claims_t claims(const char *tenant, const char *sub, sb_role_t r) {
  sb_claims_t c;
  memset(&c, 0, sizeof c);
  snprintf(c.tenant, sizeof c.tenant, "%s", tenant);
  snprintf(c.sub, sizeof c.sub, "%s", sub);
  c.role = r;
  c.exp = 4102444800;
  return c;
}

/* Polls check(z, who) for up to 10 s until it returns want; last holds
 * its last message. */
static sb_err_t last;
static int until_check(sb_authz_t *z, const sb_claims_t *who, int want) {
  int rc = -999;
  for (int i = 0; i < 200; i++) {
    sb_err_clear(&last);
    if ((rc = sb_authz_check(z, who, sb_time_now_micros(), &last)) == want)
      return 1;
    usleep(50 * 1000);
  }
  fprintf(stderr, "check %s/%s/%s: %s, want %s (%s)\n", who->tenant, who->sub,
          sb_role_name(who->role), sb_err_name(rc), sb_err_name(want),
          last.msg);
  return 0;
}

int test_authz_follows_the_tables(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_conf_t c;
  uv_loop_t loop;
  sb_authz_t *z = NULL, *z2 = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_migrate(pg, sb_migrations, sb_migrations_n, NULL, &err), &err);
  CHECK_OK(sb_processor_ensure_live(pg, &sb_rbac_processor, &err), &err);
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_conf_set(&c, "database_url", url, SB_CO_FLAG, NULL, &err), &err);
  CHECK_OK(uv_loop_init(&loop), &err);
  CHECK_OK(sb_authz_new(&loop, &c, &z, &err), &err);
  CHECK_OK(sb_authz_new(&loop, &c, &z2, &err), &err); /* another process */

  sb_claims_t bob = claims("acme", "bob", SB_ROLE_AGENT),
              ada = claims("acme", "ada", SB_ROLE_ADMIN),
              eve = claims("acme", "eve", SB_ROLE_MANAGER);
  int64_t now = sb_time_now_micros();
  /* unmanaged: tokens act with their role; the first role event grants
   * admin */
  CHECK_OK(sb_authz_check(z, &bob, now, &err), &err);
  CHECK_INT(sb_authz_role_event_check(z, "acme", 1, SB_ROLE_AGENT, "bob", now,
                                      &err),
            SB_EPERM);
  CHECK_HAS(err.msg, "must grant admin");
  sb_err_clear(&err);
  CHECK_OK(sb_authz_role_event_check(z, "acme", 1, SB_ROLE_ADMIN, "ada", now,
                                     &err),
           &err);
  /* what the rbac processor writes: acme managed, ada admin, eve a manager
   * for a second, cy a supervisor of one team only */
  CHECK_OK(sb_pg_exec(
               pg,
               "INSERT INTO rbac.tenants VALUES ('acme', now(), 3, 0);"
               "INSERT INTO rbac.user_roles (tenant_id, user_id, role, "
               "team_id, active, granted_at, expires_at, event_id) VALUES "
               "('acme', 'ada', 'admin', '', true, now(), NULL, 'e1'), "
               "('acme', 'eve', 'manager', '', true, now(), now() + "
               "interval '1 second', 'e2'), "
               "('acme', 'cy', 'supervisor', 't1', true, now(), NULL, 'e3')",
               0, NULL, &err),
           &err);
  CHECK(until_check(z, &bob, SB_EPERM));
  CHECK_HAS(last.msg, "holds no role in tenant acme");
  CHECK(until_check(z2, &bob, SB_EPERM));
  CHECK_OK(sb_authz_check(z, &ada, sb_time_now_micros(), &err), &err);
  sb_claims_t cy = claims("acme", "cy", SB_ROLE_SUPERVISOR);
  CHECK_INT(sb_authz_check(z, &cy, sb_time_now_micros(), &err), SB_EPERM);
  sb_err_clear(&err);
  /* the grant lapses at its expires_at */
  CHECK(until_check(z, &eve, SB_EPERM));
  /* the last admin stays */
  CHECK_INT(sb_authz_role_event_check(z, "acme", 0, SB_ROLE_ADMIN, "ada",
                                      sb_time_now_micros(), &err),
            SB_EPERM);
  CHECK_HAS(err.msg, "last admin of tenant acme");
  sb_err_clear(&err);
  CHECK_OK(sb_authz_role_event_check(z, "acme", 0, SB_ROLE_AGENT, "bob",
                                     sb_time_now_micros(), &err),
           &err);
  /* another tenant's roles are its own */
  sb_claims_t bob_globex = claims("globex", "bob", SB_ROLE_ADMIN);
  CHECK_OK(sb_authz_check(z, &bob_globex, sb_time_now_micros(), &err), &err);
  /* a grant, then a revocation */
  CHECK_OK(sb_pg_exec(pg,
                      "INSERT INTO rbac.user_roles (tenant_id, user_id, role, "
                      "active, event_id) VALUES ('acme', 'bob', 'agent', "
                      "true, 'e4')",
                      0, NULL, &err),
           &err);
  CHECK(until_check(z, &bob, 0));
  CHECK(until_check(z2, &bob, 0));
  CHECK_OK(sb_pg_exec(pg,
                      "UPDATE rbac.user_roles SET active = false WHERE "
                      "user_id = 'bob'",
                      0, NULL, &err),
           &err);
  CHECK(until_check(z, &bob, SB_EPERM));

  /* sessions: signed in on z, known to z2 through NOTIFY, ended on z2 */
  cb_t in = {0};
  CHECK_OK(sb_authz_session_begin(z, &ada, "127.0.0.1", "test/1", on_session,
                                  &in, &err),
           &err);
  CHECK(run_until(&loop, &in));
  CHECK_INT(in.rc, 0);
  CHECK_INT(strlen(in.secret), SB_SESSION_SECRET_LEN);
  sb_session_t s;
  CHECK_OK(sb_authz_session_find(z, in.secret, sb_time_now_micros(), &s, &err),
           &err);
  CHECK_STR(s.who.sub, "ada");
  CHECK_STR(s.id, in.s.id);
  int found = 0;
  for (int i = 0; i < 100 && !found; i++) {
    sb_err_clear(&err);
    found = sb_authz_session_find(z2, in.secret, sb_time_now_micros(), &s,
                                  &err) == 0;
    if (!found)
      usleep(50 * 1000);
  }
  CHECK(found);
  CHECK_INT(sb_authz_session_find(z, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                  sb_time_now_micros(), &s, &err),
            SB_ENOENT);
  sb_err_clear(&err);
  CHECK_INT(sb_authz_session_find(z, "short", sb_time_now_micros(), &s, &err),
            SB_ENOENT);
  sb_err_clear(&err);
  cb_t out = {0};
  CHECK_OK(sb_authz_session_end(z2, &in.s, "logout", on_session, &out, &err),
           &err);
  CHECK(run_until(&loop, &out));
  CHECK_INT(out.rc, 0);
  int gone = 0;
  for (int i = 0; i < 100 && !gone; i++) {
    sb_err_clear(&err);
    gone = sb_authz_session_find(z, in.secret, sb_time_now_micros(), &s,
                                 &err) == SB_ENOENT;
    if (!gone)
      usleep(50 * 1000);
  }
  CHECK(gone);
  CHECK(!sb_authz_session_live(z, in.s.hash, sb_time_now_micros()));

  /* the listening connections lost: what changed meanwhile is loaded on
   * reconnecting */
  CHECK_OK(sb_pg_exec(pg,
                      "SELECT pg_terminate_backend(pid) FROM "
                      "pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid()",
                      0, NULL, &err),
           &err);
  CHECK_OK(sb_pg_exec(pg,
                      "UPDATE rbac.user_roles SET active = true WHERE "
                      "user_id = 'bob'",
                      0, NULL, &err),
           &err);
  CHECK(until_check(z, &bob, 0));
  CHECK(until_check(z2, &bob, 0));
  sb_authz_stats_t st;
  sb_authz_snapshot(z, &st);
  CHECK(st.full_loads >= 2);
  CHECK(st.fresh);

  /* the database gone: past auth.cache_max_stale_ms nothing is allowed */
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  CHECK(until_check(z, &bob, SB_EUNAVAIL));
  CHECK_HAS(last.msg, "auth.cache_max_stale_ms");
  sb_authz_close(z);
  sb_authz_close(z2);
  uv_run(&loop, UV_RUN_DEFAULT);
  sb_authz_free(z);
  sb_authz_free(z2);
  uv_loop_close(&loop);
  sb_conf_free(&c);
  return 0;
}
