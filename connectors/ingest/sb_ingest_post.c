/* POST /v1/events: each event checked, claimed, produced, and the request
 * answered. */
#include "sb_ingest_int.h"

#include "sb_log.h"
#include "sb_pii_event.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_EVENTS 10000      /* a request */
#define MAX_IDEMPOTENCY_KEY 1024 /* bytes of an Idempotency-Key header */

/* One item of a request. */
typedef struct {
  int status; /* 0 pending; 202 accepted; else the item's error status */
  int duplicate;
  int ready;            /* checked, waiting for its PII to be sealed */
  int has_rec, claimed; /* encoded, waiting for its claim; claim granted */
  int follow;           /* an earlier item of the same id, or -1 */
  char id[27];
  char *pid; /* the producer's id when it is not id (malloc'd), or NULL */
  char code[32];
  char *error;
  sb_record_t rec;
  sb_idem_key_t key;
} item_t;

typedef struct post_s {
  sb_ingest_t *in;
  sb_http_req_t *req;
  item_t *items;
  int n, pending;
  int *claim_item; /* the item of each key claimed */
  size_t nclaim;
  long long attempt; /* of the claim, in the idempotency store */
  sb_ingest_done_fn done; /* sb_ingest_submit: answers instead */
  void *done_ud;
} post_t;

static void set_item(item_t *it, int status, const char *code,
                     const char *msg) {
  it->status = status;
  snprintf(it->code, sizeof it->code, "%s", code);
  free(it->error);
  it->error = msg ? strdup(msg) : NULL;
}

static void post_free(post_t *p) {
  for (int i = 0; i < p->n; i++) {
    free(p->items[i].error);
    free(p->items[i].pid);
    sb_record_clear(&p->items[i].rec);
  }
  free(p->items);
  free(p->claim_item);
  free(p);
}

/* sb_ingest_submit's end: the outcome to its callback, which answers. */
static void done_outcome(post_t *p) {
  sb_ingest_outcome_t o = {0};
  for (int i = 0; i < p->n; i++) {
    item_t *it = &p->items[i];
    if (it->status == 202) {
      o.accepted++;
      o.duplicates += it->duplicate;
      if (it->duplicate)
        p->in->duplicates++;
      else
        p->in->accepted++;
      continue;
    }
    sb__ingest_count_reject(p->in, it->code);
    if (o.refused++ == 0 || (o.status < 500 && it->status >= 500) ||
        (o.status != 409 && it->status == 409)) {
      o.status = it->status; /* the one to retry wins */
      o.code = it->code;
      o.error = it->error ? it->error : "";
    }
  }
  if (o.refused == 0)
    o.status = 202;
  p->done(p->done_ud, p->req, &o);
  post_free(p);
}

/* ,"id":"<the producer's id>" and, when that is not a ULID, the event id
 * derived from it: ,"event_id":"<ULID>" */
static void put_ids(sb_text_t *t, const item_t *it) {
  sb_text_put(t, ",\"id\":", 6);
  sb_text_json_str(t, it->pid ? it->pid : it->id);
  if (it->pid != NULL) {
    sb_text_put(t, ",\"event_id\":", 12);
    sb_text_json_str(t, it->id);
  }
}

/* {"accepted":[{"index":0,"id":"..."}],"rejected":[{"index":1,"status":400,
 * "code":"...","error":"..."}]}, written directly: a batch's answer is on
 * the hot path. */
