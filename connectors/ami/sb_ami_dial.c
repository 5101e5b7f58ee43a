/* The AMI connector's dialer (issue 18, item 4): the dialer processor's
 * intents (dialer.outbox, processors/dialer/dialer.c) originated through
 * the PBX they name, and their outcomes as call.dial_result.
 *
 *   claim    UPDATE ... SET state = 'sent' ... FOR UPDATE SKIP LOCKED,
 *            committed (autocommit) BEFORE anything is written to the
 *            PBX: a row once claimed is never claimed again
 *   send     Action: Originate (Async: true, ActionID "sbdial-" and the
 *            request's event id), on the PBX's live session; a row that
 *            could not be written at all (the session lost meanwhile)
 *            goes back to 'pending'
 *   answer   the Originate's Response (Error: failed) and then its
 *            OriginateResponse event (Reason: 4 answered, 5 busy, 3
 *            no_answer, 8 congestion, anything else failed)
 *   result   call.dial_result through ingest, its id derived from the
 *            request's (the first one recorded stands: any later one is a
 *            duplicate); once ingest has taken it, the row is 'done'
 *
 * Never twice: a row 'sent' whose answer is lost — the session drops
 * before it, no answer within its timeout + 60 s, or the connector dies
 * (found 'sent' at the next start) — becomes outcome unknown, and is
 * never originated again. The database work (claims, recovery, marking
 * done, opening the sealed numbers) runs on libuv's thread pool, one job
 * at a time on a connection of its own: the loop never waits for it. */
#include "sb_ami_int.h"

#include "sb_conf.h"
#include "sb_ingest.h"
#include "sb_keys.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_pii.h"
#include "sb_pii_event.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 200
#define MAX_JOBS 256       /* Originates awaiting their answer, in all */
#define CLAIM_MAX 32       /* rows a claim takes of a PBX */
#define RESULTS_MAX 100    /* results of one submission */
#define GRACE_MS 60000     /* past an Originate's timeout: unknown */
#define RETRY_MS 1000      /* after a database or ingest failure */
#define ACTION_PREFIX "sbdial-"

typedef struct job_s {
  struct job_s *next;
  size_t pbx;
  char tenant[65], dial_id[129], request_id[32], lead[129], campaign[129];
  char caller[65], context[81], exten[81];
  int timeout_ms;
  char *number; /* plaintext (wiped when freed); NULL: see fail */
  char fail[160]; /* why it cannot be sent (a failed result) */
  char action_id[48];
  uint64_t deadline_ms;
} job_t;

typedef struct res_s {
  struct res_s *next;
  size_t pbx;
  char tenant[65], dial_id[129], outcome[16];
  cJSON *ev;
} res_t;

/* A row to write: done (outcome) or back to pending (outcome ""). */
typedef struct mark_s {
  struct mark_s *next;
  char tenant[65], dial_id[129], outcome[16];
} mark_t;

typedef struct {
  uv_work_t req;
  struct sb__ami_dial_s *d;
  int recover;   /* the rows left 'sent' by an earlier run */
  mark_t *marks; /* to write */
  int want[SB_AMI_MAX_PBX];
  job_t *claimed, *recovered; /* what it found */
  int failed;
  char err[256];
} work_t;

struct sb__ami_dial_s {
  uv_loop_t *loop;
  const sb_conf_t *c;
  sb_ingest_t *in;
  const sb_ami_pbx_t *pbx;
  size_t n;
  sb__ami_sess_t *const *sess;
  uv_timer_t tick;
  sb_pg_t *pg;     /* the work's only: used on the pool's thread */
  sb_keys_t *keys; /* likewise */
  char me[96];     /* claimed_by */
  int recovered, working, submitting, stopping, closed;
  unsigned fails; /* database works failed in a row (logged 1st, 60th...) */
  uint64_t retry_at_ms, submit_at_ms;
  job_t *jobs; /* sent, awaiting their answer */
  size_t njobs;
  res_t *res, **res_tail; /* made, not yet taken by ingest */
  res_t *res_out;         /* the submission in flight */
  mark_t *marks;          /* for the next work */
  /* a PBX's: Originates sent; results answered, failed, unknown */
  uint64_t originated[SB_AMI_MAX_PBX], answered[SB_AMI_MAX_PBX];
  uint64_t failed[SB_AMI_MAX_PBX], unknown[SB_AMI_MAX_PBX];
};

