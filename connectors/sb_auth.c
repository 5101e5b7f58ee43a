/* Tokens and roles. See sb_auth.h.
 *
 * A token is a compact JWS (RFC 7515) signed with HMAC-SHA256 (RFC 7518
 * "HS256") over a secret kept in the data directory. Verification is strict
 * and in this order, so that nothing an attacker sends is trusted before the
 * signature is checked: size, shape, base64url, header (alg), signature,
 * then claims and times. */
#include "sb_auth.h"

#include "sb_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAC_LEN 32                        /* SHA-256 */
#define PART_MAX (SB_JWT_MAX / 4 * 3 + 3) /* decoded size of any part */
#define INT_CLAIM_MAX 9007199254740992.0  /* 2^53: exact in a double */

/* ---- names ------------------------------------------------------------ */

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

static const char *safe_text(const char *in, char *out, size_t outsz);

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
                    safe_text(name, safe, sizeof safe));
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
static const char *safe_text(const char *in, char *out, size_t outsz) {
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

/* ---- permissions ------------------------------------------------------- */

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
    {"lead.assigned", "the routing processor"},
    {"message.blocked", "the comms processor"},
    {"message.submitted", "the comms processor"},
    {"dsar.completed", "the compliance processor"},
    {"subject.erased", "the compliance processor"},
    {"points.*", "the gamification processor"},
    {"badge.*", "the gamification processor"},
    {"challenge.score_updated", "the gamification processor"},
    {"challenge.won", "the gamification processor"},
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
 *             requests, challenges, and decides reward redemptions);
 *             subscribes to every domain topic; reads every projection but
 *             the audit trail.
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
typedef struct {
  sb_role_t role;
  sb_perm_t perm;
  const char *pattern;
} grant_t;

/* clang-format off */
#define DOMAIN_TOPICS(role)                                                   \
  {role, SB_PERM_SUBSCRIBE, "sb.leads"},                                      \
  {role, SB_PERM_SUBSCRIBE, "sb.calls"},                                      \
  {role, SB_PERM_SUBSCRIBE, "sb.agents"},                                     \
  {role, SB_PERM_SUBSCRIBE, "sb.messages"},                                   \
  {role, SB_PERM_SUBSCRIBE, "sb.campaigns"},                                  \
  {role, SB_PERM_SUBSCRIBE, "sb.compliance"},                                 \
  {role, SB_PERM_SUBSCRIBE, "sb.gamification"}

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
    DOMAIN_TOPICS(SB_ROLE_MANAGER),
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "routing.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "gamification.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "analytics.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "comms.*"},
    {SB_ROLE_MANAGER, SB_PERM_READ_PROJECTION, "compliance.*"},

    FLOOR_EVENTS(SB_ROLE_SUPERVISOR),
    DOMAIN_TOPICS(SB_ROLE_SUPERVISOR),
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "routing.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "gamification.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "analytics.*"},
    {SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION, "comms.*"},

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
};

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
  safe_text(what, safe, sizeof safe);
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
                    safe_text(event_tenant, safe, sizeof safe));
}

/* ---- what an agent may act on ------------------------------------------ */

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
  safe_text(who->sub, sub, sizeof sub);
  size_t r = 0;
  while (r < SB_ARRAY_LEN(agent_rules) &&
         strcmp(agent_rules[r].type, t->valuestring) != 0)
    r++;
  if (r == SB_ARRAY_LEN(agent_rules))
    return sb_err_set(err, SB_EPERM,
                      "role agent may not post %s: no rule says what an "
                      "agent may act on with it",
                      safe_text(t->valuestring, safe, sizeof safe));
  int bad = 0;
  for (int i = 0; i < 2 && agent_rules[r].self[i]; i++) {
    const char *f = agent_rules[r].self[i];
    const char *v = ce_attr(ce, f, &bad);
    if (v != NULL && strcmp(v, who->sub) != 0)
      return sb_err_set(err, SB_EPERM,
                        "%s%s: '%s' is not the token's subject '%s': an agent "
                        "posts %s only about itself",
                        strcmp(f, "subject") == 0 ? "" : "data.", f,
                        safe_text(v, safe, sizeof safe), sub, t->valuestring);
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
  safe_text(entity, safe, sizeof safe);
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

/* ---- claims ------------------------------------------------------------ */

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

/* ---- base64url (RFC 4648 section 5, no padding) ------------------------ */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

/* Writes b64_len(n) characters and a NUL. */
static void b64_encode(const unsigned char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
    out[o++] = b64url[v & 63];
  }
  if (n - i == 1) {
    unsigned v = (unsigned)in[i] << 16;
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
  } else if (n - i == 2) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
  }
  out[o] = '\0';
}

