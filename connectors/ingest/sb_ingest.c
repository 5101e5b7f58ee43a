/* Ingest's life, metrics, authentication and security events. */
#include "sb_ingest_int.h"

#include "sb_access.h"

#include "sb_log.h"
#include "sb_rate.h"
#include "sb_time.h"
#include "sb_topics.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void record_refusals(void *ud, const sb_refusal_t *r);

/* Why events or requests were refused, as counted: per-event codes first,
 * then whole requests. */
static const char *const reject_codes[] = {
    "malformed_json", "invalid",  "forbidden", "tenant_mismatch",
    "busy",           "unavailable", "unsupported_media_type",
    "in_flight",
    "missing",        "malformed", "bad_alg",  "bad_signature",
    "expired",        "not_yet_valid", "bad_claims", "other"};

static const double produce_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,  0.1,    0.25,  1, 5};

void sb__ingest_count_reject(sb_ingest_t *in, const char *code) {
  size_t n = SB_ARRAY_LEN(reject_codes), i = 0;
  while (i < n - 1 && strcmp(reject_codes[i], code) != 0)
    i++;
  in->rejected[i]++;
}

void sb_ingest_metrics(sb_ingest_t *in, sb_text_t *t) {
  if (in == NULL)
    return;
  sb_metric_head(t, "switchboard_ingest_events_total", "counter",
                 "Events posted to /v1/events and acknowledged by Kafka; "
                 "duplicates were acknowledged without producing.");
  sb_text_add(t,
              "switchboard_ingest_events_total{result=\"accepted\"} %llu\n"
              "switchboard_ingest_events_total{result=\"duplicate\"} %llu\n",
              (unsigned long long)in->accepted,
              (unsigned long long)in->duplicates);
  sb_metric_head(t, "switchboard_ingest_rejected_total", "counter",
                 "Events refused by /v1/events, by reason; for tokens (also "
                 "of /v1/stream) and content types, requests.");
  for (size_t i = 0; i < SB_ARRAY_LEN(reject_codes); i++)
    sb_text_add(t, "switchboard_ingest_rejected_total{reason=\"%s\"} %llu\n",
                reject_codes[i], (unsigned long long)in->rejected[i]);
  sb_metric_head(t, "switchboard_ingest_produce_seconds", "histogram",
                 "From handing an event to the producer to Kafka's "
                 "acknowledgement.");
  sb_hist_emit(t, "switchboard_ingest_produce_seconds", "",
               &in->produce_seconds);
  sb_idem_metrics(in->idem, t);
  sb__access_metrics(in->access, t);
  sb_metric_head(t, "switchboard_security_records_suppressed_total", "counter",
                 "Records of refusals (security.*) and reads "
                 "(access.recorded) past their address's or tenant's "
                 "records per window, folded into one record with their "
                 "count.");
  sb_text_add(t,
              "switchboard_security_records_suppressed_total{log=\"refusals\"}"
              " %llu\n"
              "switchboard_security_records_suppressed_total{log=\"reads\"} "
              "%llu\n",
              (unsigned long long)sb_refusals_suppressed(in->refusals),
              (unsigned long long)sb__access_suppressed(in->access));
  sb_metric_head(t, "switchboard_session_signins_limited_total", "counter",
                 "Sign-ins refused 429 past their address's or tenant's "
                 "sign-ins per window (each sign-in is a LOGIN record).");
  sb_text_add(t, "switchboard_session_signins_limited_total %llu\n",
              (unsigned long long)in->signins_limited);
  sb__ingest_authz_metrics(in, t);
}

static void on_poll(uv_timer_t *t) {
  sb_producer_poll(((sb_ingest_t *)t->data)->producer);
}

