/* Inside the WebSocket hub (sb_hub.h), shared by its files only:
 *
 *   sb_hub.c            life: start, stop, metrics, tenants, expired tokens
 *   sb_hub_tail.c       the feed: a thread reading the domain topics through
 *                       the engine's reader (sb_tail), decoding each event
 *                       once and handing it to the loop
 *   sb_hub_send.c       fan-out, and each client's bounded send queue
 *   sb_hub_subscribe.c  subscriptions, and who may see which event
 *   sb_hub_owners.c     which agent a call or a lead belongs to, learnt from
 *                       the stream
 *   sb_hub_teams.c      which team an agent is in and who leads it, for
 *                       supervisors' gamification feeds
 *   sb_hub_ws.c         a client's WebSocket session: handshake, frames and
 *                       commands in, close
 *
 * Everything but the feed's thread runs on the loop's thread. */
#ifndef SB_HUB_INT_H
#define SB_HUB_INT_H

#include "sb_auth.h"
#include "sb_hub.h"
#include "sb_tail.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#define MAX_TYPES 32           /* type patterns a subscription may name */
#define HANDOFF_MAX 65536      /* decoded events waiting for the loop */
#define TENANT_BUCKETS 256
#define OWNER_SLOTS (1u << 18) /* entity -> agent, 4 MiB */
#define OWNER_PROBE 8
#define CLOSE_LINGER_MS 1000
/* a slow client's close frame waits behind what it has not read: it gets
 * this long to read up to it, holding no more than its bounded queue */
#define SLOW_LINGER_MS 10000
/* a client's bytes go to wslay this many at a time, what they made it
 * reply sent between slices, so a read of tiny frames queues little at
 * once */
#define RECV_SLICE 1024
/* room kept in a send queue for the close frame that ends it */
#define CLOSE_RESERVE 512
/* a frame's header and the bookkeeping of its write, beside its payload */
#define FRAME_COST 256
#define NAGENTS 4
#define TEAM_SLOTS (1u << 16) /* agent -> team, team -> lead: 1 MiB each */

/* One event read from Kafka, decoded once for every client. */
typedef struct msg_s {
  struct msg_s *next;
  int topic; /* index into sb_topics */
  char *tenant, *type, *subject, *lead_id, *call_id;
  char *agents[NAGENTS];
  char *team_id, *supervisor_id;
  /* a team board's leaderboard.rank_changed: the board's team (scope_id),
   * whose supervisor it reaches, whatever team the agent is in now */
  char *board_team;
  char *json; /* CloudEvents JSON, PII sealed as stored */
  size_t json_len;
  /* an event with PII: the same decrypted, and masked (sb_pii_event.h);
   * NULL when it has none, or when the keys could not be reached (every
   * client then gets the sealed json) */
  char *json_clear, *json_masked;
  size_t clear_len, masked_len;
  int history; /* read back at start: teaches ownership, sent to nobody */
} msg_t;

typedef struct client_s client_t;

typedef struct tenant_s {
  struct tenant_s *next; /* in its bucket */
  client_t *clients;
  char name[SB_TENANT_MAX + 1];
} tenant_t;

struct client_s {
  sb_hub_t *hub;
  client_t *prev, *next; /* in the tenant's list */
  tenant_t *tenant;
  sb_http_conn_t *conn;
  wslay_event_context_ptr ws;
  sb_claims_t who;
  unsigned char session[32]; /* the session's hash; zeros: a token */
  int by_session;
  uint64_t sub_hash; /* of who.sub, for the ownership table */
  sb_client_info_t from;
  char ip[64], ua[256];
  /* the subscription; nothing is sent before one */
  int subscribed;
  unsigned topics; /* bit per index of sb_topics */
  char *types[MAX_TYPES];
  int ntypes;
  char subject[SB_AUTH_SUB_MAX + 1];
  /* bytes of the current read, consumed by wslay's recv callback */
  const char *in;
  size_t in_len;
  int closing;
  /* the header of the client's frame being read (frames_ok), and how much
   * of its payload is still to come */
  uint8_t fh[14];
  size_t fh_len;
  uint64_t fskip;
  /* a subscription waiting for its access.recorded (sb_hub_subscribe.c);
   * NULL when none */
  struct grant_s *granting;
};

