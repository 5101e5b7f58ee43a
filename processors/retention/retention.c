/* retention: each tenant's retention policies, enforced on timers.
 *
 * Reads sb.compliance:
 *   retention.policy_set  a tenant's policy for a class (admins only; the
 *                         codec refuses an unknown class or days outside
 *                         0..36500). Per (tenant, class) the latest by
 *                         occurred_at applies (ties: the greater event
 *                         id), kept in keyed state: both are keyed by
 *                         tenant and class, so on one partition. Days 0
 *                         keeps the class for ever (no timer); a class
 *                         with no policy is kept for ever too.
 *   retention.purged      its own decisions, read back into
 *                         retention.purges.
 * A policy of days D sets a wall-clock timer per (tenant, class), due at
 * the next multiple of retention.interval_s; when it fires, the cutoff is
 * the due time less D days and the kit enforces it in the timer's batch:
 * sb_retention_purge for a class of tables (rows dated before the cutoff
 * deleted, and never written again), sb_retention_shred for "subject"
 * (at most retention.shred_max idle subjects a run, each with a
 * subject.erased, trigger retention: no personal data, the subject named
 * by its hash). A run that removed something emits retention.purged with
 * the counts; its id, like the subject.erased ids, derives from the
 * timer's key and due time, so a batch retried after a crash emits the
 * same ids and the kit's derived-event dedupe keeps one. The timer is set
 * again for the next multiple (or in a second when the run stopped at its
 * bound).
 *
 * The audit log declares no class: it is never purged (its chain; it holds
 * ciphertext only, which shredding makes unreadable). */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_US 86400000000LL

static const sb_table_def_t policies_table = {
    .name = "policies",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"class", SB_COL_TEXT, 0},
                               {"days", SB_COL_INT8, SB_MERGE_REPLACE},
                               {"set_by", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"reason", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"set_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
                               {"event_id", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {0}},
    .key = (const char *const[]){"tenant_id", "class", NULL},
};

static const sb_table_def_t purges_table = {
    .name = "purges",
    .cols =
        (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                           {"event_id", SB_COL_TEXT, 0},
                           {"class", SB_COL_TEXT, SB_MERGE_KEEP},
                           {"days", SB_COL_INT8, SB_MERGE_KEEP},
                           {"policy_id", SB_COL_TEXT, SB_MERGE_KEEP},
                           {"cutoff", SB_COL_TIMESTAMPTZ, SB_MERGE_KEEP},
                           {"rows_purged", SB_COL_INT8, SB_MERGE_KEEP},
                           {"tables", SB_COL_TEXT, SB_MERGE_KEEP},
                           {"subjects_shredded", SB_COL_INT8, SB_MERGE_KEEP},
                           {"more", SB_COL_BOOL, SB_MERGE_KEEP},
                           {"purged_at", SB_COL_TIMESTAMPTZ, SB_MERGE_KEEP},
                           {0}},
    /* keyed: a copy of a decision (same id) is one row */
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};

static const sb_table_def_t *const tables[] = {&policies_table, &purges_table,
                                               NULL};

static const sb_proj_step_t migrations[] = {
    {1, "CREATE TABLE {schema}.policies (tenant_id text NOT NULL, class text "
        "NOT NULL, days bigint NOT NULL, set_by text, reason text, set_at "
        "timestamptz NOT NULL, event_id text NOT NULL, PRIMARY KEY "
        "(tenant_id, class));\n"
        "CREATE TABLE {schema}.purges (tenant_id text NOT NULL, event_id text "
        "NOT NULL, class text NOT NULL, days bigint NOT NULL, policy_id text "
        "NOT NULL, cutoff timestamptz NOT NULL, rows_purged bigint NOT NULL, "
        "tables text NOT NULL, subjects_shredded bigint NOT NULL, more "
        "boolean NOT NULL, purged_at timestamptz NOT NULL, PRIMARY KEY "
        "(tenant_id, event_id));\n"
        "GRANT SELECT, INSERT, UPDATE ON {schema}.policies, {schema}.purges "
        "TO switchboard_app;"},
    {0, NULL},
};

