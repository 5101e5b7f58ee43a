/* The dispatcher's insides, shared by its files:
 *   sb_dispatch.c          thread, loop, claims, drain
 *   sb_dispatch_curl.c     libcurl multi on the libuv loop
 *   sb_dispatch_prep.c     accounts (comms.providers, unsealed), fields
 *                          unsealed, templates rendered
 *   sb_dispatch_provider.c each provider's request and answer
 *   sb_dispatch_record.c   outcomes: breaker, backoff, events, updates */
#ifndef SB_DISPATCH_INT_H
#define SB_DISPATCH_INT_H

#include "sb_codec.h"
#include "sb_dispatch.h"
#include "sb_keys.h"
#include "sb_pg.h"
#include "sb_producer.h"
#include "sb_text.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#define SB_DSP_FIELD 129 /* ids: 128 characters and a NUL */
#define SB_DSP_MSG_MAX 512
#define SB_DSP_RESP_MAX (256 * 1024) /* a provider's answer we read */
#define SB_DSP_RATE_SLOTS 1024

typedef enum {
  SB_DSP_SMTP = 0,
  SB_DSP_TWILIO,
  SB_DSP_WHATSAPP_CLOUD,
  SB_DSP_SLACK,
  SB_DSP_FCM,
  SB_DSP_SENDGRID,
  SB_DSP_NPROVIDERS
} sb__dsp_provider_t;

extern const char *const sb__dsp_provider_names[SB_DSP_NPROVIDERS];

/* A provider account: comms.providers' row with its secrets unsealed
 * (wiped when freed), and the breaker's state, kept across reloads. */
typedef struct sb__dacct_s {
  char tenant[SB_DSP_FIELD], account_id[SB_DSP_FIELD];
  char event_id[32];
  int provider; /* sb__dsp_provider_t */
  char *base_url, *from_address, *username, *secret;
  int64_t loaded_ms;
  /* FCM with a service account: the OAuth2 access token and when to fetch
   * another (sb_dispatch_oauth.c); NULL: the secret is the Bearer */
  char *token;
  int64_t token_refresh_ms;
  int fetching; /* a token exchange is under way (on the thread pool) */
  /* breaker: consecutive transient failures; open until; one probe */
  int fails;
  int64_t open_until_ms;
  int probing;
  int64_t paused_until_ms; /* a 429's Retry-After */
  int open; /* the breaker counted open (sb_dispatch_metrics) */
  struct sb__dacct_s *next;
} sb__dacct_t;

/* what the metrics count per provider (sb_dispatch_metrics) */
typedef enum {
  SB_DSP_M_SENT = 0,
  SB_DSP_M_FAILED,
  SB_DSP_M_BLOCKED,
  SB_DSP_M_RETRIED,
  SB_DSP_M_THROTTLED,
  SB_DSP_M_CIRCUIT,
  SB_DSP_M_N
} sb__dsp_metric_t;

typedef enum {
  SB_DSP_O_NONE = 0,
  SB_DSP_O_SENT,
  SB_DSP_O_FAILED,  /* for good: status_updated failed */
  SB_DSP_O_BLOCKED, /* never sent: message.blocked */
  SB_DSP_O_RETRY,   /* transient: pending after a backoff */
  SB_DSP_O_DEFER,   /* breaker or rate limit: pending, attempt returned */
} sb__dsp_outcome_t;

typedef struct sb__djob_s sb__djob_t;
struct sb__djob_s {
  struct sb_dispatch_s *d;
  /* the outbox row */
  char tenant[SB_DSP_FIELD], message_id[SB_DSP_FIELD], channel[16];
  char account_id[SB_DSP_FIELD], request_event_id[32];
  char lead_id[SB_DSP_FIELD], campaign_id[SB_DSP_FIELD];
  char template_id[SB_DSP_FIELD], template_version[SB_DSP_FIELD];
  int attempts;
  int64_t created_us;
  /* plaintext, wiped when freed */
  char *to, *from, *subject, *body;
  /* to's envelope's origin, "type:field" ("lead.created:phone": a lead's
   * address, resolved by comms); "": message.requested's to_address */
  char to_origin[40];
  sb__dacct_t *acct;
  /* the transfer */
  CURL *easy;
  struct curl_slist *hdrs, *rcpt;
  sb_text_t req, resp;
  size_t sent_off; /* of req, SMTP's upload */
  char errbuf[CURL_ERROR_SIZE];
  int started; /* a transfer was made (the provider may have it) */
  int probe;   /* the half-open breaker's one try */
  /* the outcome */
  int outcome; /* sb__dsp_outcome_t */
  int transient_account; /* counts against the account's breaker */
  int64_t retry_at_ms;   /* RETRY and DEFER: when; 0 = backoff */
  int circuit;           /* DEFER: by an open breaker (else throttled) */
  int waiting;           /* an access token is being fetched for it */
  char provider_message_id[SB_DSP_FIELD];
  char provider_status[SB_DSP_FIELD];
  char error_code[SB_DSP_FIELD];
  char error_msg[SB_DSP_MSG_MAX];
  char block_reason[40];
  sb__djob_t *next;
};

