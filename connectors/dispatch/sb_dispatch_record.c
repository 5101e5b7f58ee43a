/* Outcomes: the account's breaker and pace, the backoff, then the events
 * (produced and flushed) and the rows (one transaction, fenced by
 * claimed_by and attempts). */
#include "sb_dispatch_int.h"

#include "sb_log.h"
#include "sb_pii.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BREAKER_FAILS 5        /* transient failures in a row open it */
#define BREAKER_OPEN_MS 30000  /* for this long, then one probe */
#define SLACK_PACE_MS 1000     /* a message a second per channel */
#define SOURCE "switchboard://dispatch"

static int64_t rnd_below(int64_t n) {
  uint64_t r = 0;
  if (n <= 0 || RAND_bytes((unsigned char *)&r, sizeof r) != 1)
    return 0;
  return (int64_t)(r % (uint64_t)n);
}

static uint64_t fnv(const char *a, const char *b, const char *c) {
  uint64_t h = 1469598103934665603ULL;
  const char *parts[] = {a, b, c};
  for (int i = 0; i < 3; i++) {
    for (const char *p = parts[i]; *p; p++)
      h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  }
  return h;
}

static void defer(sb__djob_t *j, int64_t at) {
  j->outcome = SB_DSP_O_DEFER;
  j->retry_at_ms = at;
}

int sb__dsp_admit(sb_dispatch_t *d, sb__djob_t *j) {
  sb__dacct_t *a = j->acct;
  int64_t now = sb_now_ms();
  if (a->paused_until_ms > now) { /* a 429's Retry-After */
    defer(j, a->paused_until_ms + rnd_below(500));
    return 0;
  }
  if (a->fails >= BREAKER_FAILS) {
    if (now < a->open_until_ms || a->probing) {
      defer(j, (now < a->open_until_ms ? a->open_until_ms : now + 1000) +
                   rnd_below(1000));
      j->circuit = 1;
      return 0;
    }
    a->probing = 1; /* half open: this one tries */
    j->probe = 1;
  }
  if (a->provider == SB_DSP_SLACK) {
    uint64_t h = fnv(j->tenant, a->account_id, j->to);
    size_t i = (size_t)(h % SB_DSP_RATE_SLOTS);
    if (d->rate[i].h == h && d->rate[i].next_ms > now) {
      defer(j, d->rate[i].next_ms + rnd_below(SLACK_PACE_MS));
      if (j->probe)
        a->probing = j->probe = 0;
      return 0;
    }
    d->rate[i].h = h;
    d->rate[i].next_ms = now + SLACK_PACE_MS;
  }
  return 1;
}

static int64_t backoff_ms(const sb_dispatch_t *d, int attempts) {
  int64_t cap = d->c->dispatch_backoff_max_ms, b = 1000;
  for (int i = 1; i < attempts && b < cap; i++)
    b *= 2;
  if (b > cap)
    b = cap;
  return b / 2 + rnd_below(b / 2 + 1); /* jitter: half to all of it */
}