int sb_ingest_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t **out,
                  sb_err_t *err) {
  *out = NULL;
  sb_ingest_t *in = calloc(1, sizeof *in);
  if (in == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  in->c = c;
  in->produce_seconds.bounds = produce_bounds;
  in->produce_seconds.n = SB_ARRAY_LEN(produce_bounds);
  in->secret_len = sizeof in->secret;
  int rc =
      sb_auth_secret_load(c->data_dir, 1, in->secret, &in->secret_len, err);
  if (rc == 0)
    rc = sb_schemas_load(&in->schemas, err);
  if (rc == 0)
    rc = sb_codec_new(in->schemas, &in->codec, err);
  if (rc == 0)
    rc = sb_producer_new(c, &in->producer, err);
  if (rc == 0)
    rc = sb_idem_new(loop, c, &in->idem, err);
  if (rc == 0) /* the tenant key file: made, or its mode checked, now */
    rc = sb_keys_file_ensure(c, err);
  if (rc != 0) {
    sb_ingest_free(in);
    return rc;
  }
  sb_producer_set_nonblocking(in->producer);
  if ((rc = sb_authz_new(loop, c, &in->authz, err)) != 0 ||
      (rc = sb_refusals_new(loop, c->security_refusal_window_ms, 1024,
                            record_refusals, in, &in->refusals, err)) != 0) {
    sb_ingest_free(in);
    return rc;
  }
  sb_refusals_set_limits(in->refusals, (size_t)c->security_records_per_address,
                         (size_t)c->security_records_per_tenant);
  /* sign-ins: as many per address (tenant) and refusal window as records */
  int64_t period = (int64_t)c->security_refusal_window_ms * 1000;
  if ((rc = sb_rate_new(4096, (uint32_t)c->security_records_per_address,
                        period, &in->signin_addr, err)) != 0 ||
      (rc = sb_rate_new(1024, (uint32_t)c->security_records_per_tenant,
                        period, &in->signin_tenant, err)) != 0) {
    sb_ingest_free(in);
    return rc;
  }
  if ((rc = sb__access_new(in, loop, &in->access, err)) != 0)
    return rc; /* out of memory at start: the process stops (the refusals'
                  timer is the loop's, so nothing is freed under it) */
  /* last: its handle is the loop's from here on (sb_ingest_close) */
  if ((rc = sb__sealer_start(in, loop, err)) != 0) {
    sb_ingest_free(in);
    return rc;
  }
  uv_timer_init(loop, &in->poll);
  in->poll.data = in;
  uv_timer_start(&in->poll, on_poll, 1, 1); /* delivery reports */
  in->polling = 1;
  *out = in;
  return 0;
}

void sb_ingest_close(sb_ingest_t *in) {
  if (in == NULL || !in->polling)
    return;
  in->polling = 0;
  sb_authz_close(in->authz); /* stops following; sign-ins still answer */
  sb_refusals_close(in->refusals); /* the windows' counts, then the flush */
  sb__access_close(in->access);
  sb_err_t err = SB_ERR_INIT;
  /* answers owed are completed by the delivery reports this serves */
  sb_producer_flush(in->producer, in->c->kafka_timeout_ms, &err);
  uv_timer_stop(&in->poll);
  uv_close((uv_handle_t *)&in->poll, NULL);
  /* the marks of those answers are sent, then its handle closes */
  sb_idem_close(in->idem);
  sb__sealer_close(in); /* requests being sealed are answered 503 */
}

void sb_ingest_free(sb_ingest_t *in) {
  if (in == NULL)
    return;
  sb_producer_free(in->producer);
  sb_refusals_free(in->refusals);
  sb__access_free(in->access);
  sb_codec_free(in->codec);
  sb_schemas_free(in->schemas);
  OPENSSL_cleanse(in->secret, sizeof in->secret);
  sb_idem_free(in->idem);
  sb_authz_free(in->authz);
  sb__sealer_free(in);
  sb_rate_free(in->signin_addr);
  sb_rate_free(in->signin_tenant);
  free(in);
}

void sb_ingest_set_owners(sb_ingest_t *in, sb_auth_owner_fn fn, void *ctx) {
  in->owner = fn;
  in->owner_ctx = ctx;
}

/* Records a failed authentication or a denied event on sb.compliance.
 * Never the token: who it was (when the token said), from where, why. */
sb_client_info_t sb_client_info(const sb_http_req_t *r) {
  if (r == NULL) /* sb_ingest_submit without a request: the engine's own
                   * readers (sb.ingest, an AMI connector); the user
                   * (kafka:sb.ingest, ami:<pbx>) says which */
    return (sb_client_info_t){"", NULL, "", ""};
  return (sb_client_info_t){sb_http_peer(r), sb_http_header(r, "User-Agent"),
                            sb_http_method(r), sb_http_path(r)};
}

void sb_ingest_record_security(sb_ingest_t *in, const sb_client_info_t *from,
                               const char *type, const char *tenant,
                               const char *user, const char *reason,
                               const char *detail) {
  /* one client must not grow the log: the first refusal of a source,
   * reason and principal in a window now, the others as one event with
   * their count at the window's end (record_refusals) */
  uint64_t attempts = in->refusal_flush ? in->refusal_flush->attempts : 1;
  sb_refusal_t key = {type,         tenant,       user,
                      reason,       detail,       from->ip,
                      from->user_agent, from->method, from->path, 1, NULL, 0};
  if (in->refusal_flush == NULL && in->refusals != NULL &&
      sb_refusals_note(in->refusals, &key) == 0)
    return;
  cJSON *ce = cJSON_CreateObject();
  char ts[40];
  sb_time_format(sb_time_now_micros(), ts, sizeof ts);
  cJSON_AddStringToObject(ce, "specversion", "1.0");
  cJSON_AddStringToObject(ce, "type", type);
  cJSON_AddStringToObject(ce, "source", "switchboard://http");
  cJSON_AddStringToObject(ce, "subject", user && *user ? user : "unknown");
  /* without a verified tenant: the operator's namespace, which no token
   * can name (a tenant called "unknown" reads nothing of others) */
  cJSON_AddStringToObject(ce, "tenantid",
                          tenant && *tenant ? tenant : SB_TENANT_OPERATOR);
  cJSON_AddStringToObject(ce, "time", ts);
  cJSON *data = cJSON_AddObjectToObject(ce, "data");
  cJSON_AddStringToObject(data, "reason", reason);
  cJSON_AddNumberToObject(data, "attempts", (double)attempts);
  cJSON_AddStringToObject(data, "ip", from->ip);
  const char *ua = from->user_agent;
  if (ua)
    cJSON_AddItemToObject(data, "user_agent", cJSON_CreateString(ua));
  if (strcmp(type, "security.access_denied") == 0) {
    cJSON_AddStringToObject(data, "request_method", from->method);
    cJSON_AddStringToObject(data, "request_path", from->path);
    if (detail)
      cJSON_AddStringToObject(data, "resource_type", detail);
  } else {
    cJSON_AddStringToObject(data, "auth_method", "other");
  }
  sb_record_t rec;
  sb_err_t err = SB_ERR_INIT;
  /* over-long user agents and the like are cut, not a reason to lose it */
  cJSON *uaj = cJSON_GetObjectItem(data, "user_agent");
  if (uaj && strlen(uaj->valuestring) > 500)
    uaj->valuestring[500] = '\0';
  if (sb_codec_from_ce(in->codec, ce, SB_CE_GENERATE_ID, &rec, &err) == 0) {
    if (sb_producer_send_record(in->producer, &rec, NULL, NULL, &err) != 0)
      sb_log(SB_LOG_WARN, "http", "could not record a security event",
             SB_F_STR("type", type), SB_F_STR("error", err.msg), SB_F_END);
    sb_record_clear(&rec);
  } else {
    sb_log(SB_LOG_WARN, "http", "could not encode a security event",
           SB_F_STR("type", type), SB_F_STR("error", err.msg), SB_F_END);
  }
  cJSON_Delete(ce);
}

/* A window's counts: each key's refusals not yet recorded, as one event. */
static void record_refusals(void *ud, const sb_refusal_t *r) {
  sb_ingest_t *in = ud;
  sb_client_info_t from = {r->ip, r->user_agent, r->method, r->path};
  in->refusal_flush = r;
  sb_ingest_record_security(in, &from, r->type, r->tenant, r->user, r->reason,
                            r->detail);
  in->refusal_flush = NULL;
}

int sb_ingest_authenticate(sb_ingest_t *in, sb_http_req_t *r,
                           const char *token, sb_claims_t *who) {
  return sb_ingest_authenticate_ex(in, r, token, who, NULL);
}

int sb_ingest_authenticate_ex(sb_ingest_t *in, sb_http_req_t *r,
                              const char *token, sb_claims_t *who,
                              unsigned char *session_hash) {
  char secret[SB_SESSION_SECRET_LEN + 1];
  if (session_hash)
    memset(session_hash, 0, 32);
  memset(who, 0, sizeof *who);
  if ((token == NULL || *token == '\0') && sb__ingest_cookie(in, r, secret)) {
    sb_session_t s;
    int rc = sb__ingest_auth_session(in, r, secret, who, &s);
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc == 0 && session_hash)
      memcpy(session_hash, s.hash, 32);
    return rc;
  }
  if (sb__ingest_verify_token(in, r, token, who) != 0)
    return -1;
  return sb__ingest_authorize(in, r, who, 0);
}