/* ---- small things -------------------------------------------------------*/

static void copy(char *dst, size_t sz, const char *v) {
  sb__ami_copy(dst, sz, v ? v : "");
}

static void job_free(job_t *j) {
  if (j == NULL)
    return;
  if (j->number) {
    sb_pii_wipe(j->number, strlen(j->number));
    free(j->number);
  }
  free(j);
}

static int64_t now_us(void) { return sb_time_now_micros(); }

/* The milliseconds of a ULID (its first 10 characters); 0 when not one. */
static uint64_t ulid_ms(const char *id) {
  static const char alpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  uint64_t ms = 0;
  if (strlen(id) != SB_ULID_LEN)
    return 0;
  for (int i = 0; i < 10; i++) {
    const char *p = strchr(alpha, id[i]);
    if (p == NULL || id[i] == '\0')
      return 0;
    ms = ms * 32 + (uint64_t)(p - alpha);
  }
  return ms;
}

/* A line of an AMI action may hold no control character (a CR or LF
 * would start a header of its own). */
static int line_ok(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 0;
  return 1;
}

static int dialplan_ok(const char *s) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || strchr("_.-+*#", *s) != NULL))
      return 0;
  return 1;
}

/* E.164: '+' and 6 to 15 digits. */
static int e164_ok(const char *s) {
  if (s[0] != '+')
    return 0;
  size_t n = 0;
  for (s++; *s; s++, n++)
    if (*s < '0' || *s > '9')
      return 0;
  return n >= 6 && n <= 15;
}

/* ---- the PBX file's keys ------------------------------------------------*/