void sb__dsp_finish(sb_dispatch_t *d, sb__djob_t *j) {
  sb__dacct_t *a = j->acct;
  int64_t now = sb_now_ms();
  if (a && j->started) {
    if (j->transient_account) {
      if (++a->fails >= BREAKER_FAILS) {
        if (a->fails == BREAKER_FAILS || a->probing)
          sb_log(SB_LOG_WARN, "dispatch", "provider account failing: paused",
                 SB_F_STR("tenant", a->tenant),
                 SB_F_STR("account", a->account_id),
                 SB_F_INT("seconds", BREAKER_OPEN_MS / 1000), SB_F_END);
        a->open_until_ms = now + BREAKER_OPEN_MS;
        if (!a->open) {
          a->open = 1;
          pthread_mutex_lock(&d->mu);
          d->opened[a->provider]++;
          d->open_now[a->provider]++;
          pthread_mutex_unlock(&d->mu);
        }
      }
    } else if (j->outcome == SB_DSP_O_SENT || j->outcome == SB_DSP_O_FAILED) {
      a->fails = 0; /* it answered */
      if (a->open) {
        a->open = 0;
        pthread_mutex_lock(&d->mu);
        d->open_now[a->provider]--;
        pthread_mutex_unlock(&d->mu);
      }
    }
  }
  if (a && j->probe)
    a->probing = 0; /* the probe is over, whatever became of it */
  if (j->outcome == SB_DSP_O_RETRY) {
    if (j->attempts >= d->c->dispatch_max_attempts) {
      j->outcome = SB_DSP_O_FAILED;
      size_t n = strlen(j->error_msg);
      snprintf(j->error_msg + n, sizeof j->error_msg - n,
               "%s(attempts exhausted: %d)", n ? " " : "", j->attempts);
    } else if (j->retry_at_ms <= now) {
      j->retry_at_ms = now + backoff_ms(d, j->attempts);
    }
  }
  if (j->easy) {
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
  }
  curl_slist_free_all(j->hdrs);
  curl_slist_free_all(j->rcpt);
  j->hdrs = j->rcpt = NULL;
  int p = a && a->provider >= 0 && a->provider < SB_DSP_NPROVIDERS
              ? a->provider
              : SB_DSP_NPROVIDERS;
  pthread_mutex_lock(&d->mu);
  switch (j->outcome) {
  case SB_DSP_O_SENT: d->st.sent++; d->by[p][SB_DSP_M_SENT]++; break;
  case SB_DSP_O_FAILED: d->st.failed++; d->by[p][SB_DSP_M_FAILED]++; break;
  case SB_DSP_O_BLOCKED: d->st.blocked++; d->by[p][SB_DSP_M_BLOCKED]++; break;
  case SB_DSP_O_RETRY: d->st.retried++; d->by[p][SB_DSP_M_RETRIED]++; break;
  default:
    d->st.deferred++;
    d->by[p][j->circuit ? SB_DSP_M_CIRCUIT : SB_DSP_M_THROTTLED]++;
    break;
  }
  pthread_mutex_unlock(&d->mu);
  j->next = d->done;
  d->done = j;
  if (j->started)
    sb__dsp_record_soon(d); /* a send's outcome: committed at once */
}

static void wipe_str(char *s) {
  if (s) {
    sb_pii_wipe(s, strlen(s));
    free(s);
  }
}

void sb__dsp_job_free(sb__djob_t *j) {
  if (j == NULL)
    return;
  if (j->easy)
    curl_easy_cleanup(j->easy);
  curl_slist_free_all(j->hdrs);
  curl_slist_free_all(j->rcpt);
  wipe_str(j->to);
  wipe_str(j->from);
  wipe_str(j->subject);
  wipe_str(j->body);
  if (j->req.s)
    sb_pii_wipe(j->req.s, j->req.cap);
  sb_text_free(&j->req);
  if (j->resp.s)
    sb_pii_wipe(j->resp.s, j->resp.cap);
  sb_text_free(&j->resp);
  free(j);
}

void sb__dsp_scrub(const char *s, const char *secret, char *out,
                   size_t outsz) {
  size_t o = 0, n = strlen(s), sl = secret ? strlen(secret) : 0;
  for (size_t i = 0; i < n && o + 4 < outsz;) {
    if (sl >= 4 && strncmp(s + i, secret, sl) == 0) {
      memcpy(out + o, "***", 3);
      o += 3;
      i += sl;
      continue;
    }
    /* a word holding '@' (an address) or a run of 4+ digits (a number) */
    size_t w = i;
    while (w < n && !isspace((unsigned char)s[w]))
      w++;
    int at = memchr(s + i, '@', w - i) != NULL, digits = 0, run = 0;
    for (size_t k = i; k < w; k++) {
      run = isdigit((unsigned char)s[k]) ? run + 1 : 0;
      digits |= run >= 4;
    }
    if ((at || digits) && w > i) {
      memcpy(out + o, "***", 3);
      o += 3;
      i = w;
      continue;
    }
    out[o++] = s[i++];
  }
  out[o < outsz ? o : outsz - 1] = '\0';
}

/* ---- events -------------------------------------------------------------- */

/* An event's id: a ULID keeping the request's time, with 80 bits of
 * SHA-256("<request event id>/dispatch/<what>"): the same outcome of the
 * same attempt is the same event however often it is produced. */
static void derive_id(const sb__djob_t *j, const char *what,
                      char out[SB_ULID_LEN + 1]) {
  char seed[512];
  int n = snprintf(seed, sizeof seed, "%s/dispatch/%s",
                   j->request_event_id[0] ? j->request_event_id : j->message_id,
                   what);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_Digest(seed, (size_t)(n < (int)sizeof seed ? n : (int)sizeof seed - 1),
             md, &mdlen, EVP_sha256(), NULL);
  sb_ulid_make((uint64_t)(j->created_us / 1000), md, out);
}

