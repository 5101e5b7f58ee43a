/* Who may act now, and the dashboards' sessions:
 *
 *   - every authenticated request (a token or a session cookie) is checked
 *     against the users' current roles (sb_authz.h): 403 when the user no
 *     longer holds the role, 503 when that cannot be known;
 *   - a request carrying no token may carry the session cookie instead,
 *     and must then come from an allowed Origin (CSRF);
 *   - POST /v1/session signs in with a token and sets the cookie, GET says
 *     who the caller is, DELETE signs out; LOGIN and LOGOUT are recorded
 *     as access.recorded events, acknowledged by Kafka before the answer. */
#include "sb_ingest_int.h"

#include "sb_log.h"
#include "sb_rate.h"
#include "sb_time.h"
#include "sb_util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int tls(const sb_ingest_t *in) {
  return in->c->http_tls_cert != NULL && *in->c->http_tls_cert;
}

/* The cookie's name: __Host- under TLS (the browser then insists on Secure,
 * Path=/ and no Domain). */
static const char *cookie_name(const sb_ingest_t *in) {
  return tls(in) ? "__Host-sb_session" : "sb_session";
}

int sb__ingest_cookie(const sb_ingest_t *in, const sb_http_req_t *r,
                      char out[SB_SESSION_SECRET_LEN + 1]) {
  const char *h = sb_http_header(r, "Cookie");
  const char *name = cookie_name(in);
  size_t nl = strlen(name);
  for (const char *p = h; p && *p;) {
    while (*p == ' ' || *p == '\t' || *p == ';')
      p++;
    const char *e = strchr(p, ';');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      size_t vl = n - nl - 1;
      if (vl > SB_SESSION_SECRET_LEN)
        vl = 0; /* not one of ours: refused as unknown */
      memcpy(out, p + nl + 1, vl);
      out[vl] = '\0';
      return 1;
    }
    p = e;
  }
  return 0;
}

/* An Origin is allowed when it is the API's own (the scheme it serves and
 * the Host asked for) or listed in http.allowed_origins. A browser's
 * same-origin GET (the dashboard reading the read API) carries no Origin
 * (the Fetch standard sends it on cross-origin and unsafe requests only):
 * it is allowed when the browser says so in Sec-Fetch-Site, which a page
 * cannot set. Anything else without an Origin is refused. */
static int origin_allowed(const sb_ingest_t *in, const sb_http_req_t *r) {
  const char *o = sb_http_header(r, "Origin");
  const char *host = sb_http_header(r, "Host");
  if (o == NULL || *o == '\0') {
    const char *site = sb_http_header(r, "Sec-Fetch-Site");
    return strcmp(sb_http_method(r), "GET") == 0 && site &&
           strcmp(site, "same-origin") == 0;
  }
  if (strcmp(o, "null") == 0)
    return 0;
  char own[300];
  if (host && *host) {
    snprintf(own, sizeof own, "%s://%s", tls(in) ? "https" : "http", host);
    if (strcasecmp(o, own) == 0)
      return 1;
  }
  size_t ol = strlen(o);
  for (const char *p = in->c->http_allowed_origins; p && *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    while (n > 0 && p[n - 1] == ' ')
      n--;
    if (n == ol && n > 0 && strncasecmp(p, o, n) == 0)
      return 1;
    p = e;
  }
  return 0;
}

int sb__ingest_authorize(sb_ingest_t *in, sb_http_req_t *r,
                         const sb_claims_t *who, int signin) {
  sb_err_t err = SB_ERR_INIT;
  if (in->authz == NULL ||
      sb_authz_check(in->authz, who, sb_time_now_micros(), &err) == 0)
    return 0;
  if (err.code == SB_EUNAVAIL) {
    sb__ingest_count_reject(in, "unavailable");
    sb_http_error(r, 503, "unavailable", err.msg, "Retry-After: 1\r\n");
    return -1;
  }
  sb__ingest_count_reject(in, "forbidden");
  sb_client_info_t from = sb_client_info(r);
  if (signin)
    sb_ingest_record_security(in, &from, "security.login_failed", who->tenant,
                              who->sub, "account_disabled", NULL);
  else
    sb_ingest_record_security(in, &from, "security.access_denied", who->tenant,
                              who->sub, "insufficient_role", "role");
  sb_http_error(r, 403, "role_not_held", err.msg, NULL);
  return -1;
}

