#include "sb_ingest.h"

#include "sb_auth.h"
#include "sb_codec.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_producer.h"
#include "sb_refusals.h"
#include "sb_schema.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_EVENTS 10000      /* a request */
#define SEEN_SLOTS (1u << 20) /* idempotency window entries */
#define SEEN_PROBE 16
#define SEEN_WINDOW_MS (10 * 60 * 1000)

typedef struct {
  uint64_t hash;
  long long at; /* ms; 0: free */
} seen_t;

struct sb_ingest_s {
  const sb_conf_t *c;
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t secret_len;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_producer_t *producer;
  uv_timer_t poll;
  int polling;
  seen_t *seen;
  sb_auth_owner_fn owner; /* an agent's calls and leads; may be NULL */
  void *owner_ctx;
  /* metrics; touched on the loop's thread only */
  uint64_t accepted, duplicates;
  uint64_t rejected[16]; /* by index of reject_codes */
  sb_hist_t produce_seconds;
  sb_refusals_t *refusals;          /* what refusals are recorded */
  const sb_refusal_t *refusal_flush; /* a window's count being recorded */
};

static void record_refusals(void *ud, const sb_refusal_t *r);

/* Why events or requests were refused, as counted: per-event codes first,
 * then whole requests. */
static const char *const reject_codes[] = {
    "malformed_json", "invalid",  "forbidden", "tenant_mismatch",
    "busy",           "unavailable", "unsupported_media_type",
    "missing",        "malformed", "bad_alg",  "bad_signature",
    "expired",        "not_yet_valid", "bad_claims", "other"};

static const double produce_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,  0.1,    0.25,  1, 5};

static void count_reject(sb_ingest_t *in, const char *code) {
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
}

/* One item of a request. */
typedef struct {
  int status; /* 0 pending; 202 accepted; else the item's error status */
  int duplicate;
  char id[27];
  char code[32];
  char *error;
  uint64_t seen_hash;
} item_t;

typedef struct {
  sb_ingest_t *in;
  sb_http_req_t *req;
  item_t *items;
  int n, pending;
} post_t;

/* ---- idempotency window ---------------------------------------------- */

static uint64_t key_hash(const char *tenant, const char *id) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
  for (const char *p = tenant; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *p = id; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h ? h : 1;
}

static int seen_check_add(sb_ingest_t *in, uint64_t h) {
  long long now = sb_now_ms();
  size_t base = (size_t)(h & (SEEN_SLOTS - 1)), oldest = base;
  for (size_t k = 0; k < SEEN_PROBE; k++) {
    seen_t *s = &in->seen[(base + k) & (SEEN_SLOTS - 1)];
    if (s->hash == h && s->at != 0 && now - s->at < SEEN_WINDOW_MS)
      return 1;
    if (s->at < in->seen[oldest].at)
      oldest = (base + k) & (SEEN_SLOTS - 1);
  }
  in->seen[oldest] = (seen_t){h, now};
  return 0;
}

static void seen_forget(sb_ingest_t *in, uint64_t h) {
  size_t base = (size_t)(h & (SEEN_SLOTS - 1));
  for (size_t k = 0; k < SEEN_PROBE; k++) {
    seen_t *s = &in->seen[(base + k) & (SEEN_SLOTS - 1)];
    if (s->hash == h)
      s->at = 0;
  }
}

/* ---- set-up ------------------------------------------------------------ */

static void on_poll(uv_timer_t *t) {
  sb_producer_poll(((sb_ingest_t *)t->data)->producer);
}

