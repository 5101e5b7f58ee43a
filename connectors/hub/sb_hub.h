/* The WebSocket hub: GET /v1/stream upgrades to WebSocket (RFC 6455, framing
 * by Debian's wslay) and streams live events as CloudEvents JSON text
 * messages, each to the clients allowed to see it.
 *
 *   client -> {"subscribe": {"topics": ["sb.calls"], "types": ["call.*"],
 *                            "subject": "agent-7"}}
 *   hub    -> {"subscribed": {...}} then one message per matching event;
 *             {"error": {"code", "message"}} for a bad command.
 *
 * Who sees what: a client sees only its token's tenant and only topics its
 * role may subscribe to; an agent sees only events about itself (its
 * agent.* events, events naming it as agent_id, from_agent_id,
 * target_agent_id or previous_agent_id) and about its calls and leads: a
 * call or lead belongs to the agent named by the last lead.assigned,
 * call.started, call.offered, call.connected (agent_id) or call.transferred
 * (target_agent_id) about it, which the hub learns from the stream.
 *
 * The hub reads Kafka itself, through the engine's reader (sb_tail.h), from
 * the end of every partition of the domain topics, on a thread of its own:
 * the feed lags by milliseconds, not by the processors' transactions. Decoded events reach the loop through a bounded
 * hand-off (the consumer waits when the loop is behind).
 *
 * Each client has a bounded send queue (hub.send_queue_bytes) that counts
 * every byte held for it — events, replies, pongs, each write's bookkeeping:
 * a client that fills it (not reading, or sending faster than it reads the
 * replies) is sent close 1008 saying so, read no further (its bytes are
 * dropped), disconnected and counted; it never slows the others. Incoming
 * messages are limited to hub.max_message bytes (close 1009); frame header
 * errors get 1002, including those wslay would drop without a close frame.
 * Expired tokens are closed with 1008, and so are clients whose role was
 * revoked or whose session ended since they connected (checked every
 * second). A client may authenticate with the session cookie instead of a
 * token, from an allowed Origin (sb_ingest_authenticate_ex). */
#ifndef SB_HUB_H
#define SB_HUB_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_http.h"
#include "sb_ingest.h"
#include "sb_metrics.h"

#include <stdint.h>
#include <uv.h>

typedef struct sb_hub_s sb_hub_t;

typedef struct sb_hub_stats_s {
  uint64_t clients;          /* connected now */
  uint64_t connections;      /* accepted since start */
  uint64_t events;           /* read from Kafka */
  uint64_t messages;         /* event messages sent to clients */
  uint64_t dropped_slow;     /* clients closed for not keeping up */
  uint64_t closed_protocol;  /* clients closed for protocol errors */
  uint64_t closed_expired;   /* clients closed when their token expired */
  uint64_t closed_revoked;   /* ... when their role or session went */
  uint64_t decode_errors;    /* records the hub could not decode */
} sb_hub_stats_t;

/* Starts the consumer thread. security (not owned) authenticates clients
 * and records refusals. */
int sb_hub_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t *security,
               sb_hub_t **out, sb_err_t *err);
/* An sb_auth_owner_fn over what the hub learned from the stream (on the
 * loop's thread): 1 when agent owns the call or lead entity of tenant, 0
 * when another agent does, -1 when unknown (not seen since start, or
 * forgotten when the table's run was full). hub is an sb_hub_t *. */
int sb_hub_owner_of(void *hub, const char *tenant, const char *entity,
                    const char *agent);
/* The handler of GET /v1/stream. */
void sb_hub_accept(sb_http_req_t *r, sb_hub_t *h);
void sb_hub_snapshot(sb_hub_t *h, sb_hub_stats_t *out);
/* Appends the hub's metrics (Prometheus text). */
void sb_hub_metrics(sb_hub_t *h, sb_text_t *t);
/* Says goodbye (close 1001) to every client and stops reading Kafka. */
void sb_hub_stop(sb_hub_t *h);
/* After the loop ran dry. */
void sb_hub_free(sb_hub_t *h);

/* ---- the pure parts, for tests and fuzzing ---------------------------- */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: 0, or -1 when the key is not
 * the base64 of 16 bytes. out has room for 29 bytes. */
int sb_ws_accept_key(const char *key, char out[29]);
/* "call.*" matches call.started; "*" everything; otherwise exact. */
int sb_hub_type_match(const char *pattern, const char *type);
/* Runs bytes from a client (RFC 6455 frames) through the framing and the
 * command handling of a client of a hub that has no loop, Kafka or socket:
 * the WebSocket fuzz target. Always 0. */
int sb_hub_feed(const uint8_t *data, size_t len);

#endif