int sb__ingest_auth_session(sb_ingest_t *in, sb_http_req_t *r,
                            const char *secret, sb_claims_t *who,
                            sb_session_t *out) {
  sb_err_t err = SB_ERR_INIT;
  sb_client_info_t from = sb_client_info(r);
  sb_session_t s;
  if (in->authz == NULL ||
      sb_authz_session_find(in->authz, secret, sb_time_now_micros(), &s,
                            &err) != 0) {
    if (err.code == SB_EUNAVAIL) {
      sb__ingest_count_reject(in, "unavailable");
      sb_http_error(r, 503, "unavailable", err.msg, "Retry-After: 1\r\n");
      return -1;
    }
    sb__ingest_count_reject(in, "expired");
    sb_ingest_record_security(in, &from, "security.login_failed", NULL, NULL,
                              "bad_credentials", NULL);
    sb_http_error(r, 401, "session_unknown",
                  err.code ? err.msg : "no session",
                  "WWW-Authenticate: Bearer realm=\"switchboard\"\r\n");
    return -1;
  }
  if (!origin_allowed(in, r)) {
    sb__ingest_count_reject(in, "forbidden");
    sb_ingest_record_security(in, &from, "security.access_denied",
                              s.who.tenant, s.who.sub, "other", "origin");
    sb_http_error(r, 403, "origin_refused",
                  "a request authenticated by the session cookie must come "
                  "from the API's own origin or one in http.allowed_origins "
                  "(send Origin); others use Authorization: Bearer",
                  NULL);
    return -1;
  }
  *who = s.who;
  if (sb__ingest_authorize(in, r, who, 0) != 0)
    return -1;
  if (out)
    *out = s;
  return 0;
}

int sb_ingest_recheck(sb_ingest_t *in, const sb_claims_t *who,
                      const unsigned char *session_hash, sb_err_t *err) {
  if (in == NULL || in->authz == NULL)
    return 0;
  int64_t now = sb_time_now_micros();
  if (session_hash && !sb_authz_session_live(in->authz, session_hash, now))
    return sb_err_set(err, SB_EPERM, "the session has ended");
  int rc = sb_authz_check(in->authz, who, now, err);
  return rc == SB_EUNAVAIL ? 0 : rc; /* stale: new requests are refused */
}

void sb__ingest_authz_metrics(sb_ingest_t *in, sb_text_t *t) {
  if (in->authz == NULL)
    return;
  sb_authz_stats_t st;
  sb_authz_snapshot(in->authz, &st);
  const struct {
    const char *name, *type, *help;
    uint64_t v;
  } m[] = {
      {"switchboard_authz_fresh", "gauge",
       "The users' roles and sessions are in step with PostgreSQL (0: "
       "requests are answered 503).",
       (uint64_t)st.fresh},
      {"switchboard_authz_users", "gauge",
       "(tenant, user) pairs holding a role, in memory.", st.users},
      {"switchboard_authz_managed_tenants", "gauge",
       "Tenants whose roles are managed as data.", st.tenants},
      {"switchboard_authz_sessions", "gauge", "Live dashboard sessions.",
       st.sessions},
      {"switchboard_authz_reloads_total", "counter",
       "Tenants' roles or sessions reloaded on a notification.", st.reloads},
      {"switchboard_authz_full_loads_total", "counter",
       "Every role loaded again (start, reconnect, every 30 s).",
       st.full_loads},
  };
  for (size_t i = 0; i < SB_ARRAY_LEN(m); i++) {
    sb_metric_head(t, m[i].name, m[i].type, m[i].help);
    sb_text_add(t, "%s %llu\n", m[i].name, (unsigned long long)m[i].v);
  }
}

/* ---- access.recorded ------------------------------------------------------ */

typedef struct {
  sb_ingest_t *in;
  sb_http_req_t *req;
  sb_session_t s;
  char secret[SB_SESSION_SECRET_LEN + 1];
  int login;
} sess_req_t;