int sb__ami_dial_conf(sb_ami_pbx_t *p, const char *k, const char *v,
                      const char *path, int line, sb_err_t *err) {
  char *dst = NULL;
  size_t sz = 0;
  if (strcmp(k, "originate_channel") == 0) {
    dst = p->orig_channel;
    sz = sizeof p->orig_channel;
  } else if (strcmp(k, "originate_context") == 0) {
    dst = p->orig_context;
    sz = sizeof p->orig_context;
  } else if (strcmp(k, "originate_exten") == 0) {
    dst = p->orig_exten;
    sz = sizeof p->orig_exten;
  } else
    return sb_err_set(err, SB_ECONFIG,
                      "%s:%d: unknown key '%.32s' (originate_channel, "
                      "originate_context, originate_exten)",
                      path, line, k);
  int channel = dst == p->orig_channel;
  int ok = strlen(v) > 0 && strlen(v) < sz &&
           (channel ? line_ok(v) && strchr(v, ' ') == NULL &&
                          strstr(v, "{number}") != NULL
                    : dialplan_ok(v));
  if (!ok)
    return sb_err_set(err, SB_ECONFIG,
                      channel ? "%s:%d: %s: '%.64s' is not a channel holding "
                                "{number} (at most %zu visible characters)"
                              : "%s:%d: %s: '%.64s' is not 1 to %zu of A-Z "
                                "a-z 0-9 _ . - + * #",
                      path, line, k, v, sz - 1);
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

static int dials(const sb_ami_pbx_t *p) { return p->orig_channel[0] != '\0'; }

/* ---- results ------------------------------------------------------------*/

/* The result's id: SHA-256 of the tenant and the request's event id, as a
 * ULID of the request's time: the same however often it is made. */
static void result_id(const char *tenant, const char *request_id,
                      char out[SB_ULID_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  memset(md, 0, sizeof md);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx != NULL) {
    const char *parts[] = {"sb-ami-dial", tenant, request_id};
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
      EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
  }
  sb_ulid_make(ulid_ms(request_id), md, out);
}

static void result(sb__ami_dial_t *d, const job_t *j, const char *outcome,
                   int reason, const char *detail, const char *uniqueid) {
  const sb_ami_pbx_t *p = &d->pbx[j->pbx];
  res_t *r = calloc(1, sizeof *r);
  cJSON *e = cJSON_CreateObject(), *data = cJSON_CreateObject();
  if (r == NULL || e == NULL || data == NULL) {
    /* the row stays 'sent': the next start makes it unknown */
    sb_log(SB_LOG_ERROR, "ami", "out of memory: a dial's result is left to "
           "the next start (unknown)", SB_F_STR("pbx", p->name),
           SB_F_STR("dial_id", j->dial_id), SB_F_END);
    free(r);
    cJSON_Delete(e);
    cJSON_Delete(data);
    return;
  }
  char id[SB_ULID_LEN + 1], t[40], src[64], call[160];
  result_id(j->tenant, j->request_id, id);
  sb_time_format(now_us(), t, sizeof t);
  snprintf(src, sizeof src, "ami://%s", p->name);
  cJSON_AddStringToObject(e, "specversion", "1.0");
  cJSON_AddStringToObject(e, "id", id);
  cJSON_AddStringToObject(e, "type", "call.dial_result");
  cJSON_AddStringToObject(e, "source", src);
  cJSON_AddStringToObject(e, "subject", j->dial_id);
  cJSON_AddStringToObject(e, "time", t);
  cJSON_AddStringToObject(e, "tenantid", j->tenant);
  cJSON_AddStringToObject(data, "dial_id", j->dial_id);
  cJSON_AddStringToObject(data, "request_event_id", j->request_id);
  cJSON_AddStringToObject(data, "pbx", p->name);
  cJSON_AddStringToObject(data, "outcome", outcome);
  if (reason >= 0)
    cJSON_AddNumberToObject(data, "reason", reason);
  if (detail && *detail) {
    char cut[257];
    sb__ami_copy(cut, sizeof cut, detail);
    cJSON_AddStringToObject(data, "detail", cut);
  }
  if (uniqueid && *uniqueid && strcmp(outcome, "answered") == 0) {
    snprintf(call, sizeof call, "%s:%.120s", p->name, uniqueid);
    cJSON_AddStringToObject(data, "call_id", call);
  }
  if (j->lead[0])
    cJSON_AddStringToObject(data, "lead_id", j->lead);
  if (j->campaign[0])
    cJSON_AddStringToObject(data, "campaign_id", j->campaign);
  cJSON_AddItemToObject(e, "data", data);
  r->pbx = j->pbx;
  r->ev = e;
  copy(r->tenant, sizeof r->tenant, j->tenant);
  copy(r->dial_id, sizeof r->dial_id, j->dial_id);
  copy(r->outcome, sizeof r->outcome, outcome);
  *d->res_tail = r;
  d->res_tail = &r->next;
  if (strcmp(outcome, "unknown") == 0)
    d->unknown[j->pbx]++;
  else if (strcmp(outcome, "answered") == 0)
    d->answered[j->pbx]++;
  else
    d->failed[j->pbx]++;
  sb_log(strcmp(outcome, "unknown") == 0 ? SB_LOG_WARN : SB_LOG_INFO, "ami",
         "dial result", SB_F_STR("pbx", p->name),
         SB_F_STR("dial_id", j->dial_id), SB_F_STR("outcome", outcome),
         SB_F_INT("reason", reason), SB_F_END);
}

static void mark(sb__ami_dial_t *d, const char *tenant, const char *dial_id,
                 const char *outcome) {
  mark_t *m = calloc(1, sizeof *m);
  if (m == NULL)
    return; /* left 'sent' (unknown at the next start) or pending */
  copy(m->tenant, sizeof m->tenant, tenant);
  copy(m->dial_id, sizeof m->dial_id, dial_id);
  copy(m->outcome, sizeof m->outcome, outcome);
  m->next = d->marks;
  d->marks = m;
}

static void on_submitted(void *ud, sb_http_req_t *r,
                         const sb_ingest_outcome_t *o) {
  sb__ami_dial_t *d = ud;
  (void)r;
  d->submitting = 0;
  res_t *out = d->res_out;
  d->res_out = NULL;
  if (o->status == 202 || (o->status < 500 && o->status != 409)) {
    if (o->refused > 0)
      sb_log(SB_LOG_ERROR, "ami", "ingest refused dial results",
             SB_F_INT("refused", o->refused), SB_F_INT("status", o->status),
             SB_F_STR("code", o->code ? o->code : ""), SB_F_END);
    while (out) { /* recorded (or refused for good): the rows are done */
      res_t *nx = out->next;
      mark(d, out->tenant, out->dial_id, out->outcome);
      cJSON_Delete(out->ev);
      free(out);
      out = nx;
    }
    return;
  }
  sb_log(SB_LOG_WARN, "ami", "ingest cannot take dial results now; retrying",
         SB_F_INT("status", o->status),
         SB_F_STR("error", o->error ? o->error : ""), SB_F_END);
  /* back at the head, in order */
  res_t *last = out;
  while (last && last->next)
    last = last->next;
  if (last) {
    last->next = d->res;
    if (d->res == NULL)
      d->res_tail = &last->next;
    d->res = out;
  }
  d->submit_at_ms = uv_now(d->loop) + RETRY_MS;
}

/* Up to RESULTS_MAX of the first PBX's results, as that PBX. */
static void submit(sb__ami_dial_t *d) {
  if (d->submitting || d->res == NULL || uv_now(d->loop) < d->submit_at_ms)
    return;
  size_t pbx = d->res->pbx;
  cJSON *batch = cJSON_CreateArray();
  if (batch == NULL)
    return;
  res_t **at = &d->res, *out = NULL, **out_tail = &out;
  int n = 0;
  while (*at && n < RESULTS_MAX) {
    res_t *r = *at;
    if (r->pbx != pbx) {
      at = &r->next;
      continue;
    }
    *at = r->next;
    r->next = NULL;
    *out_tail = r;
    out_tail = &r->next;
    cJSON *dup = cJSON_Duplicate(r->ev, 1);
    if (dup)
      cJSON_AddItemToArray(batch, dup);
    n++;
  }
  /* the tail pointer again (items were taken from anywhere) */
  d->res_tail = &d->res;
  while (*d->res_tail)
    d->res_tail = &(*d->res_tail)->next;
  d->res_out = out;
  const sb_ami_pbx_t *p = &d->pbx[pbx];
  sb_claims_t who = {.role = SB_ROLE_SUPERVISOR};
  snprintf(who.tenant, sizeof who.tenant, "%s", p->tenant);
  snprintf(who.sub, sizeof who.sub, "ami:%s", p->name);
  d->submitting = 1;
  sb_ingest_submit(d->in, NULL, &who, batch, on_submitted, d);
}

/* ---- the database work (on the pool's thread) ---------------------------*/

static const char recover_sql[] =
    "SELECT tenant_id, dial_id, request_event_id, lead_id, campaign_id"
    " FROM dialer.outbox WHERE state = 'sent' AND pbx = $1 AND tenant_id = $2";

static const char claim_sql[] =
    "UPDATE dialer.outbox o SET state = 'sent', claimed_by = $3,"
    " sent_at = now() WHERE (o.tenant_id, o.dial_id) IN ("
    "  SELECT tenant_id, dial_id FROM dialer.outbox WHERE state = 'pending'"
    "   AND pbx = $1 AND tenant_id = $2 ORDER BY created_at, dial_id"
    "   LIMIT $4 FOR UPDATE SKIP LOCKED)"
    " RETURNING o.tenant_id, o.dial_id, o.request_event_id, o.lead_id,"
    "  o.campaign_id, o.number_sealed, o.caller_id, o.context, o.exten,"
    "  o.timeout_ms";

static const char done_sql[] =
    "UPDATE dialer.outbox SET state = 'done', outcome = $3, done_at = now()"
    " WHERE tenant_id = $1 AND dial_id = $2 AND state = 'sent'";

static const char release_sql[] =
    "UPDATE dialer.outbox SET state = 'pending', claimed_by = NULL,"
    " sent_at = NULL WHERE tenant_id = $1 AND dial_id = $2 AND state = 'sent'";

static job_t *job_of(const sb_pg_rows_t *r, int i, size_t pbx) {
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL)
    return NULL;
  j->pbx = pbx;
  copy(j->tenant, sizeof j->tenant, sb_pg_rows_get(r, i, 0));
  copy(j->dial_id, sizeof j->dial_id, sb_pg_rows_get(r, i, 1));
  copy(j->request_id, sizeof j->request_id, sb_pg_rows_get(r, i, 2));
  copy(j->lead, sizeof j->lead, sb_pg_rows_get(r, i, 3));
  copy(j->campaign, sizeof j->campaign, sb_pg_rows_get(r, i, 4));
  return j;
}

