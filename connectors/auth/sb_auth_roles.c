/* Roles and what each may do, what an agent may act on, and the rules a
 * token's claims follow. See sb_auth.h. */
#include "sb_auth_int.h"

#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *const role_names[SB_ROLE_COUNT] = {
    [SB_ROLE_ADMIN] = "admin",
    [SB_ROLE_MANAGER] = "manager",
    [SB_ROLE_SUPERVISOR] = "supervisor",
    [SB_ROLE_AGENT] = "agent",
};

static const struct {
  const char *name, *desc;
} reasons[] = {
#define X(name, str, desc) {str, desc},
    SB_AUTH_REASON_MAP(X)
#undef X
};

const char *sb_role_name(sb_role_t role) {
  return (unsigned)role < SB_ROLE_COUNT ? role_names[role] : "unknown";
}

int sb_role_parse(const char *name, sb_role_t *out, sb_err_t *err) {
  for (int i = 0; name && i < SB_ROLE_COUNT; i++)
    if (strcmp(name, role_names[i]) == 0) {
      *out = (sb_role_t)i;
      return 0;
    }
  char safe[80];
  return sb_err_set(err, SB_EINVAL,
                    "unknown role '%s': use admin, manager, supervisor or "
                    "agent",
                    sb__auth_safe_text(name, safe, sizeof safe));
}

const char *sb_perm_name(sb_perm_t perm) {
  switch (perm) {
  case SB_PERM_POST_EVENT:
    return "post_event";
  case SB_PERM_SUBSCRIBE:
    return "subscribe";
  case SB_PERM_READ_PROJECTION:
    return "read_projection";
  }
  return "unknown";
}

const char *sb_auth_reason_name(sb_auth_reason_t reason) {
  return (unsigned)reason < SB_ARRAY_LEN(reasons) ? reasons[reason].name
                                                  : "unknown";
}

const char *sb_auth_reason_desc(sb_auth_reason_t reason) {
  return (unsigned)reason < SB_ARRAY_LEN(reasons) ? reasons[reason].desc
                                                  : "unknown reason";
}

/* Copies text that came from outside into a message: at most 64 bytes,
 * anything but [A-Za-z0-9._:*-] shown as '?', so a message never carries
 * control characters or more than a short excerpt. */
const char *sb__auth_safe_text(const char *in, char *out, size_t outsz) {
  size_t n = 0;
  for (; in && in[n] && n + 1 < outsz && n < 64; n++) {
    char ch = in[n];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || strchr("._:*-", ch) != NULL;
    out[n] = ok ? ch : '?';
  }
  out[n] = '\0';
  if (in && in[n] && n >= 3)
    memcpy(out + n - 3, "...", 3);
  return out;
}

/* Event types no role may post: processors derive them (the `*` entries of
 * DESIGN.md's catalogue) or the engine records them (every authentication
 * failure and denied access). Consulted before the grants, so a grant like
 * "lead.*" never lets anyone forge lead.scored. A new processor-written
 * type is added here. */
static const struct {
  const char *pattern;
  const char *writer;
} reserved[] = {
    {"lead.scored", "the routing processor"},
    {"lead.engaged", "the routing processor"},
    {"lead.assigned", "the assignment processor"},
    {"routing.decision", "the assignment processor"},
    {"routing.input", "the routing processor"},
    {"automation.fired", "the automation processor"},
    {"message.blocked", "the comms processor"},
    {"message.submitted", "the comms processor"},
    {"dsar.completed", "the compliance processor"},
    {"subject.erased", "the compliance processor"},
    {"consent.opt_out_honoured", "the compliance processor"},
    {"retention.purged", "the retention processor"},
    {"lead.attempt_recorded", "the campaigns processor"},
    {"points.*", "the gamification processor"},
    {"badge.*", "the gamification processor"},
    {"challenge.score_updated", "the gamification processor"},
    {"challenge.won", "the gamification processor"},
    {"challenge.opened", "the gamification processor"},
    {"challenge.closed", "the gamification processor"},
    {"leaderboard.*", "the gamification processor"},
    {"gamification.input", "the gamification processor"},
    {"challenge.input", "the gamification processor"},
    {"reward.redemption_settled", "the gamification processor"},
    {"security.*", "the engine"},
    {"access.recorded", "the engine"},
};