static cJSON *ce_new(const sb__djob_t *j, const char *type, const char *what,
                     cJSON **data) {
  char id[SB_ULID_LEN + 1], ts[40];
  derive_id(j, what, id);
  sb_time_format(sb_time_now_micros(), ts, sizeof ts);
  cJSON *ce = cJSON_CreateObject();
  cJSON_AddStringToObject(ce, "specversion", "1.0");
  cJSON_AddStringToObject(ce, "id", id);
  cJSON_AddStringToObject(ce, "source", SOURCE);
  cJSON_AddStringToObject(ce, "type", type);
  cJSON_AddStringToObject(ce, "subject", j->message_id);
  cJSON_AddStringToObject(ce, "time", ts);
  cJSON_AddStringToObject(ce, "tenantid", j->tenant);
  if (j->request_event_id[0]) {
    cJSON_AddStringToObject(ce, "causationid", j->request_event_id);
    cJSON_AddStringToObject(ce, "correlationid", j->request_event_id);
  }
  *data = cJSON_AddObjectToObject(ce, "data");
  cJSON_AddStringToObject(*data, "message_id", j->message_id);
  cJSON_AddStringToObject(*data, "channel", j->channel);
  return ce;
}

static void opt_str(cJSON *o, const char *k, const char *v) {
  if (v && v[0])
    cJSON_AddStringToObject(o, k, v);
}

static const char *provider_name(const sb__djob_t *j) {
  return j->acct ? sb__dsp_provider_names[j->acct->provider] : "none";
}

static int produce(sb_dispatch_t *d, cJSON *ce, sb_err_t *err) {
  sb_record_t r;
  int rc = sb_codec_from_ce(d->codec, ce, 0, &r, err);
  if (rc == 0) {
    rc = sb_producer_send_record(d->producer, &r, NULL, NULL, err);
    sb_record_clear(&r);
  }
  return rc;
}

static int events_of(sb_dispatch_t *d, sb__djob_t *j, sb_err_t *err) {
  cJSON *data = NULL, *ce = NULL;
  char what[64];
  int rc = 0;
  switch (j->outcome) {
  case SB_DSP_O_SENT:
    snprintf(what, sizeof what, "submitted/%d", j->attempts);
    ce = ce_new(j, "message.submitted", what, &data);
    cJSON_AddStringToObject(data, "provider", provider_name(j));
    opt_str(data, "provider_message_id", j->provider_message_id);
    opt_str(data, "from_address",
            j->from && j->from[0] ? j->from : j->acct->from_address);
    cJSON_AddNumberToObject(data, "attempt", j->attempts);
    if ((rc = produce(d, ce, err)) != 0)
      break;
    cJSON_Delete(ce);
    snprintf(what, sizeof what, "status/submitted/%d", j->attempts);
    ce = ce_new(j, "message.status_updated", what, &data);
    cJSON_AddStringToObject(data, "status", "submitted");
    cJSON_AddStringToObject(data, "provider", provider_name(j));
    opt_str(data, "provider_message_id", j->provider_message_id);
    opt_str(data, "provider_status", j->provider_status);
    rc = produce(d, ce, err);
    break;
  case SB_DSP_O_FAILED:
    snprintf(what, sizeof what, "status/failed/%d", j->attempts);
    ce = ce_new(j, "message.status_updated", what, &data);
    cJSON_AddStringToObject(data, "status", "failed");
    cJSON_AddStringToObject(data, "provider", provider_name(j));
    opt_str(data, "provider_status", j->provider_status);
    opt_str(data, "error_code", j->error_code);
    opt_str(data, "error_message", j->error_msg);
    rc = produce(d, ce, err);
    break;
  case SB_DSP_O_BLOCKED: {
    ce = ce_new(j, "message.blocked", "blocked", &data);
    cJSON_AddStringToObject(data, "reason", j->block_reason);
    char detail[256];
    snprintf(detail, sizeof detail, "%.255s", j->error_msg);
    opt_str(data, "detail", detail);
    opt_str(data, "lead_id", j->lead_id);
    opt_str(data, "campaign_id", j->campaign_id);
    rc = produce(d, ce, err);
    if (rc == SB_EVALIDATE) {
      /* a schema without message.blocked v2's reasons (the comms
       * processor's schemas not there yet): "other", the reason first in
       * the detail */
      *err = (sb_err_t)SB_ERR_INIT;
      snprintf(detail, sizeof detail, "%.39s: %.200s", j->block_reason,
               j->error_msg);
      cJSON_ReplaceItemInObjectCaseSensitive(data, "reason",
                                             cJSON_CreateString("other"));
      cJSON_DeleteItemFromObjectCaseSensitive(data, "detail");
      cJSON_AddStringToObject(data, "detail", detail);
      rc = produce(d, ce, err);
    }
    break;
  }
  default:
    break;
  }
  cJSON_Delete(ce);
  return rc;
}