int sb__ingest_verify_token(sb_ingest_t *in, sb_http_req_t *r,
                            const char *token, sb_claims_t *who) {
  sb_err_t err = SB_ERR_INIT;
  memset(who, 0, sizeof *who);
  int64_t now = (int64_t)time(NULL);
  int signed_ok = 0; /* the signature held: the claims are the token's */
  if (token != NULL && *token &&
      sb_jwt_verify(in->secret, in->secret_len, token, now, who, &err) == 0) {
    if (sb_auth_lifetime_check(who, now, in->c->auth_max_token_ttl_s, &err) ==
        0)
      return 0;
    who->reason = SB_AUTH_BAD_CLAIMS;
    signed_ok = 1;
  }
  sb_auth_reason_t why = token == NULL || !*token ? SB_AUTH_MISSING : who->reason;
  sb__ingest_count_reject(in, sb_auth_reason_name(why));
  sb_client_info_t from = sb_client_info(r);
  if (why == SB_AUTH_EXPIRED || why == SB_AUTH_NOT_YET_VALID || signed_ok)
    sb_ingest_record_security(
        in, &from, "security.access_denied", who->tenant, who->sub,
        why == SB_AUTH_EXPIRED ? "token_expired" : "token_invalid", "token");
  else
    sb_ingest_record_security(in, &from, "security.login_failed", NULL, NULL,
                              "bad_credentials", NULL);
  char msg[400];
  snprintf(msg, sizeof msg,
           "%s%s%.300s: send Authorization: Bearer <token> "
           "(switchboard token mints one)",
           sb_auth_reason_desc(why), signed_ok ? ": " : "",
           signed_ok ? err.msg : "");
  sb_http_error(r, 401, sb_auth_reason_name(why), msg,
                "WWW-Authenticate: Bearer realm=\"switchboard\"\r\n");
  return -1;
}
