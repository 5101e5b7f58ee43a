/* rbac: roles and who holds them, as data. See rbac.h. */
#include "rbac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define DOMAIN_TOPICS(r)                                                      \
  {r, "subscribe", "sb.leads"}, {r, "subscribe", "sb.calls"},                 \
  {r, "subscribe", "sb.agents"}, {r, "subscribe", "sb.messages"},             \
  {r, "subscribe", "sb.campaigns"}, {r, "subscribe", "sb.compliance"},        \
  {r, "subscribe", "sb.gamification"}, {r, "subscribe", "sb.routing"}
#define FLOOR_EVENTS(r)                                                       \
  {r, "post_event", "lead.*"}, {r, "post_event", "call.*"},                   \
  {r, "post_event", "voicemail.*"}, {r, "post_event", "agent.*"},             \
  {r, "post_event", "message.*"}, {r, "post_event", "campaign.state_changed"},\
  {r, "post_event", "consent.*"}, {r, "post_event", "dsar.received"},         \
  {r, "post_event", "challenge.created"}

/* A copy of the grants of connectors/auth/sb_auth_roles.c (which this
 * layer may not include): the test rbac_defaults_match_auth fails when the
 * two differ. */
const rbac_grant_t rbac_default_grants[] = {
    {"admin", "post_event", "*"},
    {"admin", "subscribe", "*"},
    {"admin", "read_projection", "*"},
    FLOOR_EVENTS("manager"),
    {"manager", "post_event", "campaign.*"},
    {"manager", "post_event", "reward.*"},
    {"manager", "post_event", "automation.rules_published"},
    {"manager", "post_event", "team.*"},
    {"manager", "post_event", "gamification.rules_published"},
    {"manager", "post_event", "routing.queue_configured"},
    {"manager", "post_event", "template.published"},
    DOMAIN_TOPICS("manager"),
    {"manager", "read_projection", "routing.*"},
    {"manager", "read_projection", "assignment.*"},
    {"manager", "read_projection", "gamification.*"},
    {"manager", "read_projection", "analytics.*"},
    {"manager", "read_projection", "comms.*"},
    {"manager", "read_projection", "compliance.*"},
    {"manager", "read_projection", "campaigns.*"},
    {"manager", "read_projection", "automation.*"},
    FLOOR_EVENTS("supervisor"),
    DOMAIN_TOPICS("supervisor"),
    {"supervisor", "read_projection", "routing.*"},
    {"supervisor", "read_projection", "assignment.*"},
    {"supervisor", "read_projection", "gamification.*"},
    {"supervisor", "read_projection", "analytics.*"},
    {"supervisor", "read_projection", "comms.*"},
    {"supervisor", "read_projection", "campaigns.*"},
    {"agent", "post_event", "call.dispositioned"},
    {"agent", "post_event", "agent.state_changed"},
    {"agent", "post_event", "agent.logged_in"},
    {"agent", "post_event", "agent.logged_out"},
    {"agent", "post_event", "lead.updated"},
    {"agent", "post_event", "lead.status_changed"},
    {"agent", "post_event", "lead.dnc_flagged"},
    {"agent", "post_event", "consent.withdrawn"},
    {"agent", "post_event", "message.requested"},
    {"agent", "post_event", "reward.redemption_requested"},
    {"agent", "subscribe", "sb.calls"},
    {"agent", "subscribe", "sb.leads"},
    {"agent", "subscribe", "sb.agents"},
    {"agent", "subscribe", "sb.messages"},
    {"agent", "subscribe", "sb.gamification"},
    {"agent", "read_projection", "routing.*"},
    {"agent", "read_projection", "gamification.*"},
    {"agent", "read_projection", "analytics.*"},
    {"agent", "read_projection", "comms.messages"},
#ifdef SB_WITH_TEST_PROCESSORS
    /* the kit's test processor (tests/kit/kittest.c: PII per owner) */
    {"manager", "read_projection", "kittest.*"},
    {"supervisor", "read_projection", "kittest.*"},
    {"agent", "read_projection", "kittest.*"},
#endif
    {NULL, NULL, NULL},
};
/* clang-format on */

static const struct {
  const char *name, *desc;
} roles[] = {
    {"admin", "everything in the tenant: grants and revokes roles, reads "
              "every projection including the audit trail"},
    {"manager", "runs the centre: operational events, campaigns and their "
                "budgets, rewards; every projection but the audit trail"},
    {"supervisor", "runs the floor: like a manager, but of campaigns only "
                   "pauses and resumes them; no compliance projections"},
    {"agent", "an agent's desk: its own state, calls and leads"},
};

static const sb_table_def_t roles_table = {
    .name = "roles",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"role", SB_COL_TEXT, 0},
                               {"description", SB_COL_TEXT, SB_MERGE_KEEP},
                               {"builtin", SB_COL_BOOL, SB_MERGE_KEEP},
                               {"seeded_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MIN},
                               {0}},
    .key = (const char *const[]){"tenant_id", "role", NULL},
};