int sb_ingest_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t **out,
                  sb_err_t *err) {
  *out = NULL;
  sb_ingest_t *in = calloc(1, sizeof *in);
  if (in == NULL || (in->seen = calloc(SEEN_SLOTS, sizeof *in->seen)) == NULL) {
    free(in);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
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
  if (rc != 0) {
    sb_ingest_free(in);
    return rc;
  }
  sb_producer_set_nonblocking(in->producer);
  if ((rc = sb_refusals_new(loop, c->security_refusal_window_ms, 1024,
                            record_refusals, in, &in->refusals, err)) != 0) {
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
  sb_refusals_close(in->refusals); /* the windows' counts, then the flush */
  sb_err_t err = SB_ERR_INIT;
  /* answers owed are completed by the delivery reports this serves */
  sb_producer_flush(in->producer, in->c->kafka_timeout_ms, &err);
  uv_timer_stop(&in->poll);
  uv_close((uv_handle_t *)&in->poll, NULL);
}

void sb_ingest_free(sb_ingest_t *in) {
  if (in == NULL)
    return;
  sb_producer_free(in->producer);
  sb_refusals_free(in->refusals);
  sb_codec_free(in->codec);
  sb_schemas_free(in->schemas);
  OPENSSL_cleanse(in->secret, sizeof in->secret);
  free(in->seen);
  free(in);
}

void sb_ingest_set_owners(sb_ingest_t *in, sb_auth_owner_fn fn, void *ctx) {
  in->owner = fn;
  in->owner_ctx = ctx;
}

/* ---- security events -------------------------------------------------- */

/* Records a failed authentication or a denied event on sb.compliance.
 * Never the token: who it was (when the token said), from where, why. */
sb_client_info_t sb_client_info(const sb_http_req_t *r) {
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
                      from->user_agent, from->method, from->path, 1};
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
                          tenant && *tenant ? tenant : SB_AUTH_OPERATOR_TENANT);
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

/* ---- answering ---------------------------------------------------------- */

/* {"accepted":[{"index":0,"id":"..."}],"rejected":[{"index":1,"status":400,
 * "code":"...","error":"..."}]}, written directly: a batch's answer is on
 * the hot path. */
static void answer(post_t *p) {
  sb_text_t acc = {0}, rej = {0};
  int naccepted = 0, nrejected = 0, first_status = 0, same = 1;
  sb_text_put(&acc, "{\"accepted\":[", 13);
  sb_text_put(&rej, "],\"rejected\":[", 14);
  for (int i = 0; i < p->n; i++) {
    item_t *it = &p->items[i];
    if (it->status == 202) {
      if (naccepted++ > 0)
        sb_text_put(&acc, ",", 1);
      if (it->duplicate)
        p->in->duplicates++;
      else
        p->in->accepted++;
      sb_text_put(&acc, "{\"index\":", 9);
      sb_text_int(&acc, i);
      sb_text_put(&acc, ",\"id\":", 6);
      sb_text_json_str(&acc, it->id);
      if (it->duplicate)
        sb_text_put(&acc, ",\"duplicate\":true", 17);
      sb_text_put(&acc, "}", 1);
    } else {
      if (nrejected++ > 0)
        sb_text_put(&rej, ",", 1);
      if (first_status == 0)
        first_status = it->status;
      else if (it->status != first_status)
        same = 0;
      count_reject(p->in, it->code);
      sb_text_put(&rej, "{\"index\":", 9);
      sb_text_int(&rej, i);
      sb_text_put(&rej, ",\"status\":", 10);
      sb_text_int(&rej, it->status);
      sb_text_put(&rej, ",\"code\":", 8);
      sb_text_json_str(&rej, it->code);
      sb_text_put(&rej, ",\"error\":", 9);
      sb_text_json_str(&rej, it->error ? it->error : "");
      sb_text_put(&rej, "}", 1);
    }
  }
  sb_text_put(&rej, "]}\n", 3);
  sb_text_put(&acc, rej.s ? rej.s : "", rej.len);
  int status = naccepted == p->n ? 202
               : naccepted > 0   ? 207
               : same            ? first_status
                                 : 400;
  if (!acc.failed && !rej.failed)
    sb_http_respond(p->req, status, "application/json", acc.s, acc.len,
                    status == 503 ? "Retry-After: 1\r\n" : NULL);
  else
    sb_http_error(p->req, 500, "internal", "out of memory", NULL);
  sb_text_free(&acc);
  sb_text_free(&rej);
  for (int i = 0; i < p->n; i++)
    free(p->items[i].error);
  free(p->items);
  free(p);
}

static void set_item(item_t *it, int status, const char *code,
                     const char *msg) {
  it->status = status;
  snprintf(it->code, sizeof it->code, "%s", code);
  free(it->error);
  it->error = msg ? strdup(msg) : NULL;
}

typedef struct {
  post_t *p;
  int index;
  long long sent_us;
} dr_t;

static long long mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_delivery(void *opaque, const char *error) {
  dr_t *d = opaque;
  post_t *p = d->p;
  item_t *it = &p->items[d->index];
  if (error == NULL) {
    it->status = 202;
    sb_hist_observe(&p->in->produce_seconds,
                    (double)(mono_us() - d->sent_us) / 1e6);
  } else {
    char msg[300];
    snprintf(msg, sizeof msg,
             "Kafka did not acknowledge the event: %s; "
             "retry later",
             error);
    set_item(it, 503, "unavailable", msg);
    seen_forget(p->in, it->seen_hash); /* a retry must be produced */
  }
  free(d);
  if (--p->pending == 0)
    answer(p);
}

/* ---- one event ------------------------------------------------------------
 */

/* The actor* attributes: each one a client sent must agree with what the
 * engine knows (403 naming the attribute otherwise); then all are set from
 * the token and the connection. 0, or -1 with the item answered. */
static int set_actor(post_t *p, item_t *it, cJSON *ev, const sb_claims_t *who) {
  /* User-Agent is visible ASCII (RFC 9110): anything else is shown as '?',
   * so that the record is valid UTF-8; the schema holds 512 characters */
  char ua[501];
  const char *agent = sb_http_header(p->req, "User-Agent");
  size_t ul = agent ? strnlen(agent, sizeof ua - 1) : 0;
  for (size_t i = 0; i < ul; i++) {
    unsigned char ch = (unsigned char)agent[i];
    ua[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  ua[ul] = '\0';
  const struct {
    const char *attr, *value, *from;
  } actor[] = {
      {"actoruserid", who->sub, "the token's subject"},
      {"actorrole", sb_role_name(who->role), "the token's role"},
      {"actorip", sb_http_peer(p->req), "the client's address"},
      {"actoruseragent", agent ? ua : NULL, "the request's User-Agent"},
  };
  for (size_t i = 0; i < SB_ARRAY_LEN(actor); i++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, actor[i].attr);
    if (v == NULL)
      continue;
    if (cJSON_IsString(v) && actor[i].value != NULL &&
        strcmp(v->valuestring, actor[i].value) == 0)
      continue;
    char msg[300];
    snprintf(msg, sizeof msg,
             "%s: does not match %s ('%.128s'): the server records who "
             "posted an event; leave the actor* attributes out",
             actor[i].attr, actor[i].from,
             actor[i].value ? actor[i].value : "none");
    set_item(it, 403, "forbidden", msg);
    sb_client_info_t from = sb_client_info(p->req);
    sb_ingest_record_security(p->in, &from, "security.access_denied",
                              who->tenant, who->sub, "other", "actor");
    return -1;
  }
  for (size_t i = 0; i < SB_ARRAY_LEN(actor); i++) {
    cJSON_DeleteItemFromObjectCaseSensitive(ev, actor[i].attr);
    if (actor[i].value != NULL && *actor[i].value)
      cJSON_AddStringToObject(ev, actor[i].attr, actor[i].value);
  }
  return 0;
}

static void one(post_t *p, int index, cJSON *ev, const sb_claims_t *who) {
  sb_ingest_t *in = p->in;
  item_t *it = &p->items[index];
  sb_err_t err = SB_ERR_INIT;
  char msg[SB_ERR_MSG_MAX + 64];
  if (!cJSON_IsObject(ev)) {
    set_item(it, 400, "invalid", "event: expected a JSON object");
    return;
  }
  /* the tenant is the token's */
  cJSON *tenant = cJSON_GetObjectItemCaseSensitive(ev, "tenantid");
  if (tenant == NULL) {
    cJSON_AddStringToObject(ev, "tenantid", who->tenant);
  } else if (sb_auth_tenant_check(
                 who, cJSON_IsString(tenant) ? tenant->valuestring : "?",
                 &err) != 0) {
    set_item(it, 403, "tenant_mismatch", err.msg);
    sb_client_info_t from = sb_client_info(p->req);
    sb_ingest_record_security(in, &from, "security.access_denied", who->tenant,
                              who->sub, "cross_tenant", "tenant");
    return;
  }
  cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
  if (cJSON_IsString(type) && sb_auth_check(who->role, SB_PERM_POST_EVENT,
                                            type->valuestring, &err) != 0) {
    set_item(it, 403, "forbidden", err.msg);
    sb_client_info_t from = sb_client_info(p->req);
    sb_ingest_record_security(in, &from, "security.access_denied", who->tenant,
                              who->sub, "insufficient_role", "event_type");
    return;
  }
  /* who did it is the engine's to say: the token's subject and role, the
   * client's address and user agent */
  if (set_actor(p, it, ev, who) != 0)
    return;
  /* an agent acts only on itself and on its own calls and leads */
  if (sb_auth_agent_object_check(who, ev, in->owner, in->owner_ctx, &err) !=
      0) {
    set_item(it, 403, "forbidden", err.msg);
    sb_client_info_t from = sb_client_info(p->req);
    sb_ingest_record_security(in, &from, "security.access_denied", who->tenant,
                              who->sub, "other", "object");
    return;
  }
  /* an event without id: one derived from the Idempotency-Key, so that a
   * retried request gets the same ids */
  const char *ikey = sb_http_header(p->req, "Idempotency-Key");
  if (cJSON_GetObjectItemCaseSensitive(ev, "id") == NULL && ikey != NULL) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char seed[512], id[SB_ULID_LEN + 1];
    snprintf(seed, sizeof seed, "%s/%.300s/%d", who->tenant, ikey, index);
    EVP_Digest(seed, strlen(seed), md, &mdlen, EVP_sha256(), NULL);
    uint64_t ms = ((uint64_t)md[10] << 8 | md[11]) + 1700000000000ull;
    sb_ulid_make(ms, md, id);
    cJSON_AddStringToObject(ev, "id", id);
  }
  sb_record_t rec;
  if (sb_codec_from_ce(in->codec, ev, SB_CE_GENERATE_ID, &rec, &err) != 0) {
    set_item(it, 400, "invalid", err.msg);
    return;
  }
  if (sb_event_time_check(rec.occurred_at, sb_time_now_micros(),
                          in->c->ingest_max_past_s, in->c->ingest_max_future_s,
                          &err) != 0) {
    set_item(it, 400, "invalid", err.msg);
    sb_record_clear(&rec);
    return;
  }
  snprintf(it->id, sizeof it->id, "%s", rec.event_id);
  it->seen_hash = key_hash(who->tenant, rec.event_id);
  if (seen_check_add(in, it->seen_hash)) {
    it->status = 202; /* seen within the window: acknowledged, not again */
    it->duplicate = 1;
    sb_record_clear(&rec);
    return;
  }
  dr_t *d = malloc(sizeof *d);
  if (d == NULL) {
    set_item(it, 503, "unavailable", "out of memory");
    seen_forget(in, it->seen_hash);
    sb_record_clear(&rec);
    return;
  }
  *d = (dr_t){p, index, mono_us()};
  p->pending++;
  if (sb_producer_send_record(in->producer, &rec, on_delivery, d, &err) != 0) {
    p->pending--;
    free(d);
    snprintf(msg, sizeof msg, "%s; retry later", err.msg);
    set_item(it, err.code == SB_EBUSY ? 429 : 503,
             err.code == SB_EBUSY ? "busy" : "unavailable", msg);
    seen_forget(in, it->seen_hash);
  }
  sb_record_clear(&rec);
}

/* ---- the request ------------------------------------------------------- */

static int media_is(const char *ct, const char *want) {
  size_t n = strlen(want);
  return ct && strncasecmp(ct, want, n) == 0 &&
         (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int sb_ingest_authenticate(sb_ingest_t *in, sb_http_req_t *r,
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
  count_reject(in, sb_auth_reason_name(why));
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

void sb_ingest_post(sb_http_req_t *r, sb_ingest_t *in) {
  /* who: Authorization: Bearer <token> */
  const char *auth = sb_http_header(r, "Authorization");
  const char *token =
      auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
  sb_claims_t who;
  if (sb_ingest_authenticate(in, r, token, &who) != 0)
    return;
  sb_err_t err = SB_ERR_INIT;
  const char *ct = sb_http_header(r, "Content-Type");
  int batch = media_is(ct, "application/cloudevents-batch+json");
  int ndjson = media_is(ct, "application/x-ndjson");
  int single = media_is(ct, "application/cloudevents+json") ||
               media_is(ct, "application/json");
  if (!batch && !ndjson && !single) {
    count_reject(in, "unsupported_media_type");
    sb_http_error(r, 415, "unsupported_media_type",
                  "send application/cloudevents+json, "
                  "application/cloudevents-batch+json or application/x-ndjson",
                  NULL);
    return;
  }
  size_t len;
  const char *body = sb_http_body(r, &len);
  cJSON *doc = NULL, **events = NULL;
  int n = 0;
  char **lines_err = NULL;
  int *lines_no = NULL;
  if (ndjson) {
    /* each line on its own: a bad line is that item's error, named by its
     * number in the body as an editor counts lines (blank ones included) */
    int cap = 0, line = 0;
    for (const char *p = body, *end = body + len; p < end;) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
      int blank = 1;
      line++;
      for (size_t k = 0; k < ll && blank; k++)
        blank = p[k] == ' ' || p[k] == '\t' || p[k] == '\r';
      if (!blank) {
        if (n >= MAX_EVENTS) {
          n = MAX_EVENTS + 1; /* refused whole below, never in part */
          break;
        }
        if (n == cap) {
          cap = cap ? cap * 2 : 64;
          cJSON **ne = realloc(events, (size_t)cap * sizeof *events);
          if (ne != NULL)
            events = ne;
          char **nle = realloc(lines_err, (size_t)cap * sizeof *lines_err);
          if (nle != NULL)
            lines_err = nle;
          int *nln = realloc(lines_no, (size_t)cap * sizeof *lines_no);
          if (nln != NULL)
            lines_no = nln;
          if (ne == NULL || nle == NULL || nln == NULL) {
            for (int i = 0; i < n; i++) {
              cJSON_Delete(events[i]);
              free(lines_err[i]);
            }
            free(events);
            free(lines_err);
            free(lines_no);
            sb_http_error(r, 503, "unavailable", "out of memory",
                          "Retry-After: 1\r\n");
            return;
          }
        }
        sb_err_t perr = SB_ERR_INIT;
        events[n] = NULL;
        lines_err[n] = NULL;
        lines_no[n] = line;
        if (sb_json_parse(p, ll, &events[n], &perr) != 0)
          lines_err[n] = strdup(perr.msg);
        n++;
      }
      p += ll + 1;
    }
  } else {
    if (sb_json_parse(body, len, &doc, &err) != 0) {
      sb_http_error(r, 400, "malformed_json", err.msg, NULL);
      return;
    }
    if (batch && !cJSON_IsArray(doc)) {
      cJSON_Delete(doc);
      sb_http_error(r, 400, "invalid", "a batch is a JSON array of events",
                    NULL);
      return;
    }
    n = cJSON_IsArray(doc) ? cJSON_GetArraySize(doc) : 1;
  }
  if (n == 0 || n > MAX_EVENTS) {
    char msg[160];
    snprintf(msg, sizeof msg,
             n ? "more than %d events in one request: nothing was accepted; "
                 "send them in several requests"
               : "no events in the request",
             MAX_EVENTS);
    for (int i = 0; ndjson && i < n && i < MAX_EVENTS; i++) {
      cJSON_Delete(events[i]);
      free(lines_err[i]);
    }
    cJSON_Delete(doc);
    free(events);
    free(lines_err);
    free(lines_no);
    sb_http_error(r, n ? 413 : 400, n ? "too_many" : "empty", msg, NULL);
    return;
  }
  post_t *p = calloc(1, sizeof *p);
  item_t *items = calloc((size_t)n, sizeof *items);
  if (p == NULL || items == NULL) {
    free(p);
    free(items);
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
    return;
  }
  p->in = in;
  p->req = r;
  p->items = items;
  p->n = n;
  p->pending = 1; /* held while the items are sent */
  cJSON *el = cJSON_IsArray(doc) ? doc->child : doc;
  for (int i = 0; i < n; i++) {
    if (ndjson) {
      if (lines_err[i]) {
        char msg[SB_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "line %d: %s", lines_no[i], lines_err[i]);
        set_item(&items[i], 400, "malformed_json", msg);
      } else {
        one(p, i, events[i], &who);
        item_t *it = &items[i];
        if (it->status != 0 && it->status != 202 && it->error != NULL) {
          char msg[SB_ERR_MSG_MAX + 32];
          snprintf(msg, sizeof msg, "line %d: %s", lines_no[i], it->error);
          free(it->error);
          it->error = strdup(msg);
        }
      }
      free(lines_err[i]);
      cJSON_Delete(events[i]);
    } else {
      one(p, i, el, &who);
      el = el->next;
    }
  }
  free(events);
  free(lines_err);
  free(lines_no);
  cJSON_Delete(doc);
  if (--p->pending == 0)
    answer(p);
}