/* The rest of a claimed row: its number opened, what goes on the
 * action's lines checked. */
static void job_fill(sb__ami_dial_t *d, job_t *j, const sb_pg_rows_t *r,
                     int i) {
  const sb_ami_pbx_t *p = &d->pbx[j->pbx];
  copy(j->caller, sizeof j->caller, sb_pg_rows_get(r, i, 6));
  const char *ctx = sb_pg_rows_get(r, i, 7), *ext = sb_pg_rows_get(r, i, 8);
  copy(j->context, sizeof j->context, ctx ? ctx : p->orig_context);
  copy(j->exten, sizeof j->exten, ext ? ext : p->orig_exten);
  long long t = 0;
  const char *tv = sb_pg_rows_get(r, i, 9);
  j->timeout_ms = tv && sb_parse_ll(tv, &t) == 0 && t > 0 && t <= 600000
                      ? (int)t
                      : 30000;
  if (!line_ok(j->dial_id) || !line_ok(j->lead) || !line_ok(j->campaign) ||
      !line_ok(j->caller)) {
    copy(j->fail, sizeof j->fail,
         "a control character in dial_id, lead_id, campaign_id or caller_id");
    return;
  }
  if (!j->context[0] || !j->exten[0] || !dialplan_ok(j->context) ||
      !dialplan_ok(j->exten)) {
    copy(j->fail, sizeof j->fail,
         "no valid context and exten (the request's or the PBX's "
         "originate_context and originate_exten)");
    return;
  }
  const char *sealed = sb_pg_rows_get(r, i, 5);
  size_t sz = strlen(sealed ? sealed : "") + 1;
  char *num = malloc(sz);
  sb_err_t e = SB_ERR_INIT;
  int rc = num ? sb_pii_open_field(d->keys, j->tenant, "call.dial_requested",
                                   "number", sealed ? sealed : "", num, sz, &e)
               : SB_ENOMEM;
  if (rc < 0 || rc == 1 || num == NULL) {
    snprintf(j->fail, sizeof j->fail, "%s",
             rc == 1 ? "the number's key was erased"
                     : "the number cannot be opened");
    if (num) {
      sb_pii_wipe(num, sz);
      free(num);
    }
    return;
  }
  if (!e164_ok(num)) {
    copy(j->fail, sizeof j->fail, "the number is not E.164");
    sb_pii_wipe(num, sz);
    free(num);
    return;
  }
  j->number = num;
}