static void answer(post_t *p) {
  sb_text_t acc = {0}, rej = {0};
  int naccepted = 0, nrejected = 0, first_status = 0, same = 1, retry = 0;
  /* an id given twice in one request: the second is what the first was */
  for (int i = 0; i < p->n; i++) {
    item_t *it = &p->items[i];
    if (it->follow < 0)
      continue;
    const item_t *lead = &p->items[it->follow];
    if (lead->status == 202)
      it->status = 202, it->duplicate = 1;
    else {
      char code[sizeof it->code];
      memcpy(code, lead->code, sizeof code);
      set_item(it, lead->status, code, lead->error);
    }
  }
  if (p->done != NULL) {
    done_outcome(p);
    return;
  }
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
      put_ids(&acc, it);
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
      retry |= it->status == 409 || it->status == 429 || it->status == 503;
      sb__ingest_count_reject(p->in, it->code);
      sb_text_put(&rej, "{\"index\":", 9);
      sb_text_int(&rej, i);
      sb_text_put(&rej, ",\"status\":", 10);
      sb_text_int(&rej, it->status);
      sb_text_put(&rej, ",\"code\":", 8);
      sb_text_json_str(&rej, it->code);
      if (it->id[0])
        put_ids(&rej, it);
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
                    retry ? "Retry-After: 1\r\n" : NULL);
  else
    sb_http_error(p->req, 500, "internal", "out of memory", NULL);
  sb_text_free(&acc);
  sb_text_free(&rej);
  post_free(p);
}

static void on_finished(void *arg, const sb_idem_state_t *states,
                        const char *error) {
  (void)states;
  post_t *p = arg;
  if (error != NULL)
    sb_log(SB_LOG_WARN, "ingest",
           "produced events not yet marked done in the idempotency store "
           "(tried again in the background)",
           SB_F_STR("error", error), SB_F_END);
  answer(p); /* what was produced is in Kafka either way */
}

/* Every item has its outcome: the claims of produced events are marked
 * done, the others released, before the answer goes (so that a retry after
 * a 202 is a duplicate). */
static void finish(post_t *p) {
  size_t nd = 0, nr = 0;
  sb_idem_key_t *keys = NULL;
  if (p->nclaim > 0)
    keys = malloc(p->nclaim * sizeof *keys);
  if (keys == NULL) {
    if (p->nclaim > 0)
      sb_log(SB_LOG_ERROR, "ingest",
             "out of memory: claims left to expire with their lease", SB_F_END);
    answer(p);
    return;
  }
  /* done from the front, released from the back */
  for (size_t k = 0; k < p->nclaim; k++) {
    item_t *it = &p->items[p->claim_item[k]];
    if (!it->claimed)
      continue;
    if (it->status == 202)
      keys[nd++] = it->key;
    else
      keys[p->nclaim - 1 - nr++] = it->key;
  }
  if (nd + nr == 0) {
    free(keys);
    answer(p);
    return;
  }
  sb_idem_finish(p->in->idem, p->attempt, keys, nd, keys + p->nclaim - nr, nr,
                 on_finished, p);
  free(keys);
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
    set_item(it, 503, "unavailable", msg); /* its claim is released */
  }
  free(d);
  if (--p->pending == 0)
    finish(p);
}

/* Produces a claimed item. */
static void produce(post_t *p, int index) {
  sb_ingest_t *in = p->in;
  item_t *it = &p->items[index];
  sb_err_t err = SB_ERR_INIT;
  char msg[SB_ERR_MSG_MAX + 64];
  dr_t *d = malloc(sizeof *d);
  if (d == NULL) {
    set_item(it, 503, "unavailable", "out of memory; retry later");
    return;
  }
  *d = (dr_t){p, index, mono_us()};
  p->pending++;
  if (sb_producer_send_record(in->producer, &it->rec, on_delivery, d, &err) !=
      0) {
    p->pending--;
    free(d);
    snprintf(msg, sizeof msg, "%s; retry later", err.msg);
    set_item(it, err.code == SB_EBUSY ? 429 : 503,
             err.code == SB_EBUSY ? "busy" : "unavailable", msg);
  }
}