static int b64_val(char ch) {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '-')
    return 62;
  if (ch == '_')
    return 63;
  return -1;
}

/* Decodes exactly the canonical encoding: the alphabet only, no padding,
 * and the unused low bits of the last character zero (so one byte string
 * has one spelling and a signature cannot be altered unnoticed). out holds
 * n/4*3+2 bytes and gets a NUL after the data. -1 when not canonical. */
static int b64_decode(const char *in, size_t n, unsigned char *out,
                      size_t *outlen) {
  if (n % 4 == 1)
    return -1;
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_val(in[i]);
    if (v < 0)
      return -1;
    acc = (acc << 6 | (unsigned)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return -1;
  out[o] = '\0';
  *outlen = o;
  return 0;
}

/* ---- JSON -------------------------------------------------------------- */

/* Parses text (NUL-terminated, n bytes) as one JSON object and nothing
 * after it. Refuses what cJSON would read ambiguously: a NUL byte or a
 * \u0000 escape (cJSON ends the string there), and a key twice (cJSON
 * would answer with the first). NULL when refused. */
static cJSON *parse_object(const unsigned char *text, size_t n) {
  if (memchr(text, '\0', n) != NULL)
    return NULL;
  for (size_t i = 0; i + 1 < n; i++) {
    if (text[i] != '\\')
      continue;
    if (text[i + 1] == 'u' && i + 5 < n && memcmp(text + i + 2, "0000", 4) == 0)
      return NULL;
    i++; /* skip the escaped character */
  }
  cJSON *o = cJSON_ParseWithOpts((const char *)text, NULL, 1);
  if (o == NULL)
    return NULL;
  if (!cJSON_IsObject(o))
    goto bad;
  for (const cJSON *a = o->child; a; a = a->next)
    for (const cJSON *b = a->next; b; b = b->next)
      if (strcmp(a->string, b->string) == 0)
        goto bad;
  return o;
bad:
  cJSON_Delete(o);
  return NULL;
}

/* An integer claim: 1 present and good, 0 absent, -1 not an integer in
 * [0, 2^53]. */
static int int_claim(const cJSON *o, const char *key, int64_t *v) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  if (it == NULL)
    return 0;
  if (!cJSON_IsNumber(it))
    return -1;
  double d = it->valuedouble;
  if (!isfinite(d) || d < 0 || d > INT_CLAIM_MAX || floor(d) != d)
    return -1;
  *v = (int64_t)d;
  return 1;
}

/* ---- the secret -------------------------------------------------------- */