static int work_pbx(sb__ami_dial_t *d, work_t *w, size_t i, sb_err_t *err) {
  const sb_ami_pbx_t *p = &d->pbx[i];
  sb_pg_rows_t *r = NULL;
  if (w->recover) {
    const char *params[] = {p->name, p->tenant};
    if (sb_pg_rows(d->pg, recover_sql, 2, params, &r, err) != 0)
      return err->code;
    for (int k = 0; k < sb_pg_rows_count(r); k++) {
      job_t *j = job_of(r, k, i);
      if (j) {
        j->next = w->recovered;
        w->recovered = j;
      }
    }
    sb_pg_rows_free(r);
    r = NULL;
  }
  if (w->want[i] <= 0)
    return 0;
  char lim[16];
  snprintf(lim, sizeof lim, "%d", w->want[i]);
  const char *params[] = {p->name, p->tenant, d->me, lim};
  if (sb_pg_rows(d->pg, claim_sql, 4, params, &r, err) != 0)
    return err->code;
  for (int k = 0; k < sb_pg_rows_count(r); k++) {
    job_t *j = job_of(r, k, i);
    if (j == NULL)
      continue; /* out of memory: left 'sent', unknown at the next start */
    job_fill(d, j, r, k);
    j->next = w->claimed;
    w->claimed = j;
  }
  sb_pg_rows_free(r);
  return 0;
}

static void work_run(uv_work_t *req) {
  work_t *w = req->data;
  sb__ami_dial_t *d = w->d;
  sb_err_t err = SB_ERR_INIT;
  int rc = 0;
  if (d->pg == NULL)
    rc = sb_pg_connect(d->c->database_url, &d->pg, &err);
  for (mark_t *m = w->marks; rc == 0 && m; m = m->next) {
    const char *params[] = {m->tenant, m->dial_id, m->outcome};
    rc = m->outcome[0] ? sb_pg_exec(d->pg, done_sql, 3, params, &err)
                       : sb_pg_exec(d->pg, release_sql, 2, params, &err);
  }
  for (size_t i = 0; rc == 0 && i < d->n; i++)
    if (dials(&d->pbx[i]))
      rc = work_pbx(d, w, i, &err);
  if (rc != 0) {
    w->failed = 1;
    copy(w->err, sizeof w->err, err.msg);
    sb_pg_close(d->pg);
    d->pg = NULL;
  }
}