/* The store's answer for the request's ids. */
static void on_claimed(void *arg, const sb_idem_state_t *states,
                       const char *error) {
  post_t *p = arg;
  char msg[400];
  for (size_t k = 0; k < p->nclaim; k++) {
    item_t *it = &p->items[p->claim_item[k]];
    switch (states[k]) {
    case SB_IDEM_CLAIMED:
      it->claimed = 1;
      if (!p->in->polling)
        set_item(it, 503, "unavailable",
                 "the server is stopping; nothing was produced, retry");
      continue; /* produced below, in the request's order */
    case SB_IDEM_DUPLICATE:
      it->status = 202; /* produced within the window: not again */
      it->duplicate = 1;
      break;
    case SB_IDEM_IN_FLIGHT:
      set_item(it, 409, "in_flight",
               "an earlier request with this event id is still being "
               "produced; retry after a second: it is then acknowledged as a "
               "duplicate, or produced if that attempt failed");
      break;
    default:
      snprintf(msg, sizeof msg,
               "the idempotency store (PostgreSQL) did not answer: %.250s; "
               "nothing was produced, retry later",
               error ? error : "unknown error");
      set_item(it, 503, "unavailable", msg);
      break;
    }
    sb_record_clear(&it->rec);
  }
  /* the claims came sorted by key: what was claimed is produced in the
   * order it was sent, so that one entity's events (a call's, from the AMI
   * connector or a batch) keep their order on its partition */
  for (int i = 0; i < p->n; i++) {
    item_t *it = &p->items[i];
    if (!it->claimed || !it->has_rec)
      continue;
    if (p->in->polling)
      produce(p, i);
    sb_record_clear(&it->rec);
  }
  if (--p->pending == 0)
    finish(p);
}

typedef struct {
  sb_idem_key_t key;
  int ix;
} keyed_t;

static int by_key(const void *a, const void *b) {
  const keyed_t *x = a, *y = b;
  int c = memcmp(x->key.b, y->key.b, SB_IDEM_KEY_LEN);
  return c != 0 ? c : (x->ix > y->ix) - (x->ix < y->ix);
}

/* Claims the ids of the items encoded, each id once: a repeated id in the
 * request follows its first. Answers when nothing is left to wait for. */
static void claim(post_t *p) {
  keyed_t *ks = malloc((size_t)p->n * sizeof *ks + 1);
  sb_idem_key_t *keys = malloc((size_t)p->n * sizeof *keys + 1);
  p->claim_item = malloc((size_t)p->n * sizeof *p->claim_item + 1);
  sb_err_t err = SB_ERR_INIT;
  int m = 0;
  if (ks == NULL || keys == NULL || p->claim_item == NULL) {
    sb_err_set(&err, SB_ENOMEM, "out of memory");
    goto refuse;
  }
  for (int i = 0; i < p->n; i++)
    if (p->items[i].has_rec)
      ks[m++] = (keyed_t){p->items[i].key, i};
  qsort(ks, (size_t)m, sizeof *ks, by_key);
  for (int k = 0; k < m; k++) {
    if (k > 0 && memcmp(ks[k].key.b, ks[k - 1].key.b, SB_IDEM_KEY_LEN) == 0) {
      item_t *it = &p->items[ks[k].ix];
      it->follow = p->claim_item[p->nclaim - 1]; /* the first of the run */
      it->has_rec = 0;
      sb_record_clear(&it->rec);
      continue;
    }
    keys[p->nclaim] = ks[k].key;
    p->claim_item[p->nclaim++] = ks[k].ix;
  }
  if (p->nclaim > 0 && sb_idem_claim(p->in->idem, keys, p->nclaim, on_claimed,
                                     p, &p->attempt, &err) != 0)
    goto refuse;
  if (p->nclaim > 0)
    p->pending++; /* held until the store answers */
  free(ks);
  free(keys);
  return;
refuse:
  for (int i = 0; i < p->n; i++) {
    item_t *it = &p->items[i];
    if (!it->has_rec)
      continue;
    char msg[SB_ERR_MSG_MAX + 64];
    snprintf(msg, sizeof msg, "%s; nothing was produced, retry later", err.msg);
    set_item(it, 503, "unavailable", msg);
    sb_record_clear(&it->rec);
  }
  p->nclaim = 0;
  free(ks);
  free(keys);
}

