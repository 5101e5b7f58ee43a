/* Tokens and roles: HS256 JSON Web Tokens carrying a subject, a tenant and a
 * role, and the table of what each role may do.
 *
 *   unsigned char secret[SB_AUTH_SECRET_MAX];
 *   size_t len;
 *   sb_auth_secret_load(conf->data_dir, 0, secret, &len, &err);
 *   sb_claims_t who;
 *   if (sb_jwt_verify(secret, len, bearer, time(NULL), &who, &err) != 0)
 *     record security.login_failed with sb_auth_reason_name(who.reason);
 *   else if (sb_auth_check(who.role, SB_PERM_POST_EVENT, type, &err) != 0 ||
 *            sb_auth_tenant_check(&who, event_tenant, &err) != 0)
 *     record security.access_denied ...
 *
 * Every function is thread-safe: none keeps state. Only sb_auth_jwt.c
 * includes OpenSSL's HMAC. No message this module writes
 * holds a token, a signature or a secret: error messages may be returned to
 * the client and recorded as events as they are. */
#ifndef SB_AUTH_H
#define SB_AUTH_H

#include "sb_err.h"
#include "sb_tenant.h"

#include <stddef.h>
#include <stdint.h>

/* Secrets are 32 random bytes when Switchboard makes them; a configured
 * one may be 32 to 64 bytes (RFC 7518: at least the hash's size). */
#define SB_AUTH_SECRET_MIN 32
#define SB_AUTH_SECRET_MAX 64
#define SB_AUTH_SECRET_FILE "jwt.secret"

/* Longest token accepted (and produced), in bytes without the NUL. */
#define SB_JWT_MAX 4096

#define SB_AUTH_SUB_MAX 128

/* Clock skew tolerated for iat and nbf lying in the future. exp has none. */
#define SB_AUTH_FUTURE_LEEWAY_S 60

typedef enum {
  SB_ROLE_ADMIN,
  SB_ROLE_MANAGER,
  SB_ROLE_SUPERVISOR,
  SB_ROLE_AGENT,
} sb_role_t;

#define SB_ROLE_COUNT 4

typedef enum {
  SB_PERM_POST_EVENT,      /* what: an event type, "lead.created" */
  SB_PERM_SUBSCRIBE,       /* what: a topic, "sb.calls" */
  SB_PERM_READ_PROJECTION, /* what: "<processor>.<projection>" */
} sb_perm_t;

/* Why a token or an access was refused: short stable names for the
 * security.* events and metrics, then a description.
 * X(NAME, "name", "description") */
#define SB_AUTH_REASON_MAP(X)                                                  \
  X(OK, "ok", "accepted")                                                      \
  X(MISSING, "missing", "no token was presented")                              \
  X(MALFORMED, "malformed", "the token is not a well-formed compact JWT")      \
  X(BAD_ALG, "bad_alg", "the token's algorithm is not HS256")                  \
  X(BAD_SIGNATURE, "bad_signature", "the token's signature does not match")    \
  X(EXPIRED, "expired", "the token has expired")                               \
  X(NOT_YET_VALID, "not_yet_valid", "the token's iat or nbf is in the future") \
  X(BAD_CLAIMS, "bad_claims", "the token's claims are missing or invalid")     \
  X(FORBIDDEN, "forbidden", "the role may not do this")                        \
  X(TENANT_MISMATCH, "tenant_mismatch", "the event names another tenant")

typedef enum {
#define X(name, str, desc) SB_AUTH_##name,
  SB_AUTH_REASON_MAP(X)
#undef X
} sb_auth_reason_t;

typedef struct sb_claims_s {
  char sub[SB_AUTH_SUB_MAX + 1];       /* 1-128 bytes, no control chars */
  char tenant[SB_TENANT_MAX + 1]; /* [A-Za-z0-9._-]{1,64} */
  sb_role_t role;
  int64_t iat, exp; /* seconds since the epoch; iat 0 when absent */
  /* Out only, set by sb_jwt_verify: SB_AUTH_OK or why it refused. */
  sb_auth_reason_t reason;
} sb_claims_t;

/* "admin", ...; "unknown" for a value out of range. */
const char *sb_role_name(sb_role_t role);
/* Exact, lower-case names. 0, or SB_EINVAL (err says which are valid). */
int sb_role_parse(const char *name, sb_role_t *out, sb_err_t *err);
/* "post_event", "subscribe", "read_projection". */
const char *sb_perm_name(sb_perm_t perm);
/* "expired", ...; "unknown" for a value out of range. */
const char *sb_auth_reason_name(sb_auth_reason_t reason);
const char *sb_auth_reason_desc(sb_auth_reason_t reason);

/* 1 when s is a valid subject (user id); 0 otherwise. Tenant ids:
 * sb_tenant.h. */
int sb_auth_sub_valid(const char *s);


/* Caps a verified token's lifetime: exp - iat, or exp - now_s when the
 * token has no iat, at most max_ttl_s seconds. 0, or SB_EPERM with a
 * message naming both and auth.max_token_ttl_seconds (reason to record:
 * SB_AUTH_BAD_CLAIMS). */