typedef struct {
  uint64_t entity; /* hash of tenant and entity id; 0: free */
  uint64_t agent;  /* hash of the agent id */
} owner_t;

struct sb_hub_s {
  uv_loop_t *loop;
  const sb_conf_t *c;
  sb_ingest_t *security;
  size_t send_queue_bytes, max_message;
  int max_clients;
  tenant_t *tenants[TENANT_BUCKETS];
  owner_t *owners;
  owner_t *members, *leads; /* sb_hub_teams.c; written on the loop (and by
                               the feed's thread before its first event) */
  uv_timer_t sweep; /* expired tokens */
  int stopping;

  /* consumer thread -> loop */
  pthread_t thread;
  int thread_started;
  atomic_int stop;
  sb_tail_t *feed; /* the domain topics, from their end */
  pthread_mutex_t lock;
  pthread_cond_t room;
  msg_t *head, *tail;
  size_t queued;
  uv_async_t wake;

  _Atomic uint64_t clients, connections, events, messages, dropped_slow,
      closed_protocol, closed_expired, decode_errors, closed_revoked;
};

/* ---- between the hub's files -------------------------------------------- */

/* sb_hub.c: the index into sb_topics of a topic of the live feed (the
 * domain topics), -1 for another. */
int sb__hub_topic_index(const char *name);
/* sb_hub.c: the clients of a tenant; NULL when none and !create (or out of
 * memory). */
tenant_t *sb__hub_tenant_get(sb_hub_t *h, const char *name, int create);

/* sb_hub_tail.c: opens the reader (on the loop's thread, before the feed's
 * thread starts), and the feed's thread. */
int sb__hub_consumer_start(sb_hub_t *h, sb_err_t *err);
void *sb__hub_consume(void *arg);
void sb__hub_msg_free(msg_t *m); /* accepts NULL */

/* sb_hub_send.c */
void sb__hub_on_wake(uv_async_t *a); /* the feed's hand-off, on the loop */
void sb__hub_client_close(client_t *c, uint16_t code, const char *reason,
                          int linger_ms);
int sb__hub_client_room(const client_t *c, size_t n);
void sb__hub_client_too_slow(client_t *c);
void sb__hub_client_send_json(client_t *c, cJSON *o); /* takes o */
void sb__hub_client_error(client_t *c, const char *code, const char *message);

/* sb_hub_subscribe.c */
void sb__hub_on_command(client_t *c, const char *text, size_t len);
void sb__hub_clear_subscription(client_t *c);
/* the client is going: a subscription being recorded is applied to no one */
void sb__hub_forget_grant(client_t *c);
int sb__hub_names_agent(const msg_t *m, const char *sub);
int sb__hub_wants(client_t *c, const msg_t *m);

/* sb_hub_owners.c */
uint64_t sb__hub_hash2(const char *a, const char *b);
int sb__hub_owner_type(const char *type, size_t n);
void sb__hub_learn_owner(sb_hub_t *h, const msg_t *m);
int sb__hub_owned_by(sb_hub_t *h, const msg_t *m, uint64_t agent);

/* sb_hub_teams.c */
int sb__hub_team_type(const char *type, size_t n);
void sb__hub_learn_team(sb_hub_t *h, const msg_t *m);
/* 1 when the supervisor (hash of tenant and sub) leads the team of the
 * event's agent (or the event's team; a team board's rank change: the
 * board's team); an event naming neither: 1 */
int sb__hub_supervises(sb_hub_t *h, const msg_t *m, uint64_t sup);
/* on the feed's thread, before it hands over its first event */
void sb__hub_teams_load(sb_hub_t *h);

#endif