static void free_sr(sess_req_t *sr) {
  OPENSSL_cleanse(sr->secret, sizeof sr->secret);
  free(sr);
}

/* LOGIN or LOGOUT of s, from r's client. */
static int record_access(sb_ingest_t *in, const sb_http_req_t *r,
                         const sb_session_t *s, int login, sb_delivery_cb cb,
                         void *opaque, sb_err_t *err) {
  char ts[40], ua[501];
  sb_time_format(sb_time_now_micros(), ts, sizeof ts);
  const char *agent = sb_http_header(r, "User-Agent");
  size_t ul = agent ? strnlen(agent, sizeof ua - 1) : 0;
  for (size_t i = 0; i < ul; i++)
    ua[i] = agent[i] >= 0x20 && agent[i] < 0x7f ? agent[i] : '?';
  ua[ul] = '\0';
  cJSON *ce = cJSON_CreateObject();
  cJSON_AddStringToObject(ce, "specversion", "1.0");
  cJSON_AddStringToObject(ce, "type", "access.recorded");
  cJSON_AddStringToObject(ce, "source", "switchboard://http");
  cJSON_AddStringToObject(ce, "subject", s->who.sub);
  cJSON_AddStringToObject(ce, "tenantid", s->who.tenant);
  cJSON_AddStringToObject(ce, "time", ts);
  cJSON_AddStringToObject(ce, "actoruserid", s->who.sub);
  cJSON_AddStringToObject(ce, "actorrole", sb_role_name(s->who.role));
  cJSON_AddStringToObject(ce, "actorip", sb_http_peer(r));
  if (agent)
    cJSON_AddStringToObject(ce, "actoruseragent", ua);
  cJSON *data = cJSON_AddObjectToObject(ce, "data");
  cJSON_AddStringToObject(data, "action", login ? "LOGIN" : "LOGOUT");
  cJSON_AddStringToObject(data, "resource_type", "session");
  cJSON_AddStringToObject(data, "resource_id", s->id);
  cJSON_AddStringToObject(data, "session_id", s->id);
  if (login)
    cJSON_AddStringToObject(data, "auth_method", "other");
  sb_record_t rec;
  int rc = sb_codec_from_ce(in->codec, ce, SB_CE_GENERATE_ID, &rec, err);
  cJSON_Delete(ce);
  if (rc == 0) {
    rc = sb_producer_send_record(in->producer, &rec, cb, opaque, err);
    sb_record_clear(&rec);
  }
  return rc;
}

static void set_cookie_header(const sb_ingest_t *in, const char *value,
                              long long max_age, char *out, size_t sz) {
  snprintf(out, sz,
           "Set-Cookie: %s=%s; Path=/; Max-Age=%lld; HttpOnly; "
           "SameSite=Strict%s\r\nCache-Control: no-store\r\n",
           cookie_name(in), value, max_age, tls(in) ? "; Secure" : "");
}

static cJSON *session_json(const sb_session_t *s) {
  char exp[40];
  sb_time_format(s->expires_us, exp, sizeof exp);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", s->id);
  cJSON_AddStringToObject(o, "tenant", s->who.tenant);
  cJSON_AddStringToObject(o, "sub", s->who.sub);
  cJSON_AddStringToObject(o, "role", sb_role_name(s->who.role));
  cJSON_AddStringToObject(o, "expires_at", exp);
  return o;
}

static void ended_unrecorded(void *ud, int rc, const sb_session_t *s,
                             const char *secret, const char *error) {
  (void)ud, (void)s, (void)secret;
  if (rc != 0)
    sb_log(SB_LOG_ERROR, "http",
           "a session whose LOGIN could not be recorded is still open "
           "until it expires",
           SB_F_STR("error", error), SB_F_END);
}

