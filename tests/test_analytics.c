/* The analytics processor's SQL views as dashboards read them: through a
 * reader login mapped to a tenant (row-level security on the tables, the
 * views security_invoker), every view shows that tenant's rows and none of
 * another's; the RLS check accepts the views and still refuses a view that
 * would read past row-level security. */
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_processor.h"
#include "sb_projection.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdlib.h>
#include <string.h>

static void q1(sb_pg_t *pg, const char *sql, char *out, size_t n) {
  int found = 0, isnull = 0;
  sb_err_t err = SB_ERR_INIT;
  if (sb_pg_query1(pg, sql, 0, NULL, out, n, &found, &isnull, &err) != 0)
    snprintf(out, n, "error %s", err.sqlstate);
  else if (!found || isnull)
    snprintf(out, n, "%s", found ? "<null>" : "<none>");
}

/* sql as login, then as the owner again; out: the first column */
static int as_login(sb_pg_t *pg, const char *login, const char *sql, char *out,
                    size_t n) {
  char set[160];
  sb_err_t err = SB_ERR_INIT;
  snprintf(set, sizeof set, "SET SESSION AUTHORIZATION %s", login);
  CHECK_OK(sb_pg_exec(pg, set, 0, NULL, &err), &err);
  q1(pg, sql, out, n);
  CHECK_OK(sb_pg_exec(pg, "RESET SESSION AUTHORIZATION", 0, NULL, &err), &err);
  return 0;
}

/* one row of every table for each tenant, as the processor writes them */
static const char rows_sql[] =
    "INSERT INTO analytics.calls_hour (tenant_id, hour_start, queue_id, "
    "campaign_id, agent_id, direction, day, calls, offered, answered, "
    "answered_in_sl, handled, talk_ms, sales, revenue_cents) SELECT t, "
    "'2026-01-15 14:00Z', 'q1', 'k1', 'a1', 'inbound', '2026-01-15', 1, 1, "
    "1, 1, 1, 60000, 1, 500 FROM unnest(ARRAY['acme', 'globex']) t;"
    "INSERT INTO analytics.calls_hour (tenant_id, hour_start, queue_id, "
    "campaign_id, agent_id, direction, day, calls, offered, answered, "
    "handled) SELECT t, '2026-01-14 14:00Z', 'q1', 'k1', 'a1', 'inbound', "
    "'2026-01-14', 2, 2, 2, 2 FROM unnest(ARRAY['acme', 'globex']) t;"
    "INSERT INTO analytics.dispositions_hour SELECT t, '2026-01-15 14:00Z', "
    "'q1', 'k1', 'a1', 'sale', '2026-01-15', 1, 500 FROM unnest(ARRAY['acme', "
    "'globex']) t;"
    "INSERT INTO analytics.agents_hour (tenant_id, hour_start, agent_id, "
    "day, logins, available_ms, on_call_ms) SELECT t, '2026-01-15 14:00Z', "
    "'a1', '2026-01-15', 1, 60000, 60000 FROM unnest(ARRAY['acme', "
    "'globex']) t;"
    "INSERT INTO analytics.pauses_hour SELECT t, '2026-01-15 14:00Z', 'a1', "
    "'lunch', '2026-01-15', 1, 1000 FROM unnest(ARRAY['acme', 'globex']) t;"
    "INSERT INTO analytics.leads_hour SELECT t, '2026-01-15 14:00Z', 'k1', "
    "'web_form', 'new', '2026-01-15', 1, 100 FROM unnest(ARRAY['acme', "
    "'globex']) t;"
    "INSERT INTO analytics.stages_hour SELECT t, '2026-01-15 14:00Z', 'k1', "
    "'web_form', 'new', '2026-01-15', 1, 1, 1000, 0 FROM "
    "unnest(ARRAY['acme', 'globex']) t;"
    "INSERT INTO analytics.campaigns (tenant_id, campaign_id, name, "
    "budget_cents) SELECT t, 'k1', 'Winter', 1000 FROM unnest(ARRAY['acme', "
    "'globex']) t;"
    "INSERT INTO analytics.spend_hour SELECT t, '2026-01-15 14:00Z', 'k1', "
    "'web_form', '2026-01-15', 300, 0, 0, 0, 1 FROM unnest(ARRAY['acme', "
    "'globex']) t;"
    "INSERT INTO analytics.messages_hour SELECT t, '2026-01-15 14:00Z', "
    "'sms', 'twilio', 'k1', '2026-01-15', 1, 0, 1, 1, 1, 0, 0 FROM "
    "unnest(ARRAY['acme', 'globex']) t;"
    "INSERT INTO analytics.points_hour SELECT t, '2026-01-15 14:00Z', 'a1', "
    "'t1', '2026-01-15', 1, 0, 10, 0, 10 FROM unnest(ARRAY['acme', "
    "'globex']) t;";