/* ---- on the loop --------------------------------------------------------*/

static void send_job(sb__ami_dial_t *d, job_t *j) {
  const sb_ami_pbx_t *p = &d->pbx[j->pbx];
  if (j->fail[0]) { /* never written: a result, no Originate */
    result(d, j, "failed", -1, j->fail, NULL);
    job_free(j);
    return;
  }
  sb__ami_sess_t *s = d->sess[j->pbx];
  /* the channel: the PBX's originate_channel, {number} replaced */
  char chan[256];
  const char *at = strstr(p->orig_channel, "{number}");
  snprintf(chan, sizeof chan, "%.*s%s%s", (int)(at - p->orig_channel),
           p->orig_channel, j->number, at + strlen("{number}"));
  snprintf(j->action_id, sizeof j->action_id, ACTION_PREFIX "%s",
           j->request_id);
  char text[2048];
  int n = snprintf(
      text, sizeof text,
      "Action: Originate\r\nActionID: %s\r\nChannel: %s\r\nContext: %s\r\n"
      "Exten: %s\r\nPriority: 1\r\nTimeout: %d\r\nAsync: true\r\n"
      "%s%s%s"
      "Variable: SB_DIAL_ID=%s\r\n%s%s%s%s%s%s\r\n",
      j->action_id, chan, j->context, j->exten, j->timeout_ms,
      j->caller[0] ? "CallerID: " : "", j->caller, j->caller[0] ? "\r\n" : "",
      j->dial_id, j->lead[0] ? "Variable: SB_LEAD_ID=" : "", j->lead,
      j->lead[0] ? "\r\n" : "",
      j->campaign[0] ? "Variable: SB_CAMPAIGN_ID=" : "", j->campaign,
      j->campaign[0] ? "\r\n" : "");
  sb_pii_wipe(chan, sizeof chan);
  if (n <= 0 || (size_t)n >= sizeof text) { /* cannot be: fields bounded */
    sb_pii_wipe(text, sizeof text);
    result(d, j, "failed", -1, "the Originate would be too long", NULL);
    job_free(j);
    return;
  }
  int rc = s != NULL && !d->stopping ? sb__ami_sess_send(s, text, (size_t)n)
                                     : -1;
  sb_pii_wipe(text, sizeof text);
  if (rc != 0) { /* not written at all: back to pending */
    mark(d, j->tenant, j->dial_id, "");
    job_free(j);
    return;
  }
  sb_pii_wipe(j->number, strlen(j->number));
  j->deadline_ms = uv_now(d->loop) + (uint64_t)j->timeout_ms + GRACE_MS;
  j->next = d->jobs;
  d->jobs = j;
  d->njobs++;
  d->originated[j->pbx]++;
  sb_log(SB_LOG_INFO, "ami", "originate sent", SB_F_STR("pbx", p->name),
         SB_F_STR("dial_id", j->dial_id), SB_F_END);
}

static void work_after(uv_work_t *req, int status) {
  work_t *w = req->data;
  sb__ami_dial_t *d = w->d;
  d->working = 0;
  if (status != 0 || w->failed) {
    if (d->fails++ % 60 == 0)
      sb_log(SB_LOG_WARN, "ami",
             "the dialer cannot reach its outbox (is the dialer processor "
             "running?); retrying every second",
             SB_F_STR("error", w->failed ? w->err : uv_strerror(status)),
             SB_F_INT("failures", (long long)d->fails), SB_F_END);
    d->retry_at_ms = uv_now(d->loop) + RETRY_MS;
    /* the marks again (they are idempotent) */
    mark_t *m = w->marks;
    while (m) {
      mark_t *nx = m->next;
      m->next = d->marks;
      d->marks = m;
      m = nx;
    }
    w->marks = NULL;
  } else {
    d->fails = 0;
    if (w->recover)
      d->recovered = 1;
  }
  while (w->marks) {
    mark_t *nx = w->marks->next;
    free(w->marks);
    w->marks = nx;
  }
  /* a row 'sent' by an earlier run: its answer is lost */
  while (w->recovered) {
    job_t *j = w->recovered;
    w->recovered = j->next;
    result(d, j, "unknown", -1,
           "the Originate was sent before the connector stopped; its answer "
           "was lost (never sent again)",
           NULL);
    job_free(j);
  }
  while (w->claimed) {
    job_t *j = w->claimed;
    w->claimed = j->next;
    send_job(d, j);
  }
  free(w);
  submit(d);
}