/* Reads and checks an existing secret file; SB_ENOENT when there is none. */
static int read_secret(const char *path, unsigned char *secret, size_t *len,
                       sb_err_t *err) {
  char buf[512];
  int rc = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT)
      return SB_ENOENT; /* the caller says what to do about it */
    return sb_err_set(err, SB_EIO, "cannot open the JWT secret %s: %s", path,
                      strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = sb_err_set(err, SB_EIO, "cannot stat %s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = sb_err_set(err, SB_EINVAL, "the JWT secret %s is not a regular file",
                    path);
    goto out;
  }
  if ((st.st_mode & 077) != 0) {
    rc = sb_err_set(err, SB_EPERM,
                    "the JWT secret %s is accessible to group or others "
                    "(mode %04o): run 'chmod 600 %s'",
                    path, (unsigned)(st.st_mode & 07777), path);
    goto out;
  }
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = sb_err_set(err, SB_EIO, "cannot read %s: %s", path, strerror(errno));
      goto out;
    }
    if (r == 0 || (n += (size_t)r) == sizeof buf - 1)
      break;
  }
  buf[n] = '\0';
  char *hex = sb_trim(buf);
  size_t hn = strlen(hex);
  if (hn < 2 * SB_AUTH_SECRET_MIN || hn > 2 * SB_AUTH_SECRET_MAX || hn % 2) {
    rc = sb_err_set(err, SB_EINVAL,
                    "the JWT secret %s must hold %d to %d hex digits (%d to "
                    "%d bytes); it holds %zu characters",
                    path, 2 * SB_AUTH_SECRET_MIN, 2 * SB_AUTH_SECRET_MAX,
                    SB_AUTH_SECRET_MIN, SB_AUTH_SECRET_MAX, hn);
    goto out;
  }
  for (size_t i = 0; i < hn; i += 2) {
    int hi = sb_hex_nibble(hex[i]), lo = sb_hex_nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(secret, i / 2);
      rc = sb_err_set(err, SB_EINVAL,
                      "the JWT secret %s holds a character that is not a hex "
                      "digit (at offset %zu)",
                      path, i + (hi < 0 ? 0 : 1));
      goto out;
    }
    secret[i / 2] = (unsigned char)(hi << 4 | lo);
  }
  *len = hn / 2;
out:
  OPENSSL_cleanse(buf, sizeof buf);
  close(fd);
  return rc;
}

/* Makes a new secret at path unless one appears meanwhile: written whole to
 * a temporary name, then hard-linked into place, which fails when path
 * exists (rename would replace a secret another process already uses). */
static int create_secret(const char *data_dir, const char *path,
                         sb_err_t *err) {
  char tmp[PATH_MAX], hex[2 * SB_AUTH_SECRET_MIN + 2];
  long pid = (long)getpid();
  int rc;
  if ((rc = sb_mkdir_p(data_dir, 0700, err)) != 0 ||
      (rc = sb_fmt(tmp, sizeof tmp, err, "%s.new.%ld", path, pid)) != 0 ||
      (rc = sb_random_hex(hex, sizeof hex, SB_AUTH_SECRET_MIN, err)) != 0)
    return rc;
  size_t n = strlen(hex);
  hex[n++] = '\n';
  rc = sb_write_file(tmp, hex, n, 0600, err);
  OPENSSL_cleanse(hex, sizeof hex);
  if (rc != 0)
    return rc;
  if (link(tmp, path) != 0 && errno != EEXIST) {
    /* a file system without hard links: replace instead */
    if (rename(tmp, path) != 0) {
      int e = errno;
      unlink(tmp);
      return sb_err_set(err, SB_EIO, "cannot create the JWT secret %s: %s",
                        path, strerror(e));
    }
    return 0;
  }
  unlink(tmp);
  return 0;
}

int sb_auth_secret_load(const char *data_dir, int create, unsigned char *secret,
                        size_t *len, sb_err_t *err) {
  char path[PATH_MAX];
  *len = 0;
  if (data_dir == NULL || *data_dir == '\0')
    return sb_err_set(err, SB_ECONFIG, "no data directory for the JWT secret");
  if (sb_fmt(path, sizeof path, err, "%s/%s", data_dir, SB_AUTH_SECRET_FILE))
    return SB_EINVAL;
  int rc = read_secret(path, secret, len, err);
  if (rc == SB_ENOENT && create) {
    if ((rc = create_secret(data_dir, path, err)) != 0)
      return rc;
    rc = read_secret(path, secret, len, err);
  }
  if (rc == SB_ENOENT)
    return sb_err_set(err, SB_ENOENT,
                      "no JWT secret at %s: 'switchboard up' or 'switchboard "
                      "token' creates one",
                      path);
  return rc;
}