/* What each role may do, within its own tenant (the tenant check and the
 * per-agent filtering of live events are elsewhere). Patterns are globs in
 * which '*' matches any run of characters. Projections are named
 * "<processor>.<projection>" ("analytics.call_stats").
 *
 * admin       everything: every event type not reserved above (including
 *             role.granted / role.revoked, which only admins post), every
 *             topic including sb.deadletter, every projection including
 *             audit.*.
 * manager     runs the centre: posts the operational events (leads, calls,
 *             agents, messages, campaigns with their budgets, consent, DSAR
 *             requests, challenges, teams, point rules, queues'
 *             configuration, and decides reward redemptions) and the
 *             tenant's automation rules and message templates
 *             (template.published; provider accounts, provider.configured,
 *             are the admin's alone);
 *             subscribes to every domain topic (and sb.routing, the routing
 *             decisions); reads every projection but the audit trail.
 * supervisor  runs the floor: like a manager, but of campaigns only pauses
 *             and resumes them (campaign.state_changed; creating, changing
 *             and spend are the manager's), decides no rewards, and reads
 *             no compliance projections (consent states, DSAR workflow).
 * agent       what an agent's desk does: dispositions calls, changes its own
 *             state, logs in and out, updates the leads it works, records a
 *             do-not-call request or a withdrawn consent heard on a call
 *             (restrictions only: giving consent is not an agent's to
 *             record), requests messages and reward redemptions. Subscribes
 *             to the topics of its desk and reads routing (its assignments)
 *             and gamification (its points, badges, leaderboards). */
typedef sb_auth_grant_t grant_t;

/* clang-format off */
#define DOMAIN_TOPICS(role)                                                   \
  {role, SB_PERM_SUBSCRIBE, "sb.leads"},                                      \
  {role, SB_PERM_SUBSCRIBE, "sb.calls"},                                      \
  {role, SB_PERM_SUBSCRIBE, "sb.agents"},                                     \
  {role, SB_PERM_SUBSCRIBE, "sb.messages"},                                   \
  {role, SB_PERM_SUBSCRIBE, "sb.campaigns"},                                  \
  {role, SB_PERM_SUBSCRIBE, "sb.compliance"},                                 \
  {role, SB_PERM_SUBSCRIBE, "sb.gamification"},                               \
  {role, SB_PERM_SUBSCRIBE, "sb.routing"}

/* The operational events managers and supervisors share. */
#define FLOOR_EVENTS(role)                                                    \
  {role, SB_PERM_POST_EVENT, "lead.*"},                                       \
  {role, SB_PERM_POST_EVENT, "call.*"},                                       \
  {role, SB_PERM_POST_EVENT, "voicemail.*"},                                  \
  {role, SB_PERM_POST_EVENT, "agent.*"},                                      \
  {role, SB_PERM_POST_EVENT, "message.*"},                                    \
  {role, SB_PERM_POST_EVENT, "campaign.state_changed"},                       \
  {role, SB_PERM_POST_EVENT, "consent.*"},                                    \
  {role, SB_PERM_POST_EVENT, "dsar.received"},                                \
  {role, SB_PERM_POST_EVENT, "challenge.created"}
/* clang-format on */