struct sb_dispatch_s {
  const sb_conf_t *c; /* borrowed until sb_dispatch_join */
  char me[96]; /* claimed_by: host:pid:random */
  pthread_t thread;
  int thread_started;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t tick, curl_timer;
  uv_timer_t record_soon; /* outcomes recorded as soon as they are known */
  CURLM *multi;
  sb_pg_t *pg;
  sb_keys_t *keys;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_producer_t *producer;
  sb__dacct_t *accts;
  int inflight;       /* jobs claimed and not yet recorded */
  sb__djob_t *done;   /* outcomes waiting to be recorded */
  int outbox_missing; /* the table is not there yet: said once */
  int64_t next_claim_ms;
  int64_t stop_deadline_ms; /* a drain gives up recording after this */
  /* Slack's per-channel pace: hash of (account, channel) -> next slot */
  struct {
    uint64_t h;
    int64_t next_ms;
  } rate[SB_DSP_RATE_SLOTS];
  pthread_mutex_t mu; /* stats, stopping, err */
  int stopping, finished;
  sb_dispatch_stats_t st;
  /* per provider ([SB_DSP_NPROVIDERS]: none known yet) */
  long by[SB_DSP_NPROVIDERS + 1][SB_DSP_M_N];
  long opened[SB_DSP_NPROVIDERS], open_now[SB_DSP_NPROVIDERS];
  struct sb_dispatch_s *next_live; /* the process's running dispatchers */
  sb_err_t err;
};

/* sb_dispatch_curl.c */
int sb__dsp_curl_init(sb_dispatch_t *d, sb_err_t *err);
void sb__dsp_curl_close(sb_dispatch_t *d);
/* Starts j's transfer (j->easy made by the provider); on failure the job
 * gets an outcome and goes to the done list. */
void sb__dsp_curl_add(sb_dispatch_t *d, sb__djob_t *j);

/* sb_dispatch_prep.c */
/* Fills j->acct, the plaintexts and the rendered text; on a refusal sets
 * j->outcome (BLOCKED or FAILED) and returns 0; an error reaching
 * PostgreSQL or the keys returns it. */
int sb__dsp_prepare(sb_dispatch_t *d, sb__djob_t *j, sb_err_t *err);
void sb__dsp_accts_free(sb_dispatch_t *d);
/* Renders tmpl with the variables object vars into out ({{name}}: the key
 * "name" of vars, or its dotted path); 0, or SB_ENOENT with the missing
 * variable's name in missing. */
int sb__dsp_render(const char *tmpl, const void *vars, sb_text_t *out,
                   char *missing, size_t missingsz);
/* Code points of a UTF-8 string. */
long sb__dsp_cps(const char *s);

/* sb_dispatch.c: j prepared: admitted and sent, or finished */
void sb__dsp_launch(sb_dispatch_t *d, sb__djob_t *j);

/* sb_dispatch_oauth.c */
/* For an FCM account whose secret is a service-account JSON: an access
 * token in j->acct->token. None fresh: the exchange starts on libuv's
 * thread pool, j->waiting is set and sb__dsp_launch(j) follows when it
 * ends (other jobs of the account meanwhile are deferred); a refusal or a
 * transient failure as j's outcome. 0, or an error (out of memory). */
int sb__dsp_fcm_auth(sb_dispatch_t *d, sb__djob_t *j, sb_err_t *err);
/* forgets (and wipes) the account's access token */
void sb__dsp_token_clear(sb__dacct_t *a);

/* sb_dispatch_provider.c */
/* What every transfer of the dispatcher sets: url, timeouts, TLS verified
 * (against dispatch.ca_file when set), protocols, no redirects, agent. */
void sb__dsp_easy_common(sb_dispatch_t *d, CURL *e, const char *url,
                         const char *protocols);
/* j never goes out: blocked no_provider, with detail */
void sb__dsp_refuse(sb__djob_t *j, const char *detail);
/* frees a buffer that held a secret, wiped first */
void sb__dsp_wipe_text(sb_text_t *t);
/* Builds j's request (j->easy); 0, or an outcome set on j. */
int sb__dsp_build(sb_dispatch_t *d, sb__djob_t *j);
/* Reads the finished transfer's answer into j's outcome. */
void sb__dsp_answer(sb_dispatch_t *d, sb__djob_t *j, CURLcode rc);

/* sb_dispatch_record.c */
/* Whether j's account lets it go now (breaker, pause, rate); when not,
 * j->outcome is DEFER with retry_at_ms. */
int sb__dsp_admit(sb_dispatch_t *d, sb__djob_t *j);
/* j finished (any outcome): to the done list; breaker bookkeeping. */
void sb__dsp_finish(sb_dispatch_t *d, sb__djob_t *j);
/* Produces the done list's events, flushes, updates the rows; on failure
 * the list stays for the next try. */
int sb__dsp_record(sb_dispatch_t *d, sb_err_t *err);
void sb__dsp_job_free(sb__djob_t *j);
/* Records the done list on the loop's next turn (sb_dispatch.c). */
void sb__dsp_record_soon(sb_dispatch_t *d);
/* Copies s into out (outsz), removing digit runs of 4 or more, e-mail
 * addresses and the account's secret: provider errors may quote them. */
void sb__dsp_scrub(const char *s, const char *secret, char *out,
                   size_t outsz);

#endif
