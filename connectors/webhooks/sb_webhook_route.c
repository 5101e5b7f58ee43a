/* The webhook routes (sb_webhook.h): the account's secrets, the signature,
 * the body's items as events through ingest, the provider's answer.
 *
 * The account (provider, sealed secrets) is read from comms.providers and
 * unsealed on libuv's thread pool, one lookup at a time (one PostgreSQL
 * connection and one key store, under a lock), and kept for
 * webhooks.secret_cache_ms, unknown accounts too (so that forged callbacks
 * cost no round trip each). Everything else runs on the loop's thread. */
#include "sb_webhook.h"

#include "sb_conf.h"
#include "sb_ingest.h"
#include "sb_keys.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_pii.h"
#include "sb_tenant.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CACHE_N 256
/* distinct accounts read at once (libuv's thread pool has 4 threads, and
 * others use it); callbacks for an account being read wait for that read */
#define LOOKUPS_MAX 2
#define ACCOUNT_MAX 100 /* "webhook:<provider>:<account>" is a user id (128) */

typedef struct {
  char tenant[SB_TENANT_MAX + 1], account[ACCOUNT_MAX + 1];
  int found;           /* 0: no such account */
  char provider[32];   /* comms.providers.provider */
  char *secret, *secret2, *username; /* unsealed; NULL when none */
  long long expires_ms;
} acct_t;

struct sb_webhooks_s {
  uv_loop_t *loop;
  const sb_conf_t *c;
  sb_ingest_t *in;
  int tls;
  acct_t cache[CACHE_N]; /* on the loop's thread */
  struct hook_s *lookups[LOOKUPS_MAX]; /* in flight; on the loop's thread */
  pthread_mutex_t lock;  /* the thread pool's: pg, keys */
  sb_pg_t *pg;
  sb_keys_t *keys;
};

typedef enum { P_TWILIO, P_WHATSAPP, P_SENDGRID } prov_t;
static const char *const prov_url[] = {"twilio", "whatsapp", "sendgrid"};
/* comms.providers.provider, and the events' provider */
static const char *const prov_name[] = {"twilio", "whatsapp_cloud",
                                        "sendgrid"};

typedef struct hook_s {
  sb_webhooks_t *w;
  sb_http_req_t *r;
  struct hook_s *waiters; /* the lookup's: callbacks of the same account */
  struct hook_s *next;
  uv_work_t work;
  prov_t prov;
  int inbound; /* Twilio: .../inbound */
  acct_t acct; /* the lookup's answer */
  int rc;
  sb_err_t err;
  sb_whk_batch_t batch; /* while ingest works */
} hook_t;

static void acct_clear(acct_t *a) {
  for (char **s = (char *[]){a->secret, a->secret2, a->username}, **e = s + 3;
       s < e; s++)
    if (*s) {
      sb_pii_wipe(*s, strlen(*s));
      free(*s);
    }
  memset(a, 0, sizeof *a);
}

static int acct_copy(acct_t *dst, const acct_t *src) {
  *dst = *src;
  dst->secret = src->secret ? strdup(src->secret) : NULL;
  dst->secret2 = src->secret2 ? strdup(src->secret2) : NULL;
  dst->username = src->username ? strdup(src->username) : NULL;
  return (src->secret && !dst->secret) || (src->secret2 && !dst->secret2) ||
                 (src->username && !dst->username)
             ? -1
             : 0;
}