static const grant_t grants[] = {
    {SB_ROLE_ADMIN, SB_PERM_POST_EVENT, "*"},
    {SB_ROLE_ADMIN, SB_PERM_SUBSCRIBE, "*"},
    {SB_ROLE_ADMIN, SB_PERM_READ_PROJECTION, "*"},

    FLOOR_EVENTS(SB_ROLE_MANAGER),
    {SB_ROLE_MANAGER, SB_PERM_POST_EVENT, "campaign.*"},
    {SB_ROLE_MANAGER, SB_PERM_POST_EVENT, "reward.*"},
    {SB_ROLE_MANAGER, SB_PERM_POST_EVENT, "automation.rules_published"},
    {SB_ROLE_MANAGER, SB_PERM_POST_EVENT, "team.*"},
    {SB_ROLE_MANAGER, SB_PERM_POST_EVENT, "gamification.rules_published"},
    {SB_ROLE_MANAGER, SB_PERM_POST_EVENT, "routing.queue_configured"},
    {SB_ROLE_MANAGER, SB_PERM_POST_EVENT, "template.published"},
    DOMAIN_TOPICS(SB_ROLE_MANAGER),
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "routing.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "assignment.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "gamification.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "analytics.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "comms.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "compliance.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "campaigns.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "automation.*"},

    FLOOR_EVENTS(SB_ROLE_SUPERVISOR),
    DOMAIN_TOPICS(SB_ROLE_SUPERVISOR),
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "routing.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "assignment.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "gamification.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "analytics.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "comms.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "campaigns.*"},

    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "call.dispositioned"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "agent.state_changed"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "agent.logged_in"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "agent.logged_out"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "lead.updated"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "lead.status_changed"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "lead.dnc_flagged"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "consent.withdrawn"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "message.requested"},
    {SB_ROLE_AGENT, SB_PERM_POST_EVENT, "reward.redemption_requested"},
    {SB_ROLE_AGENT, SB_PERM_SUBSCRIBE, "sb.calls"},
    {SB_ROLE_AGENT, SB_PERM_SUBSCRIBE, "sb.leads"},
    {SB_ROLE_AGENT, SB_PERM_SUBSCRIBE, "sb.agents"},
    {SB_ROLE_AGENT, SB_PERM_SUBSCRIBE, "sb.messages"},
    {SB_ROLE_AGENT, SB_PERM_SUBSCRIBE, "sb.gamification"},
    {SB_ROLE_AGENT, SB_PERM_READ_PROJECTION, "routing.*"},
    {SB_ROLE_AGENT, SB_PERM_READ_PROJECTION, "gamification.*"},
    {SB_ROLE_AGENT, SB_PERM_READ_PROJECTION, "analytics.*"},
    /* its own messages (owner_col agent_id), nothing else of comms */
    {SB_ROLE_AGENT, SB_PERM_READ_PROJECTION, "comms.messages"},
#ifdef SB_WITH_TEST_PROCESSORS
    /* the kit's test processor, in builds with the test suite only
     * (tests/kit/kittest.c: the read API's PII rule per owner) */
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "kittest.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "kittest.*"},
    {SB_ROLE_AGENT, SB_PERM_READ_PROJECTION, "kittest.*"},
#endif
};

const sb_auth_grant_t *sb_auth_grants(size_t *n) {
  *n = SB_ARRAY_LEN(grants);
  return grants;
}

/* '*' matches any run of characters, everything else itself. */
static int glob_match(const char *p, const char *s) {
  for (; *p; p++, s++) {
    if (*p == '*') {
      while (p[1] == '*')
        p++;
      for (;; s++) {
        if (glob_match(p + 1, s))
          return 1;
        if (*s == '\0')
          return 0;
      }
    }
    if (*s != *p)
      return 0;
  }
  return *s == '\0';
}

static const char *reserved_writer(const char *type) {
  for (size_t i = 0; i < SB_ARRAY_LEN(reserved); i++)
    if (glob_match(reserved[i].pattern, type))
      return reserved[i].writer;
  return NULL;
}

int sb_auth_allows(sb_role_t role, sb_perm_t perm, const char *what) {
  if (what == NULL || *what == '\0')
    return 0;
  if (perm == SB_PERM_POST_EVENT && reserved_writer(what) != NULL)
    return 0;
  for (size_t i = 0; i < SB_ARRAY_LEN(grants); i++)
    if (grants[i].role == role && grants[i].perm == perm &&
        glob_match(grants[i].pattern, what))
      return 1;
  return 0;
}

