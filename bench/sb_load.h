/* The network load generators of the benchmark, as clients of a running
 * Switchboard's HTTP API (plain http:// only):
 *
 *   sb_load_http       ingest throughput: keep-alive connections POSTing
 *                      /v1/events as fast as answers come back, in batches
 *                      or one event a request, optionally pipelined.
 *   sb_load_freshness  ingest-to-WebSocket latency: one /v1/stream client
 *                      subscribed to the posted events' topics, and events
 *                      posted at a fixed offered rate; each event's latency
 *                      is its arrival on the WebSocket minus the arrival of
 *                      the 202 that acknowledged it.
 *
 * Each runs on the calling thread, on a libuv loop of its own (nonblocking
 * sockets; the WebSocket reading and the posting never wait for each
 * other), until done, and reports the CPU that thread used: a generator
 * near 100 % of a core is a bottleneck, and the figures then say so.
 *
 * SIGPIPE is set to be ignored when the program left it at its default (a
 * server closing a connection is then an error of the write, not the end
 * of the process).
 *
 * Responses are parsed with Debian's http-parser, the WebSocket framing is
 * wslay's (client mode, masked frames), answers' bodies are read with cJSON.
 *
 * Options are zero-initialised structs: a 0 field takes its default. New
 * fields are only appended. */
#ifndef SB_LOAD_H
#define SB_LOAD_H

#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

/* Writes one CloudEvent, JSON text on one line, into buf. Returns 0 with
 * *len its length; SB_EINVAL with *len the length needed when cap is too
 * small (the same event must come on the next call: sb_gen_next's
 * contract); 1 when there are no more events (the run ends with what it
 * has); another negative code stops the run with that error. */
typedef int (*sb_load_next_cb)(void *arg, char *buf, size_t cap, size_t *len);

/* Once a second, and once more when the run is done, from the run's
 * thread. */
typedef struct sb_load_progress_s {
  double seconds;    /* since the run started */
  uint64_t events;   /* accepted so far */
  double rate;       /* accepted events/s over the last interval */
  uint64_t received; /* freshness: posted events seen on the WebSocket */
  uint64_t inflight; /* requests written and not yet answered */
} sb_load_progress_t;

typedef void (*sb_load_progress_cb)(void *arg, const sb_load_progress_t *p);

/* CPU the run's thread used (getrusage RUSAGE_THREAD), and that as a
 * percentage of one core over the run's wall time. */
typedef struct sb_load_cpu_s {
  double user_s, sys_s, percent;
} sb_load_cpu_t;

/* ---- the default events ------------------------------------------------ */

/* Valid lead.created events: subjects lead-<prefix>-<n> (the prefix random
 * per state, so runs do not collide), a lead source from a rotation, an
 * e-mail, the current time. No id: the server assigns one. */
typedef struct sb_load_default_s {
  uint64_t n;      /* events written */
  char prefix[16]; /* hex */
} sb_load_default_t;

void sb_load_default_init(sb_load_default_t *d);
/* An sb_load_next_cb; arg is an sb_load_default_t. */
int sb_load_default_event(void *arg, char *buf, size_t cap, size_t *len);

/* ---- HTTP ingest load --------------------------------------------------- */

typedef struct sb_load_http_opts_s {
  const char *url;      /* "http://127.0.0.1:8080" (a path is ignored) */
  const char *token;    /* sent as Authorization: Bearer */
  uint64_t events;      /* events to offer; each ends accepted or rejected */
  int connections;      /* keep-alive connections; default 4 */
  int batch;            /* events a request: 1 posts single events as
                           application/cloudevents+json; more, a batch;
                           default 100 (the server takes at most 10000) */
  int ndjson;           /* batches as application/x-ndjson instead of
                           application/cloudevents-batch+json */
  int pipeline;         /* requests in flight a connection; default 1 (the
                           server answers at most 32 pipelined) */
  sb_load_next_cb next; /* NULL: sb_load_default_event on a state of the
                           run's own */
  void *next_arg;
  sb_load_progress_cb progress; /* may be NULL */
  void *progress_arg;
  int max_retries; /* times an event is re-sent after 429/503 or a lost
                      connection before it counts as rejected; default
                      100 */
  int stall_ms;    /* fails with SB_ETIMEDOUT when nothing is answered for
                      this long; default 30000 */
} sb_load_http_opts_t;