/* The actor* attributes: each one a client sent must agree with what the
 * engine knows (403 naming the attribute otherwise); then all are set from
 * the token and the connection. 0, or -1 with the item answered. */
static int set_actor(post_t *p, item_t *it, cJSON *ev, const sb_claims_t *who) {
  /* User-Agent is visible ASCII (RFC 9110): anything else is shown as '?',
   * so that the record is valid UTF-8; the schema holds 512 characters */
  char ua[501];
  /* no request (events read from Kafka, a PBX's through the AMI
   * connector): no address and no user agent */
  const char *agent = p->req ? sb_http_header(p->req, "User-Agent") : NULL;
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
      {"actorip", p->req ? sb_http_peer(p->req) : NULL,
       "the client's address"},
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

/* role.granted / role.revoked: in a tenant not yet managed only a grant
 * of admin; never the last admin's revocation. An event the converter
 * will refuse anyway (no role, no user) passes here. 0, or -1 with the
 * item answered. */
static int role_event_check(post_t *p, item_t *it, const cJSON *ev,
                            const sb_claims_t *who, int grant) {
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
  const cJSON *role = cJSON_GetObjectItemCaseSensitive(data, "role");
  const cJSON *user = cJSON_GetObjectItemCaseSensitive(ev, "subject");
  if (!cJSON_IsString(user))
    user = cJSON_GetObjectItemCaseSensitive(data, "user_id");
  sb_role_t r;
  sb_err_t err = SB_ERR_INIT;
  if (!cJSON_IsString(role) || !cJSON_IsString(user) ||
      sb_role_parse(role->valuestring, &r, &err) != 0)
    return 0;
  if (sb_authz_role_event_check(p->in->authz, who->tenant, grant, r,
                                user->valuestring, sb_time_now_micros(),
                                &err) == 0)
    return 0;
  if (err.code == SB_EUNAVAIL) {
    set_item(it, 503, "unavailable", err.msg);
    return -1;
  }
  set_item(it, 403, "forbidden", err.msg);
  sb_client_info_t from = sb_client_info(p->req);
  sb_ingest_record_security(p->in, &from, "security.access_denied",
                            who->tenant, who->sub, "other", "role_event");
  return -1;
}

/* Checks one event (tenant, role, actor, object, id); ready for sealing
 * when nothing refused it. */
static void one(post_t *p, int index, cJSON *ev, const sb_claims_t *who,
                const char *ikey) {
  sb_ingest_t *in = p->in;
  item_t *it = &p->items[index];
  sb_err_t err = SB_ERR_INIT;
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
  /* role events keep a managed tenant administrable (sb_authz.h) */
  if (cJSON_IsString(type) && in->authz &&
      (strcmp(type->valuestring, "role.granted") == 0 ||
       strcmp(type->valuestring, "role.revoked") == 0) &&
      role_event_check(p, it, ev, who, type->valuestring[5] == 'g') != 0)
    return;
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
  cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
  if (cJSON_IsString(id)) {
    /* a ULID in either case is one id: kept in upper case; any other id is
     * the producer's, kept as it is (the codec derives the event id) */
    if (sb_ulid_valid(id->valuestring, strlen(id->valuestring)))
      sb_idem_ulid_upper(id->valuestring);
  } else if (id == NULL && ikey != NULL) {
    /* an event without id: one derived from the whole Idempotency-Key, the
     * tenant and the principal (two users' keys never meet) and the index,
     * so that a retried request gets the same ids */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char ix[16], ulid[SB_ULID_LEN + 1];
    snprintf(ix, sizeof ix, "%d", index);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, "sb-idempotency-key", 19) != 1 ||
        EVP_DigestUpdate(ctx, who->tenant, strlen(who->tenant) + 1) != 1 ||
        EVP_DigestUpdate(ctx, who->sub, strlen(who->sub) + 1) != 1 ||
        EVP_DigestUpdate(ctx, ikey, strlen(ikey) + 1) != 1 ||
        EVP_DigestUpdate(ctx, ix, strlen(ix)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
      EVP_MD_CTX_free(ctx);
      set_item(it, 503, "unavailable", "SHA-256 failed; retry later");
      return;
    }
    EVP_MD_CTX_free(ctx);
    uint64_t ms = ((uint64_t)md[10] << 8 | md[11]) + 1700000000000ull;
    sb_ulid_make(ms, md, ulid);
    cJSON_AddStringToObject(ev, "id", ulid);
  }
  it->ready = 1; /* its PII is sealed with the batch's, then encode() */
}

