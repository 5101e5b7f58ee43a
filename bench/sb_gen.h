/* A seeded generator of realistic CloudEvents for the benchmark harness and
 * for demos: tenants with campaigns, agents working shifts, leads, inbound
 * and outbound calls, messages, consents and ad spend, as CloudEvents 1.0
 * JSON text that sb_codec_from_ce accepts.
 *
 * It is a small discrete-event simulation: every flow (a call, a message, an
 * agent's shift) schedules its next step on one timer heap, so events come
 * out in time order and interleave as in a real contact centre. Calls wait
 * in a per-tenant queue for the agent idle longest; callers hang up when
 * their patience runs out; agents ring, talk, hold, wrap up, pause and log
 * out; dispositions move leads through the funnel.
 *
 * Reproducible: the same options give byte-identical output on the same
 * build (one xoshiro256** stream seeded through splitmix64; the log-normal
 * and exponential draws use libm's exp and log). Event ids are ULIDs of the
 * event time and PRNG bytes; times start at opts.start_us and only advance.
 *
 * Bounded: every table is allocated by sb_gen_new and never grows; entity
 * ids keep counting up while the leads each tenant remembers recycle
 * through a fixed ring. */
#ifndef SB_GEN_H
#define SB_GEN_H

#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

#define SB_GEN_MAX_EVENT 8192 /* no event is longer than this */
#define SB_GEN_MAX_TENANTS 1000

typedef struct sb_gen_s sb_gen_t;

typedef struct sb_gen_opts_s {
  uint64_t seed;
  int tenants;      /* 1 .. SB_GEN_MAX_TENANTS; 0 means 1 */
  const char *mix;  /* a name from sb_gen_mixes(), or "kind=weight,..."
                       over the kinds of sb_gen_kinds() (others 0); NULL:
                       "default" */
  int64_t start_us; /* time of the first event, microseconds since the
                       epoch; 0: 2026-01-05T08:00:00Z */
} sb_gen_opts_t;

typedef struct sb_gen_stats_s {
  uint64_t events;  /* returned so far */
  int64_t now_us;   /* time of the last event */
  size_t mem_bytes; /* allocated by sb_gen_new; constant afterwards */
  uint32_t tenants, agents, campaigns;
  uint32_t flows_cap; /* calls, messages and leads in progress at once */
  uint32_t flows_in_use, flows_peak;
  uint64_t dropped; /* stories not started: no free flow slot, or no
                       lead or agent to act on yet */
} sb_gen_stats_t;

/* A generator for the options. SB_EUSAGE naming the option when one is
 * wrong (unknown mix, bad weight, tenants out of range). *out is owned by
 * the caller (sb_gen_free). */
int sb_gen_new(const sb_gen_opts_t *o, sb_gen_t **out, sb_err_t *err);

/* Accepts NULL. */
void sb_gen_free(sb_gen_t *g);

/* Writes the next event's JSON text (one line, no newline) into buf and a
 * NUL when there is room; *len is its length and *type (may be NULL) points
 * to its static type name ("call.started"). When cap <= the length, returns
 * SB_EINVAL with *len the length needed and keeps the event for the next
 * call; a cap of SB_GEN_MAX_EVENT always suffices. */
int sb_gen_next(sb_gen_t *g, char *buf, size_t cap, size_t *len,
                const char **type);

void sb_gen_stats(const sb_gen_t *g, sb_gen_stats_t *st);

/* "default, calls, leads, messages" and "inbound, outbound, ...": for help
 * texts. Static strings. */
const char *sb_gen_mixes(void);
const char *sb_gen_kinds(void);

/* The event types the generator writes, NULL-terminated. */
extern const char *const sb_gen_types[];

#endif
