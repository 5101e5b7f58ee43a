/* Refusals (refused tokens, denied requests) recorded so that no client can
 * grow the log without bound: per key — event type, reason, source
 * address, tenant, user and what (reads: sb_access.h) — and per window (security.refusal_window_ms),
 * the first refusal is recorded at once and the others are counted and
 * recorded as one event, with their count, when the window ends. The table
 * of keys is bounded: once it is full, new sources of a tenant share one
 * overflow entry per type and reason (no address), and past that they are
 * only counted (sb_refusals_unrecorded). Metrics count every refusal
 * elsewhere; this only decides what is written.
 *
 * On the loop's thread. */
#ifndef SB_REFUSALS_H
#define SB_REFUSALS_H

#include "sb_err.h"

#include <stdint.h>
#include <uv.h>

typedef struct sb_refusals_s sb_refusals_t;

/* One refusal, as the caller knows it; NULL strings are absent. */
typedef struct sb_refusal_s {
  const char *type, *tenant, *user, *reason, *detail;
  const char *ip, *user_agent, *method, *path;
  uint64_t attempts; /* set for a window's record; 1 when recorded at once */
  /* optional, for other users of the windows (reads, sb_access.h): what is
   * part of the key (at most SB_REFUSAL_WHAT_MAX bytes are kept; NULL:
   * none), amount is summed over the window's counted ones (0: none) */
  const char *what;
  uint64_t amount;
} sb_refusal_t;

#define SB_REFUSAL_WHAT_MAX 511

/* record is called for each window's counts with a refusal whose strings
 * are those of the key's first refusal (borrowed for the call) and whose
 * attempts is the count not yet recorded (amount their sum). */
typedef void (*sb_refusals_record_t)(void *ud, const sb_refusal_t *r);

/* *out owned by the caller: sb_refusals_close, then sb_refusals_free after
 * the loop closed the timer. max_keys bounds the table. */
int sb_refusals_new(uv_loop_t *loop, int window_ms, size_t max_keys,
                    sb_refusals_record_t record, void *ud, sb_refusals_t **out,
                    sb_err_t *err);
/* 1: record r now (the first of its key in this window); 0: counted, and
 * recorded at the window's end. */
int sb_refusals_note(sb_refusals_t *t, const sb_refusal_t *r);
/* Records what is counted now, as a window's end does. */
void sb_refusals_flush(sb_refusals_t *t);
/* Flushes and stops the window timer. NULL: nothing. */
void sb_refusals_close(sb_refusals_t *t);
void sb_refusals_free(sb_refusals_t *t);
/* Refusals neither recorded nor counted in an entry (the table full). */
uint64_t sb_refusals_unrecorded(const sb_refusals_t *t);

/* Bounds the keys (records at once) one source address, and one tenant,
 * may make per window (0: no bound). Past its address's bound a new key is
 * folded into one entry per (type, reason, tenant, address): no user or
 * what, recorded at the window's end with the count of what it folded (the
 * summary "N records from ADDRESS", also logged); past its tenant's bound
 * into the tenant's shared entry (as when the table is full). Counted in
 * sb_refusals_suppressed. */
void sb_refusals_set_limits(sb_refusals_t *t, size_t per_address,
                            size_t per_tenant);
uint64_t sb_refusals_suppressed(const sb_refusals_t *t);

#endif
