/* Reads recorded: every read of protected data through the API (a
 * projection, an export, a subject's GDPR data, a live-feed subscription)
 * is recorded on sb.compliance as access.recorded, action READ, with who
 * (user, role, tenant), from where (address, user agent) and what (route,
 * resource, filters, rows), through ingest's producer.
 *
 * No read without its record: a read is answered only once its record is
 * acknowledged by Kafka, or counted in a window's record while the
 * recorder is healthy. Per window (access.window_ms) and key — tenant,
 * user, address, route, resource and filters, the windows of sb_refusals.h
 * — the first read is recorded at once and its caller waits for the
 * acknowledgement (one produce round trip, after the query: the record
 * carries the rows); the identical reads after it are answered at once and
 * recorded as one event with their count (attempts) and rows at the
 * window's end. While a record has failed and not yet been produced again
 * (a window's record is kept and retried every second, up to
 * SB_ACCESS_OWED_MAX of them), or when the window's table is full, reads
 * are refused (SB_EUNAVAIL: answer 503) rather than left unrecorded.
 *
 * @locality the loop's thread. */
#ifndef SB_ACCESS_H
#define SB_ACCESS_H

#include "sb_err.h"
#include "sb_ingest.h"
#include "sb_text.h"

#include <stddef.h>
#include <stdint.h>

/* Window records that failed and are retried before reads go on. */
#define SB_ACCESS_OWED_MAX 1024
/* Filters a read may name, and the bytes of their text together. */
#define SB_ACCESS_FILTERS_MAX 16
#define SB_ACCESS_WHAT_MAX 500

/* One read, as its route knows it; strings borrowed for the call, NULL
 * when absent. */
typedef struct sb_read_s {
  const char *tenant, *user, *role;  /* the caller: required */
  const char *ip, *user_agent;       /* sb_client_info */
  const char *method, *route;        /* "GET", "/v1/projection" */
  const char *resource_type;         /* "projection", "export", "gdpr",
                                        "stream": required */
  const char *resource_id;           /* "audit.events" */
  const char *subject_id;            /* the data subject read, if one */
  const char *const *filters;        /* "name=value", in the order given */
  size_t nfilters;                   /* at most SB_ACCESS_FILTERS_MAX */
  uint64_t rows;                     /* records read */
} sb_read_t;

/* Called exactly once: status 0 when the read is recorded (its record
 * acknowledged, or counted in its window's) and may be answered; else
 * SB_EUNAVAIL (answer 503 with Retry-After) or SB_EINVAL (a read the
 * recorder cannot key: filters too long; answer 400) with message saying
 * why. message borrowed for the call. May run before sb_ingest_record_read
 * returns. */
typedef void (*sb_access_done_t)(void *ud, int status, const char *message);

void sb_ingest_record_read(sb_ingest_t *in, const sb_read_t *rd,
                           sb_access_done_t done, void *ud);

/* ---- inside ingest ------------------------------------------------------- */
typedef struct sb_access_s sb_access_t;
int sb__access_new(sb_ingest_t *in, uv_loop_t *loop, sb_access_t **out,
                   sb_err_t *err);
/* Produces the windows' counts; stops the timers. */
void sb__access_close(sb_access_t *a);
void sb__access_free(sb_access_t *a);
void sb__access_metrics(sb_access_t *a, sb_text_t *t);
/* Reads folded past their address's or tenant's bound (sb_refusals.h). */
uint64_t sb__access_suppressed(const sb_access_t *a);

#endif