typedef struct {
  sb_etype_ref_t set, purged, erased;
  sb_field_t p_class, p_days, p_by, p_reason;
  struct {
    sb_field_t cls, days, policy, cutoff, rows, tables, subjects, more;
  } u;
  struct {
    sb_field_t subject, key, trigger, policy;
  } e;
  int64_t interval_us;
  int shred_max;
  char (*hashes)[SB_RETENTION_HASH_LEN + 1];
} ret_t;

/* A policy as kept in keyed state: "<occurred_at> <days> <event id>". */
typedef struct {
  long long at, days;
  char id[32];
} policy_t;

static int policy_get(sb_batch_t *b, const char *key, policy_t *p) {
  const void *v;
  size_t len;
  char buf[96];
  if (sb_state_get(b, key, &v, &len) != 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, v, len);
  buf[len] = '\0';
  return sscanf(buf, "%lld %lld %31s", &p->at, &p->days, p->id) == 3 ? 0 : -1;
}

static void destroy(void *state) {
  ret_t *r = state;
  if (r)
    free(r->hashes);
  free(r);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  ret_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const sb_schemas_t *s = kit->schemas;
  const char *ps = "retention.policy_set", *pu = "retention.purged",
             *se = "subject.erased";
  const struct {
    const char *type, *path;
    sb_field_t *f;
  } fields[] = {
      {ps, "class", &r->p_class},
      {ps, "days", &r->p_days},
      {ps, "set_by", &r->p_by},
      {ps, "reason", &r->p_reason},
      {pu, "class", &r->u.cls},
      {pu, "days", &r->u.days},
      {pu, "policy_id", &r->u.policy},
      {pu, "cutoff", &r->u.cutoff},
      {pu, "rows_purged", &r->u.rows},
      {pu, "tables", &r->u.tables},
      {pu, "subjects_shredded", &r->u.subjects},
      {pu, "more", &r->u.more},
      {se, "subject_id", &r->e.subject},
      {se, "key_id", &r->e.key},
      {se, "trigger", &r->e.trigger},
      {se, "retention_policy_id", &r->e.policy},
  };
  int interval = 0;
  int rc = sb_codec_type(s, ps, &r->set, err);
  if (rc == 0)
    rc = sb_codec_type(s, pu, &r->purged, err);
  if (rc == 0)
    rc = sb_codec_type(s, se, &r->erased, err);
  for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
    rc = sb_codec_field(s, fields[i].type, fields[i].path, fields[i].f, err);
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "retention.interval_s", &interval, err);
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "retention.shred_max", &r->shred_max, err);
  if (rc == 0 &&
      (r->hashes = calloc((size_t)r->shred_max, sizeof *r->hashes)) == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc != 0) {
    destroy(r);
    return rc;
  }
  r->interval_us = (int64_t)interval * 1000000;
  *state = r;
  return 0;
}

/* The next multiple of the interval after t: the same for every instance
 * and every policy, so runs line up. */
static int64_t next_due(const ret_t *r, int64_t t) {
  return (t / r->interval_us + 1) * r->interval_us;
}

static int timer_key(char *key, size_t n, const char *tenant, const char *cls,
                     sb_err_t *err) {
  /* tenant ids hold no '/' */
  if ((size_t)snprintf(key, n, "%s/%s", tenant, cls) >= n)
    return sb_err_set(err, SB_EVALIDATE, "retention: key too long");
  return 0;
}