static void on_login_recorded(void *opaque, const char *error) {
  sess_req_t *sr = opaque;
  if (error != NULL) {
    /* no session without its LOGIN on record: end it again */
    sb_err_t err = SB_ERR_INIT;
    if (sb_authz_session_end(sr->in->authz, &sr->s, "unrecorded",
                             ended_unrecorded, NULL, &err) != 0)
      ended_unrecorded(NULL, err.code, &sr->s, NULL, err.msg);
    char msg[300];
    snprintf(msg, sizeof msg,
             "the sign-in could not be recorded (Kafka: %.200s); retry", error);
    sb_http_error(sr->req, 503, "unavailable", msg, "Retry-After: 1\r\n");
    free_sr(sr);
    return;
  }
  char hdrs[300];
  set_cookie_header(sr->in, sr->secret, sr->in->c->auth_session_ttl_s, hdrs,
                    sizeof hdrs);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "session", session_json(&sr->s));
  sb_http_respond_json(sr->req, 201, o, hdrs);
  OPENSSL_cleanse(hdrs, sizeof hdrs);
  free_sr(sr);
}

static void on_begun(void *ud, int rc, const sb_session_t *s,
                     const char *secret, const char *error) {
  sess_req_t *sr = ud;
  sb_err_t err = SB_ERR_INIT;
  if (rc != 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "could not open a session: %.300s; retry",
             error ? error : "unknown error");
    sb_http_error(sr->req, 503, "unavailable", msg, "Retry-After: 1\r\n");
    free_sr(sr);
    return;
  }
  sr->s = *s;
  snprintf(sr->secret, sizeof sr->secret, "%s", secret);
  if (record_access(sr->in, sr->req, s, 1, on_login_recorded, sr, &err) != 0)
    on_login_recorded(sr, err.msg);
}

/* POST /v1/session: Authorization: Bearer <token> in, the cookie out. */
void sb_ingest_session_post(sb_http_req_t *r, sb_ingest_t *in) {
  const char *auth = sb_http_header(r, "Authorization");
  const char *token =
      auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
  sb_claims_t who;
  if (token == NULL || *token == '\0') {
    sb__ingest_count_reject(in, "missing");
    sb_http_error(r, 401, "missing",
                  "sign in with Authorization: Bearer <token> (switchboard "
                  "token mints one)",
                  "WWW-Authenticate: Bearer realm=\"switchboard\"\r\n");
    return;
  }
  if (sb__ingest_verify_token(in, r, token, &who) != 0 ||
      sb__ingest_authorize(in, r, &who, 1) != 0)
    return;
  /* every sign-in is a LOGIN record: bounded per address and tenant so
   * that a client holding a valid token cannot flood the log with them */
  int64_t now = sb_time_now_micros();
  if (!sb_rate_take(in->signin_addr, sb_http_peer(r), now)) {
    in->signins_limited++;
    goto limited;
  }
  if (!sb_rate_take(in->signin_tenant, who.tenant, now)) {
    sb_rate_give(in->signin_addr, sb_http_peer(r), now);
    in->signins_limited++;
    goto limited;
  }
  sess_req_t *sr = calloc(1, sizeof *sr);
  sb_err_t err = SB_ERR_INIT;
  if (sr == NULL) {
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
    return;
  }
  sr->in = in;
  sr->req = r;
  sr->login = 1;
  if (sb_authz_session_begin(in->authz, &who, sb_http_peer(r),
                             sb_http_header(r, "User-Agent"), on_begun, sr,
                             &err) != 0) {
    free_sr(sr);
    sb_http_error(r, 503, err.code == SB_EBUSY ? "too_many_sessions"
                                               : "unavailable",
                  err.msg, "Retry-After: 5\r\n");
  }
  return;
limited:;
  sb_client_info_t from = sb_client_info(r);
  sb_ingest_record_security(in, &from, "security.login_failed", who.tenant,
                            who.sub, "rate_limited", NULL);
  sb_http_error(r, 429, "too_many_sign_ins",
                "too many sign-ins from this address or tenant this window "
                "(security.records_per_address, security.records_per_tenant); "
                "retry later",
                "Retry-After: 5\r\n");
}