int sb_auth_lifetime_check(const sb_claims_t *c, int64_t now_s,
                           int64_t max_ttl_s, sb_err_t *err);

/* Checks the claims a token is signed with: sub, tenant, role, and
 * 0 <= iat < exp. 0 or SB_EINVAL with a message naming the claim. */
int sb_auth_claims_check(const sb_claims_t *c, sb_err_t *err);

/* Loads the signing secret from <data_dir>/jwt.secret: hex text (64 to 128
 * hex digits, white space around it ignored). The file must not be
 * accessible to group or others (SB_EPERM, naming chmod 600). With create
 * set and no file, makes 32 bytes of OpenSSL randomness and writes them
 * mode 0600 without replacing a file another process wrote meanwhile (that
 * one is then loaded), creating data_dir (0700) when missing. secret has
 * room for SB_AUTH_SECRET_MAX bytes; *len receives how many were loaded.
 * Without create and no file: SB_ENOENT. */
int sb_auth_secret_load(const char *data_dir, int create, unsigned char *secret,
                        size_t *len, sb_err_t *err);

/* Signs c (sub, tenant, role, iat, exp; reason ignored) as
 * base64url({"alg":"HS256","typ":"JWT"}).base64url(claims).base64url(mac)
 * into out. SB_EINVAL for invalid claims, a secret of the wrong size or an
 * out buffer too small; SB_ECRYPTO when OpenSSL fails. */
int sb_jwt_sign(const unsigned char *secret, size_t len, const sb_claims_t *c,
                char *out, size_t outsz, sb_err_t *err);

/* Verifies token (NUL-terminated; NULL or "" counts as missing) at time
 * now_s. Strict: at most SB_JWT_MAX bytes, exactly three unpadded
 * canonical base64url parts, a JSON object header with alg exactly "HS256"
 * (typ, if present, "JWT"; no crit), the HMAC-SHA256 compared in constant
 * time, then a JSON object payload with sub, tenant, role valid, exp an
 * integer > now_s, iat and nbf (optional) integers at most now_s +
 * SB_AUTH_FUTURE_LEEWAY_S, and no duplicate keys.
 *
 * 0 with out filled and out->reason SB_AUTH_OK; or SB_EPERM with
 * out->reason saying why and err a message for people. On failure out's
 * claims are empty unless the signature was good (EXPIRED, NOT_YET_VALID):
 * then they are the token's, so a caller may attribute the failure to that
 * tenant and subject. A bad secret (wrong size) is SB_EINVAL. */
int sb_jwt_verify(const unsigned char *secret, size_t len, const char *token,
                  int64_t now_s, sb_claims_t *out, sb_err_t *err);

/* The built-in table of what each role may do (sb_auth_roles.c): *n rows.
 * The rbac processor seeds every tenant's rbac.role_permissions with a
 * copy of it (the test rbac_defaults_match_auth keeps the two equal). */
typedef struct sb_auth_grant_s {
  sb_role_t role;
  sb_perm_t perm;
  const char *pattern;
} sb_auth_grant_t;
const sb_auth_grant_t *sb_auth_grants(size_t *n);

/* 1 when role may perm on what (see the table in sb_auth_roles.c), else 0.
 * Nobody posts the event types processors or the engine write. */
int sb_auth_allows(sb_role_t role, sb_perm_t perm, const char *what);

/* sb_auth_allows with a message: 0, or SB_EPERM ("role agent may not post
 * lead.scored: it is written by the routing processor only"). The reason
 * to record is SB_AUTH_FORBIDDEN. */
int sb_auth_check(sb_role_t role, sb_perm_t perm, const char *what,
                  sb_err_t *err);

/* An event may only name the token's tenant. event_tenant NULL or "" passes:
 * the event then takes the token's tenant, which the caller sets. 0, or
 * SB_EPERM "the token's tenant is X; the event names Y" (reason to record:
 * SB_AUTH_TENANT_MISMATCH). */
int sb_auth_tenant_check(const sb_claims_t *c, const char *event_tenant,
                         sb_err_t *err);

/* Who a call or a lead belongs to: 1 when agent (a token's sub) owns entity
 * in tenant, 0 when another agent does, -1 when the caller does not know. */
typedef int (*sb_auth_owner_fn)(void *ctx, const char *tenant,
                                const char *entity, const char *agent);

/* Object-level rule for the agent role (other roles pass): an agent acts
 * only on itself and on the calls and leads that are its own, by the table
 * in sb_auth_roles.c, one row per event type an agent may post. ce is the
 * CloudEvent JSON (a cJSON object); owner (may be NULL: nothing is known)
 * answers for calls and leads. 0, or SB_EPERM with a message naming the
 * attribute and why (reason to record: SB_AUTH_FORBIDDEN). A type without
 * a row is refused: a grant added for agents needs a rule too. */
struct cJSON;
int sb_auth_agent_object_check(const sb_claims_t *who, const struct cJSON *ce,
                               sb_auth_owner_fn owner, void *ctx,
                               sb_err_t *err);

#endif