int sb_webhooks_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t *in,
                    int tls, sb_webhooks_t **out, sb_err_t *err) {
  sb_webhooks_t *w = calloc(1, sizeof *w);
  if (w == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  w->loop = loop;
  w->c = c;
  w->in = in;
  w->tls = tls;
  pthread_mutex_init(&w->lock, NULL);
  *out = w;
  return 0;
}

void sb_webhooks_free(sb_webhooks_t *w) {
  if (w == NULL)
    return;
  for (int i = 0; i < CACHE_N; i++)
    acct_clear(&w->cache[i]);
  sb_pg_close(w->pg);
  sb_keys_free(w->keys);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

/* ---- the lookup (thread pool) ------------------------------------------- */

static int unseal(sb_webhooks_t *w, const char *tenant, const char *field,
                  const char *v, char **out, sb_err_t *err) {
  char kid[SB_PII_KEYID_MAX + 1];
  unsigned char dek[SB_PII_KEY_LEN];
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!sb_pii_is_sealed(v))
    return sb_err_set(err, SB_EVALIDATE,
                      "comms.providers: %s is not sealed", field);
  if (sb_pii_key_id(v, kid, err) != 0)
    return err->code;
  int rc = sb_keys_for_open(w->keys, tenant, kid, dek, err);
  if (rc == 1)
    return sb_err_set(err, SB_EVALIDATE,
                      "comms.providers: %s was erased", field);
  if (rc != 0)
    return rc;
  size_t sz = strlen(v) + 1, n = 0;
  char *buf = malloc(sz);
  if (buf == NULL) {
    sb_pii_wipe(dek, sizeof dek);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  rc = sb_pii_open(dek, v, tenant, "provider.configured", field, buf, sz, &n,
                   err);
  sb_pii_wipe(dek, sizeof dek);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

static int lookup(sb_webhooks_t *w, acct_t *a, sb_err_t *err) {
  if (w->pg == NULL && sb_pg_connect(w->c->database_url, &w->pg, err) != 0)
    return err->code;
  if (w->keys == NULL && sb_keys_open(w->c, &w->keys, err) != 0)
    return err->code;
  const char *params[] = {a->tenant, a->account};
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(w->pg,
                      "SELECT provider, secret_sealed, secret2_sealed, "
                      "username FROM comms.providers WHERE tenant_id = $1 "
                      "AND account_id = $2",
                      2, params, &rows, err);
  if (rc != 0) {
    if (sb_err_sqlstate_is(err, "42P01")) { /* no comms schema yet */
      sb_err_clear(err);
      return 0;
    }
    sb_pg_close(w->pg); /* reconnected next time */
    w->pg = NULL;
    return rc;
  }
  if (sb_pg_rows_count(rows) == 1) {
    const char *prov = sb_pg_rows_get(rows, 0, 0);
    snprintf(a->provider, sizeof a->provider, "%s", prov ? prov : "");
    const char *user = sb_pg_rows_get(rows, 0, 3);
    a->username = user ? strdup(user) : NULL;
    if ((rc = unseal(w, a->tenant, "secret", sb_pg_rows_get(rows, 0, 1),
                     &a->secret, err)) == 0 &&
        (rc = unseal(w, a->tenant, "secret2", sb_pg_rows_get(rows, 0, 2),
                     &a->secret2, err)) == 0)
      a->found = 1;
  }
  sb_pg_rows_free(rows);
  return rc;
}

static void lookup_work(uv_work_t *req) {
  hook_t *h = req->data;
  pthread_mutex_lock(&h->w->lock);
  h->rc = lookup(h->w, &h->acct, &h->err);
  pthread_mutex_unlock(&h->w->lock);
}

/* ---- answering ----------------------------------------------------------- */

static void hook_free(hook_t *h) {
  acct_clear(&h->acct);
  sb_whk_batch_free(&h->batch);
  free(h);
}

static void refuse(hook_t *h, const char *reason, const char *detail,
                   const char *why) {
  char user[SB_AUTH_SUB_MAX + 1];
  snprintf(user, sizeof user, "webhook:%s:%s", prov_url[h->prov],
           h->acct.account);
  sb_client_info_t from = sb_client_info(h->r);
  sb_ingest_record_security(h->w->in, &from, "security.login_failed",
                            h->acct.tenant, user, reason, detail);
  sb_http_error(h->r, 401, "unauthorized", why, NULL);
}

static void on_ingested(void *ud, sb_http_req_t *r,
                        const sb_ingest_outcome_t *o) {
  hook_t *h = ud;
  if (o->status == 202) {
    if (h->prov == P_TWILIO && h->inbound) {
      static const char twiml[] =
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>\n";
      sb_http_respond(r, 200, "text/xml", twiml, sizeof twiml - 1, NULL);
    } else {
      char body[128];
      int n = snprintf(body, sizeof body,
                       "{\"accepted\":%d,\"duplicates\":%d,\"ignored\":%zu}\n",
                       o->accepted - o->duplicates, o->duplicates,
                       h->batch.ignored);
      sb_http_respond(r, 200, "application/json", body, (size_t)n, NULL);
    }
  } else if (o->status >= 500 || o->status == 409 || o->status == 429) {
    sb_http_error(r, 503, o->code ? o->code : "unavailable",
                  o->error ? o->error : "retry later", "Retry-After: 1\r\n");
  } else {
    sb_http_error(r, o->status, o->code ? o->code : "invalid",
                  o->error ? o->error : "refused", NULL);
  }
  hook_free(h);
}

/* ---- the items as CloudEvents ------------------------------------------- */

static void derive_id(const char *tenant, const char *prov, const char *type,
                      const sb_whk_item_t *it, char out[SB_ULID_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  memset(md, 0, sizeof md);
  if (ctx != NULL) {
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, "sb-webhook", 11);
    EVP_DigestUpdate(ctx, tenant, strlen(tenant) + 1);
    EVP_DigestUpdate(ctx, prov, strlen(prov) + 1);
    EVP_DigestUpdate(ctx, type, strlen(type) + 1);
    EVP_DigestUpdate(ctx, it->event_key, strlen(it->event_key));
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
  }
  /* the provider's time when it said one: ids sort by it */
  uint64_t ms = it->reported_at_us > 0
                    ? (uint64_t)(it->reported_at_us / 1000)
                    : ((uint64_t)md[10] << 8 | md[11]) + 1700000000000ull;
  sb_ulid_make(ms, md, out);
}

static void add_str(cJSON *o, const char *k, const char *v) {
  if (v != NULL)
    cJSON_AddStringToObject(o, k, v);
}

static cJSON *event(const char *tenant, prov_t prov, const char *account,
                    const char *type, const sb_whk_item_t *it,
                    const char *message_id, cJSON **data) {
  char id[SB_ULID_LEN + 1], now[40], src[200];
  derive_id(tenant, prov_name[prov], type, it, id);
  sb_time_format(sb_time_now_micros(), now, sizeof now);
  snprintf(src, sizeof src, "/webhooks/%s/%s", prov_url[prov], account);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "specversion", "1.0");
  cJSON_AddStringToObject(e, "id", id);
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddStringToObject(e, "source", src);
  cJSON_AddStringToObject(e, "subject", message_id);
  cJSON_AddStringToObject(e, "time", now);
  cJSON_AddStringToObject(e, "tenantid", tenant);
  *data = cJSON_AddObjectToObject(e, "data");
  cJSON_AddStringToObject(*data, "message_id", message_id);
  return e;
}

static cJSON *to_events(const hook_t *h) {
  const char *tenant = h->acct.tenant, *acct = h->acct.account;
  const char *prov = prov_name[h->prov];
  cJSON *arr = cJSON_CreateArray(), *d;
  for (size_t i = 0; arr && i < h->batch.n; i++) {
    const sb_whk_item_t *it = &h->batch.items[i];
    if (it->kind == SB_WHK_STATUS) {
      /* without our id (a message not sent by us, or a callback lacking
       * it) the provider's id stands in */
      const char *mid = it->message_id ? it->message_id
                                       : it->provider_message_id;
      if (mid == NULL)
        continue;
      cJSON *e = event(tenant, h->prov, acct, "message.status_updated", it,
                       mid, &d);
      cJSON_AddStringToObject(d, "status", it->status);
      add_str(d, "channel", it->channel);
      add_str(d, "provider", prov);
      add_str(d, "provider_message_id", it->provider_message_id);
      add_str(d, "provider_status", it->raw_status);
      add_str(d, "error_code", it->error_code);
      add_str(d, "error_message", it->error_message);
      if (it->reported_at_us > 0) {
        char t[40];
        sb_time_format(it->reported_at_us, t, sizeof t);
        cJSON_AddStringToObject(d, "provider_reported_at", t);
      }
      cJSON_AddItemToArray(arr, e);
      continue;
    }
    const char *mid = it->provider_message_id ? it->provider_message_id
                                              : it->event_key;
    if (it->kind == SB_WHK_INBOUND) {
      cJSON *e = event(tenant, h->prov, acct, "message.inbound", it, mid, &d);
      cJSON_AddStringToObject(d, "channel", it->channel);
      add_str(d, "from_address", it->from);
      add_str(d, "to_address", it->to);
      add_str(d, "body", it->body);
      if (it->nmedia > 0) {
        cJSON *m = cJSON_AddArrayToObject(d, "media_urls");
        for (int k = 0; k < it->nmedia; k++)
          cJSON_AddItemToArray(m, cJSON_CreateString(it->media[k]));
      }
      add_str(d, "provider", prov);
      add_str(d, "provider_message_id", it->provider_message_id);
      cJSON_AddItemToArray(arr, e);
    }
    if (it->method != NULL && it->address != NULL) {
      cJSON *e = event(tenant, h->prov, acct, "message.opt_out", it, mid, &d);
      cJSON_AddStringToObject(d, "channel", it->channel);
      add_str(d, "address", it->address);
      cJSON_AddStringToObject(d, "method", it->method);
      add_str(d, "keyword", it->keyword);
      if (strcmp(it->channel, "email") == 0)
        add_str(d, "email", it->address);
      else if (it->address[0] == '+')
        add_str(d, "phone", it->address);
      cJSON_AddItemToArray(arr, e);
    }
  }
  return arr;
}

/* ---- the checks ---------------------------------------------------------- */

/* The URL Twilio called: webhooks.public_url (or the scheme and Host),
 * the path, the query. */
static int full_url(const hook_t *h, char *out, size_t sz) {
  const char *base = h->w->c->webhooks_public_url;
  const char *host = sb_http_header(h->r, "Host");
  const char *q = sb_http_query(h->r);
  int n;
  if (base != NULL) {
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
      bl--;
    n = snprintf(out, sz, "%.*s%s%s%s", (int)bl, base, sb_http_path(h->r),
                 *q ? "?" : "", q);
  } else {
    n = snprintf(out, sz, "%s://%s%s%s%s", h->w->tls ? "https" : "http",
                 host ? host : "", sb_http_path(h->r), *q ? "?" : "", q);
  }
  return n > 0 && (size_t)n < sz ? 0 : -1;
}

static const char *query_param(const sb_whk_form_t *q, const char *name) {
  return q ? sb_whk_form_get(q, name) : NULL;
}

/* The account is known: the signature, the body, the events. */
static void checked(hook_t *h) {
  sb_http_req_t *r = h->r;
  sb_err_t err = SB_ERR_INIT;
  size_t len;
  const char *body = sb_http_body(r, &len);
  const char *q = sb_http_query(r);
  sb_whk_form_t form = {0}, query = {0};
  int have_query = 0;
  if (*q) {
    if (sb_whk_form_parse(q, strlen(q), &query, &err) != 0) {
      sb_http_error(r, 400, "invalid", err.msg, NULL);
      goto out_free;
    }
    have_query = 1;
  }
  if (strcmp(sb_http_method(r), "GET") == 0) { /* WhatsApp's handshake */
    const char *mode = query_param(&query, "hub.mode");
    const char *tok = query_param(&query, "hub.verify_token");
    const char *chal = query_param(&query, "hub.challenge");
    char want[33];
    if (mode == NULL || strcmp(mode, "subscribe") != 0 || chal == NULL ||
        strlen(chal) > 256) {
      sb_http_error(r, 400, "invalid",
                    "expected hub.mode=subscribe, hub.verify_token and "
                    "hub.challenge (at most 256 characters)",
                    NULL);
    } else if (h->acct.secret2 == NULL ||
               sb_whk_whatsapp_verify_token(h->acct.secret2, h->acct.tenant,
                                            h->acct.account, want,
                                            &err) != 0 ||
               tok == NULL || strlen(tok) != 32 ||
               CRYPTO_memcmp(tok, want, 32) != 0) {
      refuse(h, "bad_credentials", "verify_token",
             "hub.verify_token: not this account's");
    } else {
      sb_http_respond(r, 200, "text/plain", chal, strlen(chal), NULL);
    }
    goto out_free;
  }
  int rc = 0;
  switch (h->prov) {
  case P_TWILIO: {
    char url[4096];
    if (sb_whk_form_parse(body, len, &form, &err) != 0) {
      sb_http_error(r, 400, "invalid", err.msg, NULL);
      goto out_free;
    }
    if (full_url(h, url, sizeof url) != 0) {
      sb_http_error(r, 414, "uri_too_long", "the URL is too long", NULL);
      goto out_free;
    }
    const char *sid = sb_whk_form_get(&form, "AccountSid");
    if (h->acct.secret == NULL ||
        sb_whk_twilio_verify(h->acct.secret, url, &form,
                             sb_http_header(r, "X-Twilio-Signature"),
                             &err) != 0) {
      refuse(h, "bad_credentials", "signature",
             err.msg[0] ? err.msg : "no auth token configured");
      goto out_free;
    }
    if (h->acct.username && sid && strcmp(sid, h->acct.username) != 0) {
      refuse(h, "bad_credentials", "account_sid",
             "AccountSid: not this account's");
      goto out_free;
    }
    rc = h->inbound ? sb_whk_twilio_parse_inbound(&form, &h->batch, &err)
                    : sb_whk_twilio_parse_status(
                          &form, query_param(&query, "m"), &h->batch, &err);
    break;
  }
  case P_WHATSAPP:
    if (h->acct.secret2 == NULL ||
        sb_whk_hub_verify(h->acct.secret2, body, len,
                          sb_http_header(r, "X-Hub-Signature-256"),
                          &err) != 0) {
      refuse(h, "bad_credentials", "signature",
             err.msg[0] ? err.msg : "no app secret (secret2) configured");
      goto out_free;
    }
    rc = sb_whk_whatsapp_parse(body, len, &h->batch, &err);
    break;
  case P_SENDGRID:
    if (h->acct.secret2 == NULL ||
        sb_whk_sendgrid_verify(
            h->acct.secret2,
            sb_http_header(r, "X-Twilio-Email-Event-Webhook-Timestamp"), body,
            len, sb_http_header(r, "X-Twilio-Email-Event-Webhook-Signature"),
            &err) != 0) {
      refuse(h, "bad_credentials", "signature",
             err.msg[0] ? err.msg
                        : "no verification key (secret2) configured");
      goto out_free;
    }
    rc = sb_whk_sendgrid_parse(body, len, &h->batch, &err);
    break;
  }
  sb_whk_form_free(&form);
  sb_whk_form_free(&query);
  if (rc != 0) {
    sb_http_error(r, 400, "invalid", err.msg, NULL);
    hook_free(h);
    return;
  }
  sb_claims_t who = {.role = SB_ROLE_SUPERVISOR};
  snprintf(who.tenant, sizeof who.tenant, "%s", h->acct.tenant);
  snprintf(who.sub, sizeof who.sub, "webhook:%s:%s", prov_url[h->prov],
           h->acct.account);
  cJSON *events = to_events(h);
  if (events == NULL) {
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
    hook_free(h);
    return;
  }
  sb_ingest_submit(h->w->in, r, &who, events, on_ingested, h);
  return;
out_free:
  (void)have_query;
  sb_whk_form_free(&form);
  sb_whk_form_free(&query);
  hook_free(h);
}

static acct_t *cached(sb_webhooks_t *w, const char *tenant,
                      const char *account) {
  long long now = sb_now_ms();
  for (int i = 0; i < CACHE_N; i++) {
    acct_t *a = &w->cache[i];
    if (a->expires_ms > now && strcmp(a->tenant, tenant) == 0 &&
        strcmp(a->account, account) == 0)
      return a;
  }
  return NULL;
}

/* The account as the lookup found it: kept, then checked. */
static void found(hook_t *h) {
  if (!h->acct.found ||
      strcmp(h->acct.provider, prov_name[h->prov]) != 0) {
    refuse(h, "unknown_user", "account",
           "unknown account (or not one of this provider)");
    hook_free(h);
    return;
  }
  checked(h);
}

static void keep_acct(sb_webhooks_t *w, const acct_t *a) {
  int ttl = w->c->webhooks_secret_cache_ms;
  if (ttl <= 0)
    return;
  long long now = sb_now_ms();
  acct_t *slot = &w->cache[0];
  for (int i = 0; i < CACHE_N; i++) {
    acct_t *c = &w->cache[i];
    if (c->expires_ms <= now || (strcmp(c->tenant, a->tenant) == 0 &&
                                 strcmp(c->account, a->account) == 0)) {
      slot = c;
      break;
    }
    if (c->expires_ms < slot->expires_ms)
      slot = c;
  }
  acct_clear(slot);
  if (acct_copy(slot, a) != 0) {
    acct_clear(slot);
    return;
  }
  slot->expires_ms = now + ttl;
}

static void lookup_done(uv_work_t *req, int status) {
  hook_t *h = req->data, *waiters = h->waiters;
  sb_webhooks_t *w = h->w;
  for (int i = 0; i < LOOKUPS_MAX; i++)
    if (w->lookups[i] == h)
      w->lookups[i] = NULL;
  h->waiters = NULL;
  int failed = status != 0 || h->rc != 0;
  if (failed)
    sb_log(SB_LOG_WARN, "webhooks", "cannot read the provider account",
           SB_F_STR("tenant", h->acct.tenant),
           SB_F_STR("account", h->acct.account),
           SB_F_STR("error", status ? uv_strerror(status) : h->err.msg),
           SB_F_END);
  else
    keep_acct(w, &h->acct);
  /* the waiters first: h is freed by found() */
  for (hook_t *x = waiters, *next; x != NULL; x = next) {
    next = x->next;
    if (failed || acct_copy(&x->acct, &h->acct) != 0) {
      sb_http_error(x->r, 503, "unavailable",
                    "the provider account cannot be read now; retry later",
                    "Retry-After: 1\r\n");
      hook_free(x);
      continue;
    }
    found(x);
  }
  if (failed) {
    sb_http_error(h->r, 503, "unavailable",
                  "the provider account cannot be read now; retry later",
                  "Retry-After: 1\r\n");
    hook_free(h);
    return;
  }
  found(h);
}

/* ---- the route ----------------------------------------------------------- */

static int seg(const char **p, char *out, size_t sz) {
  const char *s = *p, *e = strchr(s, '/');
  size_t n = e ? (size_t)(e - s) : strlen(s);
  if (n == 0 || n >= sz)
    return -1;
  memcpy(out, s, n);
  out[n] = '\0';
  *p = e ? e + 1 : s + n;
  return 0;
}

static int account_valid(const char *s) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
      return 0;
  return 1;
}

void sb_webhooks_handle(sb_http_req_t *r, void *ud) {
  sb_webhooks_t *w = ud;
  const char *path = sb_http_path(r) + strlen("/v1/webhooks/");
  char prov[16], action[16] = "";
  hook_t *h = calloc(1, sizeof *h);
  if (h == NULL) {
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
    return;
  }
  h->w = w;
  h->r = r;
  acct_t *a = &h->acct;
  int ok = seg(&path, prov, sizeof prov) == 0 &&
           seg(&path, a->tenant, sizeof a->tenant) == 0 &&
           seg(&path, a->account, sizeof a->account) == 0 &&
           sb_tenant_valid(a->tenant) && account_valid(a->account);
  int p = -1;
  for (int i = 0; ok && i < (int)SB_ARRAY_LEN(prov_url); i++)
    if (strcmp(prov, prov_url[i]) == 0)
      p = i;
  if (ok && p == P_TWILIO)
    ok = seg(&path, action, sizeof action) == 0 &&
         (strcmp(action, "status") == 0 || strcmp(action, "inbound") == 0);
  if (!ok || p < 0 || *path != '\0') {
    sb_http_error(r, 404, "not_found",
                  "webhooks are /v1/webhooks/twilio/<tenant>/<account>/"
                  "status|inbound, /v1/webhooks/whatsapp/<tenant>/<account>, "
                  "/v1/webhooks/sendgrid/<tenant>/<account>",
                  NULL);
    free(h);
    return;
  }
  h->prov = (prov_t)p;
  h->inbound = strcmp(action, "inbound") == 0;
  int get = strcmp(sb_http_method(r), "GET") == 0;
  if (get && h->prov != P_WHATSAPP) {
    sb_http_error(r, 405, "method_not_allowed", "POST only (GET is "
                  "WhatsApp's subscription handshake)", "Allow: POST\r\n");
    free(h);
    return;
  }
  size_t len, max = (size_t)w->c->webhooks_max_body;
  sb_http_body(r, &len);
  if (h->prov == P_TWILIO && max > SB_WHK_FORM_MAX)
    max = SB_WHK_FORM_MAX;
  if (max > SB_WHK_JSON_MAX)
    max = SB_WHK_JSON_MAX;
  if (len > max) {
    char msg[96];
    snprintf(msg, sizeof msg, "body of %zu bytes: at most %zu are accepted",
             len, max);
    sb_http_error(r, 413, "too_large", msg, NULL);
    free(h);
    return;
  }
  const char *ct = sb_http_header(r, "Content-Type");
  const char *want = h->prov == P_TWILIO ? "application/x-www-form-urlencoded"
                                         : "application/json";
  if (!get && (ct == NULL || strncasecmp(ct, want, strlen(want)) != 0)) {
    char msg[96];
    snprintf(msg, sizeof msg, "send %s", want);
    sb_http_error(r, 415, "unsupported_media_type", msg, NULL);
    free(h);
    return;
  }
  acct_t *c = cached(w, a->tenant, a->account);
  if (c != NULL) {
    if (acct_copy(&h->acct, c) != 0) {
      sb_http_error(r, 503, "unavailable", "out of memory",
                    "Retry-After: 1\r\n");
      hook_free(h);
      return;
    }
    found(h);
    return;
  }
  /* the same account being read: wait for that read */
  int slot = -1;
  for (int i = 0; i < LOOKUPS_MAX; i++) {
    hook_t *l = w->lookups[i];
    if (l == NULL) {
      slot = slot < 0 ? i : slot;
    } else if (strcmp(l->acct.tenant, a->tenant) == 0 &&
               strcmp(l->acct.account, a->account) == 0) {
      h->next = l->waiters;
      l->waiters = h;
      return;
    }
  }
  if (slot < 0) {
    sb_http_error(r, 503, "busy",
                  "provider accounts are being read; retry in a second",
                  "Retry-After: 1\r\n");
    free(h);
    return;
  }
  h->work.data = h;
  int rc = uv_queue_work(w->loop, &h->work, lookup_work, lookup_done);
  if (rc != 0) {
    sb_http_error(r, 503, "unavailable", uv_strerror(rc), "Retry-After: 1\r\n");
    free(h);
    return;
  }
  w->lookups[slot] = h;
}