/* Encodes one event whose PII is sealed; it then waits for its id's
 * claim. */
static void encode(post_t *p, int index, cJSON *ev, const char *tenant) {
  sb_ingest_t *in = p->in;
  item_t *it = &p->items[index];
  sb_err_t err = SB_ERR_INIT;
  if (sb_codec_from_ce(in->codec, ev, SB_CE_GENERATE_ID, &it->rec, &err) != 0) {
    set_item(it, 400, "invalid", err.msg);
    return;
  }
  if (sb_event_time_check(it->rec.occurred_at, sb_time_now_micros(),
                          in->c->ingest_max_past_s, in->c->ingest_max_future_s,
                          &err) != 0) {
    set_item(it, 400, "invalid", err.msg);
    sb_record_clear(&it->rec);
    return;
  }
  snprintf(it->id, sizeof it->id, "%s", it->rec.event_id);
  if (it->rec.ce_id != NULL && (it->pid = strdup(it->rec.ce_id)) == NULL) {
    set_item(it, 503, "unavailable", "out of memory; retry later");
    sb_record_clear(&it->rec);
    return;
  }
  sb_idem_event_key(tenant, it->rec.event_id, &it->key);
  it->has_rec = 1;
}

void sb__ingest_sealed(sb__seal_t *j, int ran) {
  post_t *p = j->p;
  item_t *items = p->items;
  int n = p->n;
  if (ran && j->rc != 0) {
    char msg[SB_ERR_MSG_MAX + 64];
    snprintf(msg, sizeof msg, "sealing PII: %s; nothing was produced, retry "
             "later", j->err.msg);
    sb_log(SB_LOG_ERROR, "ingest", "cannot seal PII",
           SB_F_STR("error", j->err.msg), SB_F_END);
    for (int i = 0; i < n; i++)
      if (j->evs[i] != NULL) {
        set_item(&items[i], 503, "unavailable", msg);
        j->evs[i] = NULL;
      }
  }
  for (int i = 0; i < n; i++) {
    if (ran && j->why != NULL && j->why[i] != NULL) {
      set_item(&items[i], 400, "invalid", j->why[i]);
      free(j->why[i]);
    } else if (j->evs != NULL && j->evs[i] != NULL) {
      if (ran)
        encode(p, i, j->evs[i], j->tenant);
      else /* not sealed: the sealer is closing (or out of memory) */
        set_item(&items[i], 503, "unavailable",
                 "the server is stopping; nothing was produced, retry");
    }
    item_t *it = &items[i];
    if (j->ndjson && !j->lines_err[i] && it->status != 0 && it->status != 202 &&
        it->error != NULL) {
      char msg[SB_ERR_MSG_MAX + 32];
      snprintf(msg, sizeof msg, "line %d: %s", j->lines_no[i], it->error);
      free(it->error);
      it->error = strdup(msg);
    }
    if (j->ndjson) {
      free(j->lines_err[i]);
      cJSON_Delete(j->events[i]);
    }
  }
  free(j->evs);
  free(j->why);
  free(j->events);
  free(j->lines_err);
  free(j->lines_no);
  cJSON_Delete(j->doc);
  claim(p);
  if (--p->pending == 0)
    finish(p);
}