/* ---- signing and verifying --------------------------------------------- */

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static int check_secret(const unsigned char *secret, size_t len,
                        sb_err_t *err) {
  if (secret == NULL || len < SB_AUTH_SECRET_MIN || len > SB_AUTH_SECRET_MAX)
    return sb_err_set(err, SB_EINVAL, "the JWT secret must be %d to %d bytes",
                      SB_AUTH_SECRET_MIN, SB_AUTH_SECRET_MAX);
  return 0;
}

static int hmac(const unsigned char *secret, size_t len, const char *data,
                size_t n, unsigned char mac[MAC_LEN], sb_err_t *err) {
  unsigned int maclen = 0;
  if (HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)data, n, mac,
           &maclen) == NULL ||
      maclen != MAC_LEN)
    return sb_err_set(err, SB_ECRYPTO, "OpenSSL HMAC-SHA256 failed");
  return 0;
}

int sb_jwt_sign(const unsigned char *secret, size_t len, const sb_claims_t *c,
                char *out, size_t outsz, sb_err_t *err) {
  if (outsz > 0)
    out[0] = '\0';
  int rc;
  if ((rc = check_secret(secret, len, err)) != 0 ||
      (rc = sb_auth_claims_check(c, err)) != 0)
    return rc;
  char *payload = NULL;
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !cJSON_AddStringToObject(o, "sub", c->sub) ||
      !cJSON_AddStringToObject(o, "tenant", c->tenant) ||
      !cJSON_AddStringToObject(o, "role", sb_role_name(c->role)) ||
      !cJSON_AddNumberToObject(o, "iat", (double)c->iat) ||
      !cJSON_AddNumberToObject(o, "exp", (double)c->exp) ||
      (payload = cJSON_PrintUnformatted(o)) == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory signing a token");
    goto out;
  }
  size_t hl = sizeof jwt_header - 1, pl = strlen(payload);
  size_t need = b64_len(hl) + 1 + b64_len(pl) + 1 + b64_len(MAC_LEN);
  if (need > SB_JWT_MAX) {
    rc = sb_err_set(err, SB_EINVAL,
                    "the token would be %zu bytes; the limit is %d", need,
                    SB_JWT_MAX);
    goto out;
  }
  if (need + 1 > outsz) {
    rc = sb_err_set(err, SB_EINVAL,
                    "no room for the token: %zu bytes needed, %zu given",
                    need + 1, outsz);
    goto out;
  }
  b64_encode((const unsigned char *)jwt_header, hl, out);
  size_t at = strlen(out);
  out[at++] = '.';
  b64_encode((const unsigned char *)payload, pl, out + at);
  at += strlen(out + at);
  unsigned char mac[MAC_LEN];
  if ((rc = hmac(secret, len, out, at, mac, err)) != 0) {
    out[0] = '\0';
    goto out;
  }
  out[at++] = '.';
  b64_encode(mac, MAC_LEN, out + at);
out:
  cJSON_free(payload);
  cJSON_Delete(o);
  return rc;
}

/* Refuses a token: sets the reason and a message. The claims are emptied
 * unless keep (the signature was good). */