static void on_tick(uv_timer_t *t) {
  sb__ami_dial_t *d = t->data;
  uint64_t now = uv_now(d->loop);
  for (job_t **at = &d->jobs; *at;) {
    job_t *j = *at;
    if (now < j->deadline_ms) {
      at = &j->next;
      continue;
    }
    *at = j->next;
    d->njobs--;
    result(d, j, "unknown", -1,
           "no OriginateResponse within the timeout and 60 s", NULL);
    job_free(j);
  }
  submit(d);
  if (d->working || now < d->retry_at_ms || (d->stopping && !d->marks))
    return;
  work_t *w = calloc(1, sizeof *w);
  if (w == NULL)
    return;
  w->d = d;
  w->recover = !d->recovered && !d->stopping;
  w->marks = d->marks;
  d->marks = NULL;
  int any = w->recover || w->marks != NULL;
  /* the recovery's work claims nothing: what it finds 'sent' is all of
   * an earlier run */
  size_t room = w->recover ? 0 : MAX_JOBS > d->njobs ? MAX_JOBS - d->njobs : 0;
  for (size_t i = 0; i < d->n && i < SB_AMI_MAX_PBX; i++) {
    if (d->stopping || !dials(&d->pbx[i]) || d->sess[i] == NULL ||
        !sb__ami_sess_live(d->sess[i]))
      continue;
    w->want[i] = room < CLAIM_MAX ? (int)room : CLAIM_MAX;
    room -= (size_t)w->want[i];
    any |= w->want[i] > 0;
  }
  if (!any) {
    free(w);
    return;
  }
  w->req.data = w;
  if (uv_queue_work(d->loop, &w->req, work_run, work_after) != 0) {
    d->marks = w->marks;
    free(w);
    return;
  }
  d->working = 1;
}

static job_t *take_job(sb__ami_dial_t *d, size_t pbx, const char *action_id) {
  if (action_id == NULL ||
      strncmp(action_id, ACTION_PREFIX, strlen(ACTION_PREFIX)) != 0)
    return NULL;
  for (job_t **at = &d->jobs; *at; at = &(*at)->next)
    if ((*at)->pbx == pbx && strcmp((*at)->action_id, action_id) == 0) {
      job_t *j = *at;
      *at = j->next;
      d->njobs--;
      return j;
    }
  return NULL;
}

int sb__ami_dial_message(sb__ami_dial_t *d, size_t pbx,
                         const sb_ami_msg_t *m) {
  if (d == NULL)
    return 0;
  const char *aid = sb_ami_get(m, "ActionID");
  if (aid == NULL || strncmp(aid, ACTION_PREFIX, strlen(ACTION_PREFIX)) != 0)
    return 0;
  if (m->kind == SB_AMI_RESPONSE) {
    if (sb_ami_is(m, "Response", "Success"))
      return 1; /* queued: the OriginateResponse tells the rest */
    job_t *j = take_job(d, pbx, aid);
    if (j) {
      const char *msg = sb_ami_get(m, "Message");
      char why[200];
      snprintf(why, sizeof why, "the PBX refused the Originate: %.150s",
               msg ? msg : "no message");
      result(d, j, "failed", -1, why, NULL);
      job_free(j);
    }
    return 1;
  }
  if (m->kind != SB_AMI_EVENT || !sb_ami_is(m, "Event", "OriginateResponse"))
    return 0;
  job_t *j = take_job(d, pbx, aid);
  if (j == NULL)
    return 1; /* answered already, or of an earlier run: its result made */
  long long reason = -1;
  const char *rv = sb_ami_get(m, "Reason");
  if (rv == NULL || sb_parse_ll(rv, &reason) != 0)
    reason = -1;
  const char *outcome = reason == 4   ? "answered"
                        : reason == 5 ? "busy"
                        : reason == 3 ? "no_answer"
                        : reason == 8 ? "congestion"
                                      : "failed";
  if (strcmp(outcome, "answered") == 0 &&
      !sb_ami_is(m, "Response", "Success"))
    outcome = "failed";
  result(d, j, outcome, (int)reason, NULL, sb_ami_get(m, "Uniqueid"));
  job_free(j);
  submit(d);
  return 1;
}