static int media_is(const char *ct, const char *want) {
  size_t n = strlen(want);
  return ct && strncasecmp(ct, want, n) == 0 &&
         (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void start(sb_ingest_t *in, sb_http_req_t *r, const sb_claims_t *whop,
                  const char *ikey, cJSON *doc, cJSON **events, int n,
                  char **lines_err, int *lines_no, int ndjson,
                  sb_ingest_done_fn done, void *done_ud);

void sb_ingest_post(sb_http_req_t *r, sb_ingest_t *in) {
  /* who: Authorization: Bearer <token> */
  const char *auth = sb_http_header(r, "Authorization");
  const char *token =
      auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
  sb_claims_t who;
  if (sb_ingest_authenticate(in, r, token, &who) != 0)
    return;
  sb_err_t err = SB_ERR_INIT;
  /* the whole key counts (hashed), so it is bounded, not cut */
  const char *ikey = sb_http_header(r, "Idempotency-Key");
  if (ikey != NULL && strlen(ikey) > MAX_IDEMPOTENCY_KEY) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "Idempotency-Key: %zu bytes; at most %d are accepted (a UUID or "
             "a hash of the request will do)",
             strlen(ikey), MAX_IDEMPOTENCY_KEY);
    sb__ingest_count_reject(in, "invalid");
    sb_http_error(r, 400, "idempotency_key_too_long", msg, NULL);
    return;
  }
  const char *ct = sb_http_header(r, "Content-Type");
  int batch = media_is(ct, "application/cloudevents-batch+json");
  int ndjson = media_is(ct, "application/x-ndjson");
  int structured = media_is(ct, "application/cloudevents+json");
  /* binary content mode: the attributes in ce-* headers, the data the body
   * (CloudEvents HTTP binding 1.0, 3.1); a structured or batch media type
   * wins over stray ce-* headers */
  int binary = !batch && !ndjson && !structured && sb__ingest_is_binary(r);
  int single = structured || (!binary && media_is(ct, "application/json"));
  if (!batch && !ndjson && !single && !binary) {
    sb__ingest_count_reject(in, "unsupported_media_type");
    sb_http_error(r, 415, "unsupported_media_type",
                  "send application/cloudevents+json, "
                  "application/cloudevents-batch+json or application/x-ndjson, "
                  "or one event in binary mode (ce-specversion, ce-id, "
                  "ce-source, ce-type headers and its data as "
                  "application/json)",
                  NULL);
    return;
  }
  size_t len;
  const char *body = sb_http_body(r, &len);
  cJSON *doc = NULL, **events = NULL;
  int n = 0;
  char **lines_err = NULL;
  int *lines_no = NULL;
  if (binary) {
    if (sb__ingest_binary(r, ct, body, len, &doc, &err) != 0) {
      int st = err.code == SB_EINVAL ? 415 : err.code == SB_ENOMEM ? 503 : 400;
      const char *code = st == 415   ? "unsupported_media_type"
                         : st == 503 ? "unavailable"
                                     : "invalid";
      sb__ingest_count_reject(in, code);
      sb_http_error(r, st, code, err.msg, st == 503 ? "Retry-After: 1\r\n" : NULL);
      return;
    }
    n = 1;
  } else if (ndjson) {
    if (sb__ingest_ndjson(body, len, MAX_EVENTS, &events, &lines_err,
                          &lines_no, &n) != 0) {
      sb_http_error(r, 503, "unavailable", "out of memory",
                    "Retry-After: 1\r\n");
      return;
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
  start(in, r, &who, ikey, doc, events, n, lines_err, lines_no, ndjson, NULL,
        NULL);
}

/* The items of a request parsed (doc, or NDJSON's events), taken: checked,
 * sealed, claimed, produced, then answered (or handed to done). */
static void start(sb_ingest_t *in, sb_http_req_t *r, const sb_claims_t *whop,
                  const char *ikey, cJSON *doc, cJSON **events, int n,
                  char **lines_err, int *lines_no, int ndjson,
                  sb_ingest_done_fn done, void *done_ud) {
  sb_claims_t who = *whop;
  post_t *p = calloc(1, sizeof *p);
  item_t *items = calloc((size_t)n, sizeof *items);
  if (p == NULL || items == NULL) {
    free(p);
    free(items);
    for (int i = 0; ndjson && i < n; i++) {
      cJSON_Delete(events[i]);
      free(lines_err[i]);
    }
    free(events);
    free(lines_err);
    free(lines_no);
    cJSON_Delete(doc);
    if (done != NULL) {
      sb_ingest_outcome_t o = {.status = 503, .refused = n,
                               .code = "unavailable", .error = "out of memory"};
      done(done_ud, r, &o);
    } else {
      sb_http_error(r, 503, "unavailable", "out of memory",
                    "Retry-After: 1\r\n");
    }
    return;
  }
  p->done = done;
  p->done_ud = done_ud;
  p->in = in;
  p->req = r;
  p->items = items;
  p->n = n;
  p->pending = 1; /* held while the items are encoded and claimed */
  for (int i = 0; i < n; i++)
    items[i].follow = -1;
  cJSON *el = cJSON_IsArray(doc) ? doc->child : doc;
  sb__seal_t *sj = calloc(1, sizeof *sj);
  cJSON **evs = calloc((size_t)n, sizeof *evs);
  char **why = calloc((size_t)n, sizeof *why);
  int nready = 0;
  for (int i = 0; i < n; i++) {
    cJSON *ev = ndjson ? events[i] : el;
    if (!ndjson)
      el = el->next;
    if (ndjson && lines_err[i]) {
      char msg[SB_ERR_MSG_MAX];
      snprintf(msg, sizeof msg, "line %d: %s", lines_no[i], lines_err[i]);
      set_item(&items[i], 400, "malformed_json", msg);
      continue;
    }
    if (sj == NULL || evs == NULL || why == NULL) {
      set_item(&items[i], 503, "unavailable", "out of memory; retry later");
      continue;
    }
    one(p, i, ev, &who, ikey);
    if (items[i].ready) {
      evs[i] = ev;
      nready += sb_pii_event_needs_seal(in->schemas, ev);
    }
  }
  if (sj == NULL) {
    free(evs);
    free(why);
    evs = NULL;
    why = NULL;
  }
  sb__seal_t tmp;
  sb__seal_t *j = sj ? sj : &tmp;
  *j = (sb__seal_t){.p = p, .n = n, .doc = doc, .events = events,
                    .lines_err = lines_err,
                .lines_no = lines_no, .ndjson = ndjson, .evs = evs,
                .why = why, .err = SB_ERR_INIT};
  snprintf(j->tenant, sizeof j->tenant, "%s", who.tenant);
  /* the PII of every event checked, on the sealer's thread with the
   * other requests queued meanwhile (the data keys of subjects not cached
   * are one round trip to PostgreSQL: the loop does not wait for it);
   * encoded and claimed when it comes back */
  if (sj != NULL && nready > 0 && sb__sealer_submit(in, sj) == 0)
    return;
  /* no PII in the request (or no sealer): encoded now, nothing to seal;
   * ran 0 refuses the events that needed sealing */
  sb__ingest_sealed(j, nready == 0);
  free(sj);
}

void sb_ingest_submit(sb_ingest_t *in, sb_http_req_t *r, const sb_claims_t *who,
                      cJSON *events, sb_ingest_done_fn done, void *ud) {
  int n = cJSON_IsArray(events) ? cJSON_GetArraySize(events) : 0;
  if (n == 0 || n > MAX_EVENTS) {
    cJSON_Delete(events);
    sb_ingest_outcome_t o = {.status = n ? 413 : 202, .refused = n,
                             .code = n ? "too_many" : NULL,
                             .error = n ? "too many events" : NULL};
    done(ud, r, &o);
    return;
  }
  start(in, r, who, NULL, events, NULL, n, NULL, NULL, 0, done, ud);
}