static const sb_table_def_t perms_table = {
    .name = "permissions",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"permission", SB_COL_TEXT, 0},
                               {"kind", SB_COL_TEXT, SB_MERGE_KEEP},
                               {"pattern", SB_COL_TEXT, SB_MERGE_KEEP},
                               {"seeded_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MIN},
                               {0}},
    .key = (const char *const[]){"tenant_id", "permission", NULL},
};

static const sb_table_def_t role_perms_table = {
    .name = "role_permissions",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"role", SB_COL_TEXT, 0},
                               {"permission", SB_COL_TEXT, 0},
                               {"seeded_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MIN},
                               {0}},
    .key = (const char *const[]){"tenant_id", "role", "permission", NULL},
};

/* One row per (tenant, user, role, team): the last event about it decides
 * (events of one user are in one partition, in order). */
static const sb_table_def_t user_roles_table = {
    .name = "user_roles",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"user_id", SB_COL_TEXT, 0},
                               {"role", SB_COL_TEXT, 0},
                               {"team_id", SB_COL_TEXT, 0},
                               {"active", SB_COL_BOOL, SB_MERGE_REPLACE},
                               {"granted_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MAX},
                               {"expires_at", SB_COL_TIMESTAMPTZ,
                                SB_MERGE_REPLACE},
                               {"revoked_at", SB_COL_TIMESTAMPTZ,
                                SB_MERGE_REPLACE},
                               {"changed_by", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"reason", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"event_id", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {0}},
    .key = (const char *const[]){"tenant_id", "user_id", "role", "team_id",
                                 NULL},
};

static const sb_table_def_t tenants_table = {
    .name = "tenants",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"managed_since", SB_COL_TIMESTAMPTZ,
                                SB_MERGE_MIN},
                               {"grants", SB_COL_INT8, SB_MERGE_SUM},
                               {"revocations", SB_COL_INT8, SB_MERGE_SUM},
                               {0}},
    .key = (const char *const[]){"tenant_id", NULL},
};

static const sb_table_def_t *const tables[] = {
    &roles_table,      &perms_table,   &role_perms_table,
    &user_roles_table, &tenants_table, NULL};

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.roles (tenant_id text NOT NULL, role text NOT "
     "NULL, description text NOT NULL, builtin boolean NOT NULL, seeded_at "
     "timestamptz NOT NULL, PRIMARY KEY (tenant_id, role));\n"
     "CREATE TABLE {schema}.permissions (tenant_id text NOT NULL, permission "
     "text NOT NULL, kind text NOT NULL, pattern text NOT NULL, seeded_at "
     "timestamptz NOT NULL, PRIMARY KEY (tenant_id, permission));\n"
     "CREATE TABLE {schema}.role_permissions (tenant_id text NOT NULL, role "
     "text NOT NULL, permission text NOT NULL, seeded_at timestamptz NOT "
     "NULL, PRIMARY KEY (tenant_id, role, permission));\n"
     "CREATE TABLE {schema}.user_roles (tenant_id text NOT NULL, user_id "
     "text NOT NULL, role text NOT NULL, team_id text NOT NULL DEFAULT '', "
     "active boolean NOT NULL, granted_at timestamptz, expires_at "
     "timestamptz, revoked_at timestamptz, changed_by text, reason text, "
     "event_id text NOT NULL, PRIMARY KEY (tenant_id, user_id, role, "
     "team_id));\n"
     "CREATE TABLE {schema}.tenants (tenant_id text NOT NULL PRIMARY KEY, "
     "managed_since timestamptz NOT NULL, grants bigint NOT NULL DEFAULT 0, "
     "revocations bigint NOT NULL DEFAULT 0);\n"
     "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.roles, "
     "{schema}.permissions, {schema}.role_permissions, {schema}.user_roles, "
     "{schema}.tenants TO switchboard_app;\n"
     /* the API's caches follow these two tables: a change notifies the
      * tenant when its batch commits */
     "CREATE FUNCTION {schema}.notify_change() RETURNS trigger LANGUAGE "
     "plpgsql AS $f$ BEGIN PERFORM pg_notify('sb_rbac', CASE WHEN TG_OP = "
     "'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END); RETURN NULL; END "
     "$f$;\n"
     "CREATE TRIGGER notify_change AFTER INSERT OR UPDATE OR DELETE ON "
     "{schema}.user_roles FOR EACH ROW EXECUTE FUNCTION "
     "{schema}.notify_change();\n"
     "CREATE TRIGGER notify_change AFTER INSERT OR UPDATE OR DELETE ON "
     "{schema}.tenants FOR EACH ROW EXECUTE FUNCTION "
     "{schema}.notify_change();"},
    {0, NULL},
};