int sb_auth_check(sb_role_t role, sb_perm_t perm, const char *what,
                  sb_err_t *err) {
  if (sb_auth_allows(role, perm, what))
    return 0;
  char safe[80];
  sb__auth_safe_text(what, safe, sizeof safe);
  const char *writer =
      perm == SB_PERM_POST_EVENT && what ? reserved_writer(what) : NULL;
  if (writer != NULL)
    return sb_err_set(err, SB_EPERM,
                      "no role may post %s: it is written by %s only", safe,
                      writer);
  static const char *const verbs[] = {
      [SB_PERM_POST_EVENT] = "post",
      [SB_PERM_SUBSCRIBE] = "subscribe to",
      [SB_PERM_READ_PROJECTION] = "read",
  };
  const char *verb =
      (unsigned)perm < SB_ARRAY_LEN(verbs) ? verbs[perm] : "do anything with";
  if (what == NULL || *what == '\0')
    return sb_err_set(err, SB_EPERM, "role %s: nothing was named to %s",
                      sb_role_name(role), verb);
  return sb_err_set(err, SB_EPERM, "role %s may not %s %s", sb_role_name(role),
                    verb, safe);
}

int sb_auth_tenant_check(const sb_claims_t *c, const char *event_tenant,
                         sb_err_t *err) {
  if (event_tenant == NULL || *event_tenant == '\0' ||
      strcmp(c->tenant, event_tenant) == 0)
    return 0;
  char safe[80];
  return sb_err_set(err, SB_EPERM,
                    "the token's tenant is %s; the event names %s", c->tenant,
                    sb__auth_safe_text(event_tenant, safe, sizeof safe));
}

/* One row per event type the agent role may post (the grants above): which
 * attributes must name the agent itself, and which must name a call or a
 * lead that is the agent's (see sb_hub.h for how a server learns that: the
 * last lead.assigned, call.started, call.offered, call.connected or
 * call.transferred about it). "subject" is the CloudEvent's subject, the
 * others are data fields; a self field is checked when present (the schema
 * requires it where it must be), an owned one must be present. */
static const struct {
  const char *type;
  const char *self[2]; /* must be the token's sub */
  const char *owned;   /* a call or lead that must be the agent's */
  const char *what;    /* "call" or "lead", for messages */
} agent_rules[] = {
    {"agent.state_changed", {"subject", "agent_id"}, NULL, NULL},
    {"agent.logged_in", {"subject", "agent_id"}, NULL, NULL},
    {"agent.logged_out", {"subject", "agent_id"}, NULL, NULL},
    {"reward.redemption_requested", {"agent_id", NULL}, NULL, NULL},
    {"call.dispositioned", {"agent_id", NULL}, "subject", "call"},
    {"lead.updated", {NULL, NULL}, "subject", "lead"},
    {"lead.status_changed", {"agent_id", NULL}, "subject", "lead"},
    {"lead.dnc_flagged", {NULL, NULL}, "subject", "lead"},
    {"consent.withdrawn", {NULL, NULL}, "call_id", "call"},
    {"message.requested", {"agent_id", NULL}, "lead_id", "lead"},
};

/* The attribute name of an event ("subject") or of its data ("agent_id"):
 * its string value, NULL when absent; *bad set when present but not a
 * string. */
static const char *ce_attr(const cJSON *ce, const char *name, int *bad) {
  const cJSON *v = strcmp(name, "subject") == 0
                       ? cJSON_GetObjectItemCaseSensitive(ce, "subject")
                       : cJSON_GetObjectItemCaseSensitive(
                             cJSON_GetObjectItemCaseSensitive(ce, "data"),
                             name);
  if (v == NULL || cJSON_IsNull(v))
    return NULL;
  if (!cJSON_IsString(v)) {
    *bad = 1;
    return NULL;
  }
  return v->valuestring;
}