static int refuse(sb_claims_t *out, int keep, sb_auth_reason_t reason,
                  sb_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int refuse(sb_claims_t *out, int keep, sb_auth_reason_t reason,
                  sb_err_t *err, const char *fmt, ...) {
  if (!keep)
    memset(out, 0, sizeof *out);
  out->reason = reason;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sb_err_set(err, SB_EPERM, "%s", msg);
}

/* Checks the header (decoded, NUL-terminated). 0 or a refusal. */
static int check_header(const unsigned char *h, size_t n, sb_claims_t *out,
                        sb_err_t *err) {
  cJSON *o = parse_object(h, n);
  if (o == NULL)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token's header is not a JSON object");
  int rc = 0;
  const cJSON *alg = cJSON_GetObjectItemCaseSensitive(o, "alg");
  const cJSON *typ = cJSON_GetObjectItemCaseSensitive(o, "typ");
  if (alg == NULL) {
    rc = refuse(out, 0, SB_AUTH_BAD_ALG, err,
                "the token's header names no alg; only HS256 is accepted");
  } else if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0) {
    char safe[32];
    const char *a = cJSON_IsString(alg)
                        ? safe_text(alg->valuestring, safe, sizeof safe)
                        : "(not a string)";
    rc = refuse(out, 0, SB_AUTH_BAD_ALG, err,
                "the token's alg is %s; only HS256 is accepted", a);
  } else if (typ != NULL &&
             (!cJSON_IsString(typ) || strcmp(typ->valuestring, "JWT") != 0)) {
    rc = refuse(out, 0, SB_AUTH_MALFORMED, err,
                "the token's header has a typ other than JWT");
  } else if (cJSON_GetObjectItemCaseSensitive(o, "crit") != NULL) {
    /* RFC 7515 4.1.11: unknown critical extensions must be refused */
    rc = refuse(out, 0, SB_AUTH_MALFORMED, err,
                "the token's header has crit extensions, which are not "
                "supported");
  }
  cJSON_Delete(o);
  return rc;
}

/* Reads and checks the claims (decoded, NUL-terminated) into out; *nbf is
 * the nbf claim, or -1 when absent. */
static int read_claims(const unsigned char *p, size_t n, sb_claims_t *out,
                       int64_t *nbf, sb_err_t *err) {
  cJSON *o = parse_object(p, n);
  if (o == NULL)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token's payload is not a JSON object");
  int rc = 0;
  const cJSON *sub = cJSON_GetObjectItemCaseSensitive(o, "sub");
  const cJSON *tenant = cJSON_GetObjectItemCaseSensitive(o, "tenant");
  const cJSON *role = cJSON_GetObjectItemCaseSensitive(o, "role");
  int64_t exp = 0, iat = 0;
  *nbf = -1;
  int has_exp = int_claim(o, "exp", &exp);
  int has_iat = int_claim(o, "iat", &iat);
  int has_nbf = int_claim(o, "nbf", nbf);
  sb_role_t r = SB_ROLE_AGENT;
  if (!cJSON_IsString(sub) || !sb_auth_sub_valid(sub->valuestring)) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's sub is missing or not 1 to %d bytes of text",
                SB_AUTH_SUB_MAX);
  } else if (!cJSON_IsString(tenant) ||
             !sb_tenant_valid(tenant->valuestring)) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's tenant is missing or not 1 to %d of A-Z a-z 0-9 "
                ". _ -",
                SB_TENANT_MAX);
  } else if (sb_tenant_reserved(tenant->valuestring)) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's tenant begins with '_', which is reserved for "
                "the engine; no token may name it");
  } else if (!cJSON_IsString(role) ||
             sb_role_parse(role->valuestring, &r, NULL) != 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's role is missing or not one of admin, manager, "
                "supervisor, agent");
  } else if (has_exp <= 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err, "the token's exp is %s",
                has_exp == 0 ? "missing" : "not a whole number of seconds");
  } else if (has_iat < 0 || has_nbf < 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's %s is not a whole number of seconds",
                has_iat < 0 ? "iat" : "nbf");
  } else if (has_iat && iat >= exp) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's exp is not after its iat");
  } else {
    /* lengths were checked by the validators */
    memcpy(out->sub, sub->valuestring, strlen(sub->valuestring) + 1);
    memcpy(out->tenant, tenant->valuestring, strlen(tenant->valuestring) + 1);
    out->role = r;
    out->iat = iat;
    out->exp = exp;
  }
  if (has_nbf <= 0)
    *nbf = -1;
  cJSON_Delete(o);
  return rc;
}