static const char update_sql[] =
    "UPDATE comms.outbox SET state = $4, attempts = attempts - $5::int,"
    " provider_message_id = coalesce(NULLIF($6, ''), provider_message_id),"
    " sent_at = CASE WHEN $4 = 'sent' THEN now() ELSE sent_at END,"
    " last_error = NULLIF($7, ''),"
    " not_before = CASE WHEN $4 = 'pending' THEN now() + $8::int * interval"
    " '1 ms' ELSE not_before END, claimed_until = NULL"
    " WHERE tenant_id = $1 AND message_id = $2 AND claimed_by = $3 AND"
    " attempts = $9::int";

static int update_row(sb_dispatch_t *d, const sb__djob_t *j, sb_err_t *err) {
  const char *state = "failed";
  int give_back = 0;
  switch (j->outcome) {
  case SB_DSP_O_SENT: state = "sent"; break;
  case SB_DSP_O_RETRY: state = "pending"; break;
  case SB_DSP_O_DEFER: state = "pending"; give_back = 1; break;
  default: break;
  }
  int64_t wait = j->retry_at_ms - sb_now_ms();
  if (wait < 0)
    wait = 0;
  char gb[4], w[24], att[16], lasterr[1024];
  snprintf(gb, sizeof gb, "%d", give_back);
  snprintf(w, sizeof w, "%lld", (long long)wait);
  snprintf(att, sizeof att, "%d", j->attempts);
  if (j->outcome == SB_DSP_O_SENT || j->outcome == SB_DSP_O_DEFER)
    lasterr[0] = '\0';
  else
    snprintf(lasterr, sizeof lasterr, "%.128s%s%.128s%s%.511s",
             j->block_reason[0] ? j->block_reason : j->error_code,
             j->provider_status[0] ? " " : "", j->provider_status,
             j->error_msg[0] ? ": " : "", j->error_msg);
  const char *params[] = {j->tenant, j->message_id, d->me, state, gb,
                          j->provider_message_id, lasterr, w, att};
  return sb_pg_exec(d->pg, update_sql, 9, params, err);
}

int sb__dsp_record(sb_dispatch_t *d, sb_err_t *err) {
  int rc = 0;
  for (sb__djob_t *j = d->done; j; j = j->next) {
    sb_err_t e = SB_ERR_INIT;
    if (events_of(d, j, &e) != 0) {
      if (e.code == SB_EVALIDATE) { /* a bug: said, not retried for ever */
        sb_log(SB_LOG_ERROR, "dispatch", "an outcome's event is invalid",
               SB_F_STR("message_id", j->message_id), SB_F_STR("error", e.msg),
               SB_F_END);
        continue;
      }
      return sb_err_set(err, e.code, "producing outcomes: %s", e.msg);
    }
  }
  if ((rc = sb_producer_flush(d->producer, d->c->kafka_timeout_ms, err)) != 0)
    return rc;
  if ((rc = sb_pg_exec(d->pg, "BEGIN", 0, NULL, err)) != 0)
    return rc;
  for (sb__djob_t *j = d->done; j && rc == 0; j = j->next)
    rc = update_row(d, j, err);
  if (rc == 0)
    rc = sb_pg_exec(d->pg, "COMMIT", 0, NULL, err);
  if (rc != 0) {
    sb_pg_rollback(d->pg);
    return rc;
  }
  while (d->done) {
    sb__djob_t *j = d->done;
    d->done = j->next;
    d->inflight--;
    sb__dsp_job_free(j);
  }
  return 0;
}