int test_analytics_views_rls(void) {
  char url[600], db[64], got[256], sql[1024];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  int rc = 1, applied = 0;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_migrate(pg, sb_migrations, sb_migrations_n, NULL, &err), &err);
  const sb_processor_vt_t *vt = sb_processor_find("analytics");
  CHECK(vt != NULL);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  CHECK_OK(sb_projection_migrate(pg, "analytics", "analytics", vt->migrations,
                                 &applied, &err),
           &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK_OK(sb_pg_exec(pg, rows_sql, 0, NULL, &err), &err);
  CHECK_OK(sb_projection_check_rls(pg, "analytics", &err), &err);
  char acme[80], globex[80], stray[80];
  snprintf(acme, sizeof acme, "%s_acme", db);
  snprintf(globex, sizeof globex, "%s_globex", db);
  snprintf(stray, sizeof stray, "%s_stray", db);
  snprintf(sql, sizeof sql,
           "CREATE ROLE %s LOGIN IN ROLE switchboard_reader; CREATE ROLE %s "
           "LOGIN IN ROLE switchboard_reader; CREATE ROLE %s LOGIN IN ROLE "
           "switchboard_reader; INSERT INTO sb.reader_logins VALUES ('%s', "
           "'acme'), ('%s', 'globex')",
           acme, globex, stray, acme, globex);
  CHECK_OK(sb_pg_exec(pg, sql, 0, NULL, &err), &err);
  /* every view of the schema, as each login */
  sb_pg_rows_t *views = NULL;
  CHECK_OK(sb_pg_rows(pg,
                      "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                      "ON n.oid = c.relnamespace WHERE n.nspname = "
                      "'analytics' AND c.relkind = 'v' ORDER BY 1",
                      0, NULL, &views, &err),
           &err);
  int nviews = sb_pg_rows_count(views);
  CHECK(nviews >= 15);
  for (int i = 0; i < nviews; i++) {
    const char *v = sb_pg_rows_get(views, i, 0);
    struct {
      const char *login, *want;
    } who[] = {{acme, "acme"}, {globex, "globex"}};
    for (int k = 0; k < 2; k++) {
      snprintf(sql, sizeof sql,
               "SELECT (count(*) > 0)::text || ' ' || COALESCE(string_agg("
               "DISTINCT tenant_id, ','), '') FROM analytics.%s",
               v);
      char want[64];
      snprintf(want, sizeof want, "true %s", who[k].want);
      if (as_login(pg, who[k].login, sql, got, sizeof got) != 0 ||
          strcmp(got, want) != 0) {
        fprintf(stderr, "analytics.%s as %s: \"%s\", want \"%s\"\n", v,
                who[k].want, got, want);
        goto out;
      }
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM analytics.%s", v);
    if (as_login(pg, stray, sql, got, sizeof got) != 0 ||
        strcmp(got, "0") != 0) {
      fprintf(stderr, "analytics.%s as an unmapped login: %s rows\n", v, got);
      goto out;
    }
  }
  /* the figures a tenant reads are its own: acme's offered calls over two
   * days, its trend of the 15th against the 14th */
  if (as_login(pg, acme,
               "SELECT offered || ' ' || service_level FROM "
               "analytics.v_calls_total",
               got, sizeof got) != 0 ||
      strcmp(got, "3 0.3333") != 0) {
    fprintf(stderr, "v_calls_total as acme: %s\n", got);
    goto out;
  }
  if (as_login(pg, acme,
               "SELECT value || ' ' || prev_day || ' ' || day_over_day FROM "
               "analytics.v_trends WHERE metric = 'calls_offered' AND day = "
               "'2026-01-15'",
               got, sizeof got) != 0 ||
      strcmp(got, "1 2 -1") != 0) {
    fprintf(stderr, "v_trends as acme: %s\n", got);
    goto out;
  }
  /* readers write nothing through a view */
  if (as_login(pg, acme,
               "DELETE FROM analytics.calls_hour RETURNING 1", got,
               sizeof got) != 0 ||
      strcmp(got, "error 42501") != 0) {
    fprintf(stderr, "a reader deleted: %s\n", got);
    goto out;
  }
  /* a view that would read past row-level security is refused; as
   * security_invoker it is fine */
  CHECK_OK(sb_pg_exec(pg,
                      "CREATE VIEW analytics.v_past AS SELECT * FROM "
                      "analytics.calls_hour; GRANT SELECT ON analytics.v_past "
                      "TO switchboard_reader",
                      0, NULL, &err),
           &err);
  CHECK_INT(sb_projection_check_rls(pg, "analytics", &err), SB_ESTATE);
  CHECK_HAS(err.msg, "table analytics.v_past is a relation (kind v) that "
                     "readers may select");
  sb_err_clear(&err);
  CHECK_OK(sb_pg_exec(pg,
                      "ALTER VIEW analytics.v_past SET (security_invoker = "
                      "true)",
                      0, NULL, &err),
           &err);
  CHECK_OK(sb_projection_check_rls(pg, "analytics", &err), &err);
  if (as_login(pg, globex,
               "SELECT string_agg(DISTINCT tenant_id, ',') FROM "
               "analytics.v_past",
               got, sizeof got) != 0 ||
      strcmp(got, "globex") != 0) {
    fprintf(stderr, "v_past as globex: %s\n", got);
    goto out;
  }
  rc = 0;
out:
  sb_pg_rows_free(views);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  /* logins are the cluster's: dropped from another database */
  char admin[640];
  snprintf(admin, sizeof admin, "%s", url);
  char *slash = strrchr(admin, '/');
  if (slash != NULL) {
    snprintf(slash + 1, sizeof admin - (size_t)(slash + 1 - admin), "postgres");
    sb_pg_t *ad = NULL;
    sb_err_t e2 = SB_ERR_INIT;
    snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s, %s, %s", acme, globex,
             stray);
    if (sb_pg_connect(admin, &ad, &e2) != 0 ||
        sb_pg_exec(ad, sql, 0, NULL, &e2) != 0)
      fprintf(stderr, "dropping the test logins: %s\n", e2.msg);
    sb_pg_close(ad);
  }
  return rc;
}