typedef struct sb_load_http_result_s {
  uint64_t offered;    /* events generated (o->events unless next ran dry) */
  uint64_t accepted;   /* "accepted" items of 202/207 answers */
  uint64_t duplicates; /* of which acknowledged as duplicates */
  uint64_t rejected;   /* refused for good (400/403 items, retries spent) */
  uint64_t requests;   /* answers read, retried requests included */
  uint64_t retries;    /* requests re-sent: 429/503 answers or items, and
                          requests in flight on a lost connection */
  uint64_t errors;     /* answers other than 202 and 207 */
  uint64_t reconnects; /* connections lost and opened again */
  double seconds;      /* from the first request to the last answer */
  double events_per_s; /* accepted / seconds */
  double requests_per_s;
  /* per request, from its write to its answer (within 1.6 %) */
  double latency_p50_ms, latency_p99_ms, latency_max_ms;
  uint64_t bytes_sent, bytes_received;
  sb_load_cpu_t cpu;
  char first_error[256]; /* the first rejection or error answer, or "" */
} sb_load_http_result_t;

/* Runs until every event was answered for good. 0 with *out filled (check
 * out->rejected: refused events are not a failure of the run); SB_EINVAL
 * for bad options; SB_EIO when the server cannot be reached; SB_EUNAVAIL
 * for an answer no retry mends (401, 404, 413, 415...), naming the status
 * and the server's message; SB_ETIMEDOUT after stall_ms without an answer.
 * *out holds what was measured even on failure. */
int sb_load_http(const sb_load_http_opts_t *o, sb_load_http_result_t *out,
                 sb_err_t *err);

/* ---- ingest-to-WebSocket freshness -------------------------------------- */

typedef struct sb_load_fresh_opts_s {
  /* "http://127.0.0.1:8080"; the stream is ws://HOST:PORT/v1/stream */
  const char *url;
  const char *token; /* for both; its tenant must be the events' */
  double rate;       /* events/s offered, open loop (> 0) */
  double seconds;    /* of posting (> 0); rate * seconds events in all */
  int tick_ms;       /* events go out every tick, rate * tick / 1000 at a
                        time, as one batch; those due while every
                        connection was busy go out together (up to
                        max_batch a request); default 1 */
  int max_batch;     /* default 100 */
  int connections;   /* for posting; default 4 */
  int pipeline;      /* default 8 */
  int grace_ms;      /* after the last 202, how long events may still
                        arrive before they count as lost; default 5000 */
  const char *const *topics; /* to subscribe, NULL-terminated; default
                                {"sb.leads"} */
  const char *const *types;  /* NULL-terminated; default {"lead.created"}
                                with the default topics, else all */
  /* NULL: sb_load_default_event. Events without an "id" get a fresh ULID;
   * an event's own id is kept (and matched) */
  sb_load_next_cb next;
  void *next_arg;
  sb_load_progress_cb progress; /* may be NULL */
  void *progress_arg;
  int stall_ms; /* as for sb_load_http; default 30000 */
  /* optional: each message on the stream that is no event this run
   * posted (also counted in foreign), with when it was read (Unix
   * nanoseconds, CLOCK_REALTIME); from the run's thread */
  void (*other)(void *arg, const char *msg, size_t len, int64_t read_unix_ns);
  /* optional: once every posted event arrived, the run goes on reading
   * while this returns non-zero, up to grace_ms after the last 202 */
  int (*more)(void *arg);
  void *other_arg; /* of both */
} sb_load_fresh_opts_t;

typedef struct sb_load_fresh_result_s {
  uint64_t offered;    /* events generated */
  uint64_t sent;       /* accepted by the server (not duplicates): these
                          must arrive */
  uint64_t received;   /* of those, seen on the WebSocket */
  uint64_t lost;       /* sent - received: not seen within grace_ms */
  uint64_t early;      /* arrived before their 202 (latency counted 0) */
  uint64_t rejected;   /* refused by the server (not expected) */
  uint64_t duplicates; /* acknowledged as duplicates (not expected) */
  uint64_t foreign;    /* messages for events this run did not post */
  uint64_t retries;
  double seconds;                     /* of posting */
  double offered_rate, accepted_rate; /* events/s */
  /* 202 -> WebSocket arrival, ms, exact */
  double p50_ms, p99_ms, p999_ms, max_ms;
  /* request written -> WebSocket arrival: adds ingest and Kafka's ack */
  double e2e_p50_ms, e2e_p99_ms;
  double post_p50_ms, post_p99_ms; /* request written -> its answer */
  double max_behind_ms; /* how far the posting fell behind the schedule
                           (the server not keeping up) */
  sb_load_cpu_t cpu;
  char first_error[256];
} sb_load_fresh_result_t;

/* Connects the WebSocket, subscribes, waits for the "subscribed" ack, then
 * posts for o->seconds and waits for the stragglers. 0 with *out filled
 * (check out->lost); SB_EINVAL for bad options; SB_EIO when the server
 * cannot be reached; SB_EUNAVAIL when the handshake, the subscription or an
 * answer no retry mends is refused, or the hub closes the stream (the
 * message names the code and reason: 1008 when the client was too slow);
 * SB_ETIMEDOUT after stall_ms without progress. */
int sb_load_freshness(const sb_load_fresh_opts_t *o,
                      sb_load_fresh_result_t *out, sb_err_t *err);

#endif