static int on_policy(ret_t *r, sb_batch_t *b, const sb_event_t *ev,
                     sb_err_t *err) {
  const char *cls = sb_event_str(ev, r->p_class);
  long long days = sb_event_i64(ev, r->p_days);
  /* the codec refuses these at ingest; a record written past it is
   * refused here (to sb.deadletter, with its provenance) */
  if (!sb_retention_class_ok(cls))
    return sb_err_set(err, SB_EVALIDATE,
                      "retention.policy_set: class '%.40s' is not one of "
                      "lead, call, agent, message, campaign, consent, "
                      "access, security, gamification, subject",
                      cls ? cls : "");
  if (days < 0 || days > 36500)
    return sb_err_set(err, SB_EVALIDATE,
                      "retention.policy_set: days %lld is out of range [0, "
                      "36500]",
                      days);
  char key[160];
  if (timer_key(key, sizeof key, ev->tenant_id, cls, err) != 0)
    return err->code;
  policy_t cur;
  if (policy_get(b, key, &cur) == 0 &&
      (cur.at > ev->occurred_at ||
       (cur.at == ev->occurred_at && strcmp(cur.id, ev->event_id) >= 0)))
    return 0; /* older than the one applied, or seen again */
  char val[96];
  snprintf(val, sizeof val, "%lld %lld %s", (long long)ev->occurred_at, days,
           ev->event_id);
  int rc = sb_state_put(b, key, val, strlen(val), err);
  if (rc == 0)
    rc = days > 0 ? sb_timer_set(b, key, next_due(r, sb_time_now_micros()),
                                 SB_TIMER_WALL, err)
                  : sb_timer_cancel(b, key, err);
  if (rc != 0)
    return rc;
  return sb_rows_add(
      b, &policies_table,
      (const sb_val_t[]){SB_V_TEXT(ev->tenant_id), SB_V_TEXT(cls),
                         SB_V_INT8(days), SB_V_TEXT(sb_event_str(ev, r->p_by)),
                         SB_V_TEXT(sb_event_str(ev, r->p_reason)),
                         SB_V_TIMESTAMPTZ(ev->occurred_at),
                         SB_V_TEXT(ev->event_id)},
      err);
}