int sb_auth_agent_object_check(const sb_claims_t *who, const cJSON *ce,
                               sb_auth_owner_fn owner, void *ctx,
                               sb_err_t *err) {
  if (who->role != SB_ROLE_AGENT)
    return 0;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(ce, "type");
  if (!cJSON_IsString(t))
    return 0; /* the converter names what is missing */
  char safe[80], sub[80];
  sb__auth_safe_text(who->sub, sub, sizeof sub);
  size_t r = 0;
  while (r < SB_ARRAY_LEN(agent_rules) &&
         strcmp(agent_rules[r].type, t->valuestring) != 0)
    r++;
  if (r == SB_ARRAY_LEN(agent_rules))
    return sb_err_set(err, SB_EPERM,
                      "role agent may not post %s: no rule says what an "
                      "agent may act on with it",
                      sb__auth_safe_text(t->valuestring, safe, sizeof safe));
  int bad = 0;
  for (int i = 0; i < 2 && agent_rules[r].self[i]; i++) {
    const char *f = agent_rules[r].self[i];
    const char *v = ce_attr(ce, f, &bad);
    if (v != NULL && strcmp(v, who->sub) != 0)
      return sb_err_set(err, SB_EPERM,
                        "%s%s: '%s' is not the token's subject '%s': an agent "
                        "posts %s only about itself",
                        strcmp(f, "subject") == 0 ? "" : "data.", f,
                        sb__auth_safe_text(v, safe, sizeof safe), sub,
                        t->valuestring);
  }
  const char *f = agent_rules[r].owned;
  if (f == NULL)
    return 0;
  const char *path = strcmp(f, "subject") == 0 ? "" : "data.";
  const char *entity = ce_attr(ce, f, &bad);
  if (entity == NULL)
    return sb_err_set(err, SB_EPERM,
                      "%s%s: an agent posts %s only about a %s of its own; "
                      "name it",
                      path, f, t->valuestring, agent_rules[r].what);
  const cJSON *tn = cJSON_GetObjectItemCaseSensitive(ce, "tenantid");
  const char *tenant = cJSON_IsString(tn) ? tn->valuestring : who->tenant;
  int own = owner ? owner(ctx, tenant, entity, who->sub) : -1;
  if (own == 1)
    return 0;
  sb__auth_safe_text(entity, safe, sizeof safe);
  if (own == 0)
    return sb_err_set(err, SB_EPERM,
                      "%s%s: %s %s belongs to another agent, not to '%s'",
                      path, f, agent_rules[r].what, safe, sub);
  return sb_err_set(err, SB_EPERM,
                    "%s%s: this server does not know %s %s as '%s''s (it "
                    "learns owners from the live stream: lead.assigned, "
                    "call.started, call.offered, call.connected, "
                    "call.transferred); a supervisor may post it",
                    path, f, agent_rules[r].what, safe, sub);
}

int sb_auth_sub_valid(const char *s) {
  size_t n = 0;
  for (; s && s[n]; n++) {
    unsigned char ch = (unsigned char)s[n];
    if (ch < 0x20 || ch == 0x7f || n >= SB_AUTH_SUB_MAX)
      return 0;
  }
  return n >= 1;
}

int sb_auth_lifetime_check(const sb_claims_t *c, int64_t now_s,
                           int64_t max_ttl_s, sb_err_t *err) {
  int64_t from = c->iat > 0 ? c->iat : now_s;
  if (c->exp - from <= max_ttl_s)
    return 0;
  return sb_err_set(err, SB_EPERM,
                    "the token lives %lld s (exp - %s); "
                    "auth.max_token_ttl_seconds allows at most %lld s: mint "
                    "a shorter-lived token",
                    (long long)(c->exp - from), c->iat > 0 ? "iat" : "now",
                    (long long)max_ttl_s);
}

int sb_auth_claims_check(const sb_claims_t *c, sb_err_t *err) {
  if (!sb_auth_sub_valid(c->sub))
    return sb_err_set(err, SB_EINVAL,
                      "sub must be 1 to %d bytes without "
                      "control characters",
                      SB_AUTH_SUB_MAX);
  if (!sb_tenant_valid(c->tenant))
    return sb_err_set(err, SB_EINVAL,
                      "tenant must be 1 to %d of A-Z a-z 0-9 "
                      ". _ -",
                      SB_TENANT_MAX);
  if (sb_tenant_reserved(c->tenant))
    return sb_err_set(err, SB_EINVAL,
                      "tenant may not begin with '_': those names are "
                      "reserved for the engine");
  if ((unsigned)c->role >= SB_ROLE_COUNT)
    return sb_err_set(err, SB_EINVAL,
                      "role must be admin, manager, supervisor or agent");
  if (c->iat < 0 || c->exp <= c->iat || (double)c->exp > INT_CLAIM_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "exp must come after iat (both seconds since 1970)");
  return 0;
}