/* GET /v1/session: who the caller is (a session cookie or a token). */
void sb_ingest_session_get(sb_http_req_t *r, sb_ingest_t *in) {
  char secret[SB_SESSION_SECRET_LEN + 1];
  const char *auth = sb_http_header(r, "Authorization");
  sb_claims_t who;
  sb_session_t s;
  cJSON *o = cJSON_CreateObject();
  if (auth == NULL && sb__ingest_cookie(in, r, secret)) {
    int rc = sb__ingest_auth_session(in, r, secret, &who, &s);
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc != 0) {
      cJSON_Delete(o);
      return;
    }
    cJSON_AddItemToObject(o, "session", session_json(&s));
  } else {
    const char *token =
        auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
    if (sb_ingest_authenticate(in, r, token, &who) != 0) {
      cJSON_Delete(o);
      return;
    }
  }
  cJSON_AddStringToObject(o, "tenant", who.tenant);
  cJSON_AddStringToObject(o, "sub", who.sub);
  cJSON_AddStringToObject(o, "role", sb_role_name(who.role));
  cJSON_AddBoolToObject(o, "managed",
                        in->authz && sb_authz_managed(in->authz, who.tenant));
  sb_http_respond_json(r, 200, o, "Cache-Control: no-store\r\n");
}

static void on_logout_recorded(void *opaque, const char *error) {
  sess_req_t *sr = opaque;
  if (error != NULL)
    sb_log(SB_LOG_WARN, "http", "a sign-out could not be recorded",
           SB_F_STR("session", sr->s.id), SB_F_STR("error", error), SB_F_END);
  char hdrs[300];
  set_cookie_header(sr->in, "", 0, hdrs, sizeof hdrs);
  cJSON *o = cJSON_CreateObject();
  cJSON *e = cJSON_AddObjectToObject(o, "ended");
  cJSON_AddStringToObject(e, "id", sr->s.id);
  sb_http_respond_json(sr->req, 200, o, hdrs);
  free_sr(sr);
}

static void on_ended(void *ud, int rc, const sb_session_t *s,
                     const char *secret, const char *error) {
  (void)secret;
  sess_req_t *sr = ud;
  if (rc != 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "could not end the session: %.300s; retry",
             error ? error : "unknown error");
    sb_http_error(sr->req, 503, "unavailable", msg, "Retry-After: 1\r\n");
    free_sr(sr);
    return;
  }
  sb_err_t err = SB_ERR_INIT;
  if (record_access(sr->in, sr->req, s, 0, on_logout_recorded, sr, &err) != 0)
    on_logout_recorded(sr, err.msg);
}

/* DELETE /v1/session: the cookie's session ends, everywhere. */
void sb_ingest_session_delete(sb_http_req_t *r, sb_ingest_t *in) {
  char secret[SB_SESSION_SECRET_LEN + 1];
  sess_req_t *sr = calloc(1, sizeof *sr);
  if (sr == NULL) {
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
    return;
  }
  sr->in = in;
  sr->req = r;
  if (!sb__ingest_cookie(in, r, secret)) {
    free_sr(sr);
    sb__ingest_count_reject(in, "missing");
    sb_http_error(r, 401, "missing",
                  "no session cookie: nothing to sign out of", NULL);
    return;
  }
  /* signing out needs no role: a revoked user may still end its session */
  sb_err_t err = SB_ERR_INIT;
  int rc = sb_authz_session_find(in->authz, secret, sb_time_now_micros(),
                                 &sr->s, &err);
  OPENSSL_cleanse(secret, sizeof secret);
  if (rc != 0) {
    free_sr(sr);
    sb_http_error(r, rc == SB_EUNAVAIL ? 503 : 401,
                  rc == SB_EUNAVAIL ? "unavailable" : "session_unknown",
                  err.msg, NULL);
    return;
  }
  if (!origin_allowed(in, r)) {
    sb_client_info_t from = sb_client_info(r);
    sb_ingest_record_security(in, &from, "security.access_denied",
                              sr->s.who.tenant, sr->s.who.sub, "other",
                              "origin");
    free_sr(sr);
    sb_http_error(r, 403, "origin_refused",
                  "sign out from the API's own origin or one in "
                  "http.allowed_origins (send Origin)",
                  NULL);
    return;
  }
  if (sb_authz_session_end(in->authz, &sr->s, "logout", on_ended, sr, &err) !=
      0) {
    free_sr(sr);
    sb_http_error(r, 503, "unavailable", err.msg, "Retry-After: 1\r\n");
  }
}
