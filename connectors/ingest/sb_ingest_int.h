/* Inside ingest (sb_ingest.h), shared by its files only:
 *
 *   sb_ingest.c       life, metrics, authentication, security events
 *   sb_ingest_post.c  POST /v1/events: each event checked, claimed,
 *                     produced, and the request answered
 *
 * Everything runs on the loop's thread. */
#ifndef SB_INGEST_INT_H
#define SB_INGEST_INT_H

#include "sb_codec.h"
#include "sb_idem.h"
#include "sb_keys.h"
#include "sb_ingest.h"
#include "sb_metrics.h"
#include "sb_producer.h"
#include "sb_refusals.h"
#include "sb_schema.h"

#include <stddef.h>
#include <stdint.h>

struct sb_ingest_s {
  const sb_conf_t *c;
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t secret_len;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_producer_t *producer;
  uv_timer_t poll;
  int polling;
  sb_auth_owner_fn owner; /* an agent's calls and leads; may be NULL */
  void *owner_ctx;
  sb_idem_t *idem; /* which event ids were produced: PostgreSQL */
  uv_loop_t *loop;
  sb_keys_t *keys; /* PII: tenant and data keys (sealing before produce),
                      used by one job of libuv's thread pool at a time */
  uv_mutex_t keys_lock;
  int keys_lock_made;
  /* metrics; touched on the loop's thread only */
  uint64_t accepted, duplicates;
  uint64_t rejected[18]; /* by index of reject_codes */
  sb_hist_t produce_seconds;
  sb_refusals_t *refusals;          /* what refusals are recorded */
  const sb_refusal_t *refusal_flush; /* a window's count being recorded */
};

/* sb_ingest.c: counts an event or a request refused with code. */
void sb__ingest_count_reject(sb_ingest_t *in, const char *code);

#endif