void sb__ami_dial_lost(sb__ami_dial_t *d, size_t pbx) {
  if (d == NULL)
    return;
  for (job_t **at = &d->jobs; *at;) {
    job_t *j = *at;
    if (j->pbx != pbx) {
      at = &j->next;
      continue;
    }
    *at = j->next;
    d->njobs--;
    result(d, j, "unknown", -1,
           "the PBX connection was lost before the OriginateResponse (never "
           "sent again)",
           NULL);
    job_free(j);
  }
}

int sb__ami_dial_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t *in,
                     const sb_ami_pbx_t *pbx, size_t n,
                     sb__ami_sess_t *const *sess, sb__ami_dial_t **out,
                     sb_err_t *err) {
  *out = NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += dials(&pbx[i]);
  if (k == 0 || in == NULL || c->database_url == NULL)
    return 0; /* no PBX dials (or no instance): no dialer */
  sb__ami_dial_t *d = calloc(1, sizeof *d);
  if (d == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_keys_open(c, &d->keys, err);
  if (rc != 0) {
    free(d);
    return rc;
  }
  d->loop = loop;
  d->c = c;
  d->in = in;
  d->pbx = pbx;
  d->n = n;
  d->sess = sess;
  d->res_tail = &d->res;
  char host[64] = "";
  gethostname(host, sizeof host - 1);
  snprintf(d->me, sizeof d->me, "ami:%s:%ld", host, (long)getpid());
  uv_timer_init(loop, &d->tick);
  d->tick.data = d;
  uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
  sb_log(SB_LOG_INFO, "ami", "dialer started", SB_F_INT("pbxs", (long long)k),
         SB_F_END);
  *out = d;
  return 0;
}

void sb__ami_dial_stats(const sb__ami_dial_t *d, size_t pbx,
                        sb_ami_pbx_stats_t *st) {
  if (d == NULL || pbx >= d->n || pbx >= SB_AMI_MAX_PBX)
    return;
  st->dials = dials(&d->pbx[pbx]);
  st->originates = d->originated[pbx];
  st->dial_answered = d->answered[pbx];
  st->dial_failed = d->failed[pbx];
  st->dial_unknown = d->unknown[pbx];
}

void sb__ami_dial_stop(sb__ami_dial_t *d) {
  if (d != NULL)
    d->stopping = 1;
}

int sb__ami_dial_busy(sb__ami_dial_t *d, int give_up) {
  if (d == NULL)
    return 0;
  submit(d);
  if (!d->working && d->marks != NULL && !give_up)
    on_tick(&d->tick); /* the rows done, written before the end */
  return d->working || d->submitting ||
         (!give_up && (d->res != NULL || d->marks != NULL));
}

void sb__ami_dial_close(sb__ami_dial_t *d) {
  if (d == NULL || d->closed)
    return;
  d->closed = 1;
  uv_timer_stop(&d->tick);
  uv_close((uv_handle_t *)&d->tick, NULL);
}

void sb__ami_dial_free(sb__ami_dial_t *d) {
  if (d == NULL)
    return;
  while (d->jobs) {
    job_t *j = d->jobs;
    d->jobs = j->next;
    job_free(j);
  }
  while (d->res) {
    res_t *r = d->res;
    d->res = r->next;
    cJSON_Delete(r->ev);
    free(r);
  }
  while (d->res_out) {
    res_t *r = d->res_out;
    d->res_out = r->next;
    cJSON_Delete(r->ev);
    free(r);
  }
  while (d->marks) {
    mark_t *m = d->marks;
    d->marks = m->next;
    free(m);
  }
  sb_pg_close(d->pg);
  sb_keys_free(d->keys);
  free(d);
}