typedef struct {
  sb_etype_ref_t granted, revoked, tenant_created;
  sb_field_t g_user, g_role, g_team, g_expires, g_reason, g_actor;
  sb_field_t r_user, r_role, r_team, r_reason, r_actor;
} rbac_t;

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  rbac_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const sb_schemas_t *s = kit->schemas;
  const struct {
    const char *type, *field;
    sb_field_t *out;
  } fields[] = {
      {"role.granted", "user_id", &x->g_user},
      {"role.granted", "role", &x->g_role},
      {"role.granted", "team_id", &x->g_team},
      {"role.granted", "expires_at", &x->g_expires},
      {"role.granted", "reason", &x->g_reason},
      {"role.granted", "actor.user_id", &x->g_actor},
      {"role.revoked", "user_id", &x->r_user},
      {"role.revoked", "role", &x->r_role},
      {"role.revoked", "team_id", &x->r_team},
      {"role.revoked", "reason", &x->r_reason},
      {"role.revoked", "actor.user_id", &x->r_actor},
  };
  int rc = sb_codec_type(s, "role.granted", &x->granted, err);
  if (rc == 0)
    rc = sb_codec_type(s, "role.revoked", &x->revoked, err);
  if (rc == 0)
    rc = sb_codec_type(s, "tenant.created", &x->tenant_created, err);
  for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
    rc = sb_codec_field(s, fields[i].type, fields[i].field, fields[i].out,
                        err);
  if (rc != 0) {
    free(x);
    return rc;
  }
  *state = x;
  return 0;
}

static void destroy(void *state) { free(state); }

/* The default roles and permissions of tenant (upserts that keep what is
 * there: a tenant's rows are written once, seeded_at the earliest event). */
static int seed(sb_batch_t *b, const char *tenant, int64_t at,
                sb_err_t *err) {
  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
    if (sb_rows_add(b, &roles_table,
                    (const sb_val_t[]){SB_V_TEXT(tenant),
                                       SB_V_TEXT(roles[i].name),
                                       SB_V_TEXT(roles[i].desc),
                                       SB_V_BOOL(1), SB_V_TIMESTAMPTZ(at)},
                    err) != 0)
      return err->code;
  char perm[160];
  for (const rbac_grant_t *g = rbac_default_grants; g->role; g++) {
    snprintf(perm, sizeof perm, "%s:%s", g->kind, g->pattern);
    if (sb_rows_add(b, &perms_table,
                    (const sb_val_t[]){SB_V_TEXT(tenant), SB_V_TEXT(perm),
                                       SB_V_TEXT(g->kind),
                                       SB_V_TEXT(g->pattern),
                                       SB_V_TIMESTAMPTZ(at)},
                    err) != 0 ||
        sb_rows_add(b, &role_perms_table,
                    (const sb_val_t[]){SB_V_TEXT(tenant), SB_V_TEXT(g->role),
                                       SB_V_TEXT(perm), SB_V_TIMESTAMPTZ(at)},
                    err) != 0)
      return err->code;
  }
  return 0;
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  rbac_t *x = state;
  if (sb_event_type_is(ev, x->tenant_created))
    return seed(b, ev->tenant_id, ev->occurred_at, err);
  int grant = sb_event_type_is(ev, x->granted);
  if (!grant && !sb_event_type_is(ev, x->revoked))
    return 0;
  const char *user = sb_event_str(ev, grant ? x->g_user : x->r_user);
  const char *role = sb_event_enum_name(ev, grant ? x->g_role : x->r_role);
  const char *team = sb_event_str(ev, grant ? x->g_team : x->r_team);
  const char *reason = sb_event_str(ev, grant ? x->g_reason : x->r_reason);
  const char *actor = sb_event_str(ev, grant ? x->g_actor : x->r_actor);
  if (user == NULL || role == NULL)
    return sb_err_set(err, SB_EVALIDATE, "rbac: %s without user_id or role",
                      grant ? "role.granted" : "role.revoked");
  int64_t expires = grant && sb_event_has(ev, x->g_expires)
                        ? sb_event_i64(ev, x->g_expires)
                        : 0;
  sb_val_t none = SB_V_NULL;
  if (seed(b, ev->tenant_id, ev->occurred_at, err) != 0 ||
      sb_rows_add(b, &tenants_table,
                  (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                     SB_V_TIMESTAMPTZ(ev->occurred_at),
                                     SB_V_INT8(grant), SB_V_INT8(!grant)},
                  err) != 0)
    return err->code;
  return sb_rows_add(
      b, &user_roles_table,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id), SB_V_TEXT(user), SB_V_TEXT(role),
          SB_V_TEXT(team ? team : ""), SB_V_BOOL(grant),
          grant ? (sb_val_t)SB_V_TIMESTAMPTZ(ev->occurred_at) : none,
          expires ? (sb_val_t)SB_V_TIMESTAMPTZ(expires) : none,
          grant ? none : (sb_val_t)SB_V_TIMESTAMPTZ(ev->occurred_at),
          SB_V_TEXT(actor), SB_V_TEXT(reason), SB_V_TEXT(ev->event_id)},
      err);
}

const sb_processor_vt_t sb_rbac_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "rbac",
    .topics = (const char *const[]){"sb.compliance", "sb.tenants", NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
};