/* One part of a token: decodes it into buf (PART_MAX + 1 bytes). */
static int decode_part(const char *s, size_t n, const char *what,
                       unsigned char *buf, size_t *len, sb_claims_t *out,
                       sb_err_t *err) {
  if (n == 0)
    return refuse(out, 0, SB_AUTH_MALFORMED, err, "the token's %s is empty",
                  what);
  if (b64_decode(s, n, buf, len) != 0)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token's %s is not unpadded base64url", what);
  return 0;
}

int sb_jwt_verify(const unsigned char *secret, size_t len, const char *token,
                  int64_t now_s, sb_claims_t *out, sb_err_t *err) {
  memset(out, 0, sizeof *out);
  out->reason = SB_AUTH_OK;
  if (check_secret(secret, len, err) != 0)
    return SB_EINVAL;
  if (token == NULL || *token == '\0')
    return refuse(out, 0, SB_AUTH_MISSING, err, "no token was presented");
  size_t n = strnlen(token, SB_JWT_MAX + 1);
  if (n > SB_JWT_MAX)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token is longer than %d bytes", SB_JWT_MAX);
  size_t parts = 1;
  for (size_t i = 0; i < n; i++)
    parts += token[i] == '.';
  if (parts != 3)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token has %zu part%s separated by '.'; a JWT has 3",
                  parts, parts == 1 ? "" : "s");
  const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
  size_t hn = (size_t)(d1 - token), pn = (size_t)(d2 - d1 - 1);
  size_t sn = n - (size_t)(d2 + 1 - token);

  int rc;
  unsigned char *h = malloc(3 * (PART_MAX + 1));
  if (h == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory verifying a token");
  unsigned char *p = h + PART_MAX + 1, *sig = p + PART_MAX + 1;
  size_t hl = 0, pl = 0, sl = 0;
  if ((rc = decode_part(token, hn, "header", h, &hl, out, err)) != 0 ||
      (rc = decode_part(d1 + 1, pn, "payload", p, &pl, out, err)) != 0 ||
      (rc = decode_part(d2 + 1, sn, "signature", sig, &sl, out, err)) != 0 ||
      (rc = check_header(h, hl, out, err)) != 0)
    goto out;

  unsigned char mac[MAC_LEN];
  if ((rc = hmac(secret, len, token, (size_t)(d2 - token), mac, err)) != 0)
    goto out;
  /* the length is no secret; the bytes are compared in constant time */
  if (sl != MAC_LEN || CRYPTO_memcmp(mac, sig, MAC_LEN) != 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_SIGNATURE, err,
                "the token's signature does not match: it was signed with "
                "another secret, or altered");
    goto out;
  }

  int64_t nbf = -1;
  if ((rc = read_claims(p, pl, out, &nbf, err)) != 0)
    goto out;
  /* From here the claims are the token's own: a refusal keeps them. */
  if (out->exp <= now_s)
    rc = refuse(out, 1, SB_AUTH_EXPIRED, err, "the token expired %lld s ago",
                (long long)(now_s - out->exp));
  else if (out->iat > now_s + SB_AUTH_FUTURE_LEEWAY_S)
    rc = refuse(out, 1, SB_AUTH_NOT_YET_VALID, err,
                "the token's iat is %lld s in the future (at most %d s of "
                "clock skew is allowed)",
                (long long)(out->iat - now_s), SB_AUTH_FUTURE_LEEWAY_S);
  else if (nbf > now_s + SB_AUTH_FUTURE_LEEWAY_S)
    rc = refuse(out, 1, SB_AUTH_NOT_YET_VALID, err,
                "the token is not valid for another %lld s (nbf)",
                (long long)(nbf - now_s));
out:
  free(h);
  return rc;
}