static int on_purged(ret_t *r, sb_batch_t *b, const sb_event_t *ev,
                     sb_err_t *err) {
  sb_text_t t = {0};
  for (size_t i = 0; i < sb_event_count(ev, r->u.tables); i++)
    sb_text_add(&t, "%s%s", i ? " " : "", sb_event_str_at(ev, r->u.tables, i));
  if (t.failed) {
    sb_text_free(&t);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  int rc = sb_rows_add(
      b, &purges_table,
      (const sb_val_t[]){SB_V_TEXT(ev->tenant_id), SB_V_TEXT(ev->event_id),
                         SB_V_TEXT(sb_event_str(ev, r->u.cls)),
                         SB_V_INT8(sb_event_i64(ev, r->u.days)),
                         SB_V_TEXT(sb_event_str(ev, r->u.policy)),
                         SB_V_TIMESTAMPTZ(sb_event_i64(ev, r->u.cutoff)),
                         SB_V_INT8(sb_event_i64(ev, r->u.rows)),
                         SB_V_TEXT(t.s ? t.s : ""),
                         SB_V_INT8(sb_event_i64(ev, r->u.subjects)),
                         SB_V_BOOL(sb_event_bool(ev, r->u.more)),
                         SB_V_TIMESTAMPTZ(ev->occurred_at)},
      err);
  sb_text_free(&t);
  return rc;
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  ret_t *r = state;
  if (sb_event_type_is(ev, r->set))
    return on_policy(r, b, ev, err);
  if (sb_event_type_is(ev, r->purged))
    return on_purged(r, b, ev, err);
  return 0;
}

static int emit_erased(ret_t *r, sb_batch_t *b, const char *tenant,
                       const char *hash, const policy_t *pol, sb_err_t *err) {
  sb_build_t *bld = sb_emit_begin(b, r->erased);
  sb_build_str(bld, r->e.subject, hash);
  sb_build_str(bld, r->e.key, hash);
  sb_build_enum(bld, r->e.trigger, "retention");
  sb_build_str(bld, r->e.policy, pol->id);
  return sb_emit_end(
      b, bld, &(sb_emit_t){.discriminator = hash, .tenant_id = tenant}, err);
}

static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  ret_t *r = state;
  char tenant[128], cls[40];
  const char *slash = strchr(t->key, '/');
  if (slash == NULL || (size_t)(slash - t->key) >= sizeof tenant ||
      strlen(slash + 1) >= sizeof cls)
    return sb_err_set(err, SB_EVALIDATE, "retention: timer key '%.80s'",
                      t->key);
  snprintf(tenant, sizeof tenant, "%.*s", (int)(slash - t->key), t->key);
  snprintf(cls, sizeof cls, "%s", slash + 1);
  policy_t pol;
  if (policy_get(b, t->key, &pol) != 0 || pol.days <= 0)
    return 0; /* no policy, or kept for ever */
  int64_t cutoff = t->due_us - (int64_t)pol.days * DAY_US;
  sb_retention_counts_t counts;
  memset(&counts, 0, sizeof counts);
  size_t shredded = 0;
  int more = 0, rc;
  if (strcmp(cls, "subject") == 0) {
    rc = sb_retention_shred(b, tenant, cutoff, (size_t)r->shred_max, r->hashes,
                            &shredded, &more, err);
    for (size_t i = 0; rc == 0 && i < shredded; i++)
      rc = emit_erased(r, b, tenant, r->hashes[i], &pol, err);
  } else {
    rc = sb_retention_purge(b, tenant, cls, cutoff, &counts, err);
  }
  if (rc != 0)
    return rc;
  if (counts.rows > 0 || shredded > 0) {
    char items[SB_RETENTION_TABLES_MAX][200];
    const char *ptrs[SB_RETENTION_TABLES_MAX];
    for (size_t i = 0; i < counts.ntables; i++) {
      snprintf(items[i], sizeof items[i], "%s=%lld", counts.tables[i].table,
               counts.tables[i].rows);
      ptrs[i] = items[i];
    }
    sb_build_t *bld = sb_emit_begin(b, r->purged);
    sb_build_str(bld, r->u.cls, cls);
    sb_build_i64(bld, r->u.days, pol.days);
    sb_build_str(bld, r->u.policy, pol.id);
    sb_build_i64(bld, r->u.cutoff, cutoff);
    sb_build_i64(bld, r->u.rows, counts.rows);
    sb_build_strs(bld, r->u.tables, ptrs, counts.ntables);
    sb_build_i64(bld, r->u.subjects, (int64_t)shredded);
    sb_build_bool(bld, r->u.more, more);
    if ((rc = sb_emit_end(
             b, bld,
             &(sb_emit_t){.discriminator = "purged", .tenant_id = tenant},
             err)) != 0)
      return rc;
  }
  /* the next run: at the next multiple, or soon when this one stopped at
   * its bound */
  int64_t now = sb_time_now_micros();
  int64_t due = more ? now + 1000000 : next_due(r, now);
  return sb_timer_set(b, t->key, due, SB_TIMER_WALL, err);
}

static const sb_conf_prop_t conf_rows[] = {
    {"retention.interval_s", SB_CT_INT, 0, 1, 2678400, "86400",
     "SWITCHBOARD_RETENTION_INTERVAL_S", "S", NULL, 0,
     "How often the retention processor enforces each tenant's policies: "
     "at every multiple of this many seconds (a day by default)."},
    {"retention.shred_max", SB_CT_INT, 0, 1, 100000, "500",
     "SWITCHBOARD_RETENTION_SHRED_MAX", "N", NULL, 0,
     "Idle data subjects the retention processor shreds in one run of a "
     "tenant's subject policy; more are shredded by the next runs, a "
     "second apart."},
    {0},
};

const sb_processor_vt_t sb_retention_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "retention",
    .topics = (const char *const[]){"sb.compliance", NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .timer = timer,
    .destroy = destroy,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .conf = conf_rows,
};
