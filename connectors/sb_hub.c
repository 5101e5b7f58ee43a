#include "sb_hub.h"

#include "sb_auth.h"
#include "sb_codec.h"
#include "sb_log.h"
#include "sb_schema.h"
#include "sb_tail.h"
#include "sb_time.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

static const char *const agent_fields[NAGENTS] = {
    "agent_id", "from_agent_id", "target_agent_id", "previous_agent_id"};

/* One event read from Kafka, decoded once for every client. */
typedef struct msg_s {
  struct msg_s *next;
  int topic; /* index into sb_topics */
  char *tenant, *type, *subject, *lead_id, *call_id;
  char *agents[NAGENTS];
  char *json; /* CloudEvents JSON */
  size_t json_len;
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
      closed_protocol, closed_expired, decode_errors;
};

/* ---- pure helpers ------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const char *s) {
  for (; s && *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static uint64_t hash2(const char *a, const char *b) {
  uint64_t h = fnv(1469598103934665603ull, a);
  h = (h ^ 0xff) * 1099511628211ull;
  h = fnv(h, b);
  return h ? h : 1;
}

int sb_hub_type_match(const char *pattern, const char *type) {
  size_t n = strlen(pattern);
  if (n == 1 && pattern[0] == '*')
    return 1;
  if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.')
    return strncmp(pattern, type, n - 1) == 0;
  return strcmp(pattern, type) == 0;
}

int sb_ws_accept_key(const char *key, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char raw[32];
  size_t n = key ? strlen(key) : 0;
  /* the base64 of 16 bytes: 22 characters and "==" */
  if (n != 24 || key[22] != '=' || key[23] != '=' ||
      EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
    return -1;
  char buf[24 + sizeof guid];
  memcpy(buf, key, 24);
  memcpy(buf + 24, guid, sizeof guid - 1);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(buf, 24 + sizeof guid - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
      mdlen != 20)
    return -1;
  EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars and NUL */
  return 0;
}

static int topic_index(const char *name) {
  for (size_t i = 0; i < sb_topics_n; i++)
    if (strcmp(sb_topics[i], name) == 0 &&
        strcmp(name, SB_TOPIC_DEADLETTER) != 0 &&
        strcmp(name, SB_TOPIC_AUDIT_CHECKPOINTS) != 0)
      return (int)i;
  return -1;
}

/* ---- messages ----------------------------------------------------------- */

static void msg_free(msg_t *m) {
  if (m == NULL)
    return;
  free(m->tenant);
  free(m->type);
  free(m->subject);
  free(m->lead_id);
  free(m->call_id);
  for (int i = 0; i < NAGENTS; i++)
    free(m->agents[i]);
  cJSON_free(m->json);
  free(m);
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* Decodes a Kafka value into a message for the loop; NULL when it is not an
 * event (counted). */
static msg_t *msg_of(sb_hub_t *h, sb_codec_t *codec, int topic,
                     const sb_tail_rec_t *rec) {
  sb_event_t ev;
  sb_err_t err = SB_ERR_INIT;
  cJSON *ce = NULL;
  if (sb_codec_decode(codec, rec->value, rec->value_len, &ev, &err) != 0 ||
      sb_codec_to_ce(codec, &ev, &ce, &err) != 0) {
    atomic_fetch_add(&h->decode_errors, 1);
    return NULL;
  }
  msg_t *m = calloc(1, sizeof *m);
  if (m == NULL) {
    cJSON_Delete(ce);
    return NULL;
  }
  m->topic = topic;
  m->tenant = dup_or_null(ev.tenant_id);
  m->type = dup_or_null(sb_evtype_name(ev.type));
  m->subject = dup_or_null(ev.subject);
  m->lead_id = dup_or_null(sb_event_str(&ev, "lead_id"));
  m->call_id = dup_or_null(sb_event_str(&ev, "call_id"));
  for (int i = 0; i < NAGENTS; i++)
    m->agents[i] = dup_or_null(sb_event_str(&ev, agent_fields[i]));
  m->json = cJSON_PrintUnformatted(ce);
  cJSON_Delete(ce);
  if (m->tenant == NULL || m->type == NULL || m->json == NULL) {
    msg_free(m);
    atomic_fetch_add(&h->decode_errors, 1);
    return NULL;
  }
  m->json_len = strlen(m->json);
  return m;
}

/* ---- the consumer thread ------------------------------------------------ */

/* The event types from which the hub learns which agent a call or a lead
 * belongs to (learn_owner), told apart by the sb-type header. */
static int owner_type(const char *type, size_t n) {
  static const char *const types[] = {"lead.assigned", "call.started",
                                      "call.offered", "call.connected",
                                      "call.transferred"};
  for (size_t i = 0; i < SB_ARRAY_LEN(types); i++)
    if (strlen(types[i]) == n && memcmp(types[i], type, n) == 0)
      return 1;
  return 0;
}

static int tells_owner(const sb_tail_rec_t *rec) {
  const void *v = NULL;
  size_t n = 0;
  if (sb_tail_header(rec, "sb-type", &v, &n) != 0)
    return 1; /* no header: decode to know */
  return owner_type(v, n);
}

static void *consume(void *arg) {
  sb_hub_t *h = arg;
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_err_t err = SB_ERR_INIT;
  if (sb_schemas_load(&schemas, &err) != 0 ||
      sb_codec_new(schemas, &codec, &err) != 0) {
    sb_log(SB_LOG_ERROR, "hub", "cannot load the schemas; no live feed",
           SB_F_STR("error", err.msg), SB_F_END);
    sb_schemas_free(schemas);
    return NULL;
  }
  long long last_warn = 0;
  while (!atomic_load(&h->stop)) {
    sb_tail_rec_t rec;
    sb_err_t rerr = SB_ERR_INIT;
    int got = sb_tail_next(h->feed, 100, &rec, &rerr);
    if (got < 0) {
      long long now = sb_now_ms();
      if (now - last_warn > 10000) {
        last_warn = now;
        sb_log(SB_LOG_WARN, "hub", "reading Kafka",
               SB_F_STR("error", rerr.msg), SB_F_END);
      }
      continue;
    }
    if (got == 0)
      continue;
    int topic = topic_index(rec.topic);
    int history = topic >= 0 ? rec.history : 0;
    /* with nobody to send to, only what says who owns a call or a lead is
     * worth decoding (the bulk of the work); history is only that */
    msg_t *m = topic >= 0 && (tells_owner(&rec) ||
                              (!history && atomic_load(&h->clients) > 0))
                   ? msg_of(h, codec, topic, &rec)
                   : NULL;
    if (m != NULL)
      m->history = history;
    atomic_fetch_add(&h->events, 1);
    if (m == NULL)
      continue;
    pthread_mutex_lock(&h->lock);
    while (h->queued >= HANDOFF_MAX && !atomic_load(&h->stop))
      pthread_cond_wait(&h->room, &h->lock); /* the loop is behind: wait */
    if (h->tail)
      h->tail->next = m;
    else
      h->head = m;
    h->tail = m;
    h->queued++;
    pthread_mutex_unlock(&h->lock);
    uv_async_send(&h->wake);
  }
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  return NULL;
}

/* Reads every partition of the domain topics from its end; those that
 * tell ownership (calls, leads) from hub.ownership_history_seconds back,
 * what lies before the hub started read once, for ownership only. A
 * partition whose history cannot be found starts at its end, as the
 * others do (logged). */
static int consumer_start(sb_hub_t *h, sb_err_t *err) {
  sb_tail_topic_t topics[16];
  size_t n = 0;
  int64_t since = sb_time_now_micros() / 1000 -
                  (int64_t)h->c->hub_ownership_history_s * 1000;
  for (size_t i = 0; i < sb_topics_n && n < SB_ARRAY_LEN(topics); i++) {
    if (topic_index(sb_topics[i]) < 0)
      continue;
    int owners = strcmp(sb_topics[i], SB_TOPIC_CALLS) == 0 ||
                 strcmp(sb_topics[i], SB_TOPIC_LEADS) == 0;
    topics[n++] = (sb_tail_topic_t){
        sb_topics[i],
        owners && h->c->hub_ownership_history_s > 0 ? SB_TAIL_TIME
                                                    : SB_TAIL_END,
        since};
  }
  sb_err_t warn = SB_ERR_INIT;
  int rc = sb_tail_open(h->c, "hub", topics, n, &h->feed, &warn, err);
  if (rc != 0)
    return rc;
  if (warn.code != 0)
    sb_log(SB_LOG_WARN, "hub", "cannot find where the ownership history "
                               "starts; agents' calls and leads are learnt "
                               "from now on",
           SB_F_STR("error", warn.msg), SB_F_END);
  if (sb_tail_partitions(h->feed) == 0)
    sb_log(SB_LOG_WARN, "hub", "no domain topics on the brokers yet; the live "
                               "feed stays empty until a restart",
           SB_F_END);
  return 0;
}

/* ---- clients ------------------------------------------------------------ */

static tenant_t *tenant_get(sb_hub_t *h, const char *name, int create) {
  tenant_t **b = &h->tenants[hash2(name, "") % TENANT_BUCKETS];
  for (tenant_t *t = *b; t; t = t->next)
    if (strcmp(t->name, name) == 0)
      return t;
  if (!create)
    return NULL;
  tenant_t *t = calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  snprintf(t->name, sizeof t->name, "%s", name);
  t->next = *b;
  *b = t;
  return t;
}

/* Sends a close frame and lets the connection go, however the client
 * behaves. */
static void client_close(client_t *c, uint16_t code, const char *reason,
                         int linger_ms) {
  if (c->closing)
    return;
  c->closing = 1;
  wslay_event_queue_close(c->ws, code, (const uint8_t *)reason,
                          strlen(reason) < 123 ? strlen(reason) : 122);
  wslay_event_send(c->ws);
  if (c->conn)
    sb_http_conn_close(c->conn, linger_ms);
}

/* Every byte the server holds for a client: written and not taken by its
 * kernel (with each write's bookkeeping), and queued in wslay (events,
 * replies, pongs). */
static size_t client_queued(const client_t *c) {
  return (c->conn ? sb_http_conn_queued(c->conn) : 0) +
         wslay_event_get_queued_msg_length(c->ws);
}

/* 1 when n more bytes fit in the client's send queue, the room for its
 * close frame kept. */
static int client_room(const client_t *c, size_t n) {
  return client_queued(c) + n + CLOSE_RESERVE <= c->hub->send_queue_bytes;
}

/* A client whose send queue is full, whatever filled it (events it does
 * not read, replies to its own messages, pongs): told why, nothing more
 * read from it, dropped, counted. */
static void client_too_slow(client_t *c) {
  if (c->closing)
    return;
  atomic_fetch_add(&c->hub->dropped_slow, 1);
  sb_log(SB_LOG_WARN, "hub", "closing a client that does not keep up",
         SB_F_STR("tenant", c->who.tenant), SB_F_STR("sub", c->who.sub),
         SB_F_STR("ip", c->ip),
         SB_F_INT("queued_bytes", (long long)client_queued(c)), SB_F_END);
  if (c->conn)
    sb_http_conn_hold(c->conn);
  client_close(c, WSLAY_CODE_POLICY_VIOLATION,
               "too slow: the send queue is full; read what the server sends "
               "or subscribe to less",
               SLOW_LINGER_MS);
}

/* Queues a text message, within the client's send queue: 0, or -1 when
 * there was no room (the client is then closed as too slow) or it is
 * closing. */
static int client_send_text(client_t *c, const char *text, size_t len) {
  if (c->closing)
    return -1;
  if (!client_room(c, len + FRAME_COST)) {
    client_too_slow(c);
    return -1;
  }
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
  if (wslay_event_queue_msg(c->ws, &m) != 0)
    return -1;
  wslay_event_send(c->ws);
  return 0;
}

static void client_send_json(client_t *c, cJSON *o) {
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (text) {
    client_send_text(c, text, strlen(text));
    cJSON_free(text);
  }
}

static void client_error(client_t *c, const char *code, const char *message) {
  cJSON *o = cJSON_CreateObject();
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddStringToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", message);
  client_send_json(c, o);
}

static void clear_subscription(client_t *c) {
  for (int i = 0; i < c->ntypes; i++)
    free(c->types[i]);
  c->ntypes = 0;
  c->topics = 0;
  c->subject[0] = '\0';
  c->subscribed = 0;
}

/* {"subscribe": {"topics": [...], "types": [...], "subject": "..."}} */
static void on_command(client_t *c, const char *text, size_t len) {
  cJSON *doc = NULL;
  sb_err_t err = SB_ERR_INIT;
  if (sb_json_parse(text, len, &doc, &err) != 0) {
    client_error(c, "malformed_json", err.msg);
    return;
  }
  cJSON *sub = cJSON_GetObjectItemCaseSensitive(doc, "subscribe");
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "unsubscribe"))) {
    clear_subscription(c);
    client_send_json(c, cJSON_Parse("{\"unsubscribed\":true}"));
    cJSON_Delete(doc);
    return;
  }
  if (!cJSON_IsObject(sub)) {
    client_error(c, "unknown_command",
                 "send {\"subscribe\": {\"topics\": [\"sb.calls\"], "
                 "\"types\": [\"call.*\"], \"subject\": \"agent-7\"}}");
    cJSON_Delete(doc);
    return;
  }
  char msg[300] = "";
  unsigned topics = 0;
  char *types[MAX_TYPES];
  int ntypes = 0;
  cJSON *it;
  cJSON_ArrayForEach(it, sub) {
    if (strcmp(it->string, "topics") != 0 && strcmp(it->string, "types") != 0 &&
        strcmp(it->string, "subject") != 0) {
      snprintf(msg, sizeof msg,
               "subscribe.%.40s: unknown; use topics, types, subject",
               it->string);
      break;
    }
  }
  cJSON *jt = cJSON_GetObjectItemCaseSensitive(sub, "topics");
  if (!*msg && (!cJSON_IsArray(jt) || cJSON_GetArraySize(jt) == 0))
    snprintf(msg, sizeof msg, "subscribe.topics: a non-empty array of topic "
                              "names is required, e.g. [\"sb.calls\"]");
  int i = 0;
  if (!*msg)
    cJSON_ArrayForEach(it, jt) {
      int ti = cJSON_IsString(it) ? topic_index(it->valuestring) : -1;
      if (ti < 0) {
        snprintf(msg, sizeof msg,
                 "subscribe.topics[%d]: not a topic of the live feed "
                 "(sb.leads, sb.calls, sb.agents, sb.messages, sb.campaigns, "
                 "sb.compliance, sb.gamification)", i);
        break;
      }
      if (!sb_auth_allows(c->who.role, SB_PERM_SUBSCRIBE, it->valuestring)) {
        snprintf(msg, sizeof msg, "subscribe.topics[%d]: role %s may not "
                                  "subscribe to %s",
                 i, sb_role_name(c->who.role), it->valuestring);
        if (c->hub->security)
          sb_ingest_record_security(c->hub->security, &c->from,
                                  "security.access_denied", c->who.tenant,
                                  c->who.sub, "insufficient_role", "topic");
        break;
      }
      topics |= 1u << ti;
      i++;
    }
  cJSON *jy = cJSON_GetObjectItemCaseSensitive(sub, "types");
  if (!*msg && jy != NULL &&
      (!cJSON_IsArray(jy) || cJSON_GetArraySize(jy) > MAX_TYPES))
    snprintf(msg, sizeof msg, "subscribe.types: an array of at most %d type "
                              "patterns (\"call.*\", \"lead.created\")",
             MAX_TYPES);
  i = 0;
  if (!*msg && jy != NULL)
    cJSON_ArrayForEach(it, jy) {
      const char *p = cJSON_IsString(it) ? it->valuestring : NULL;
      size_t n = p ? strlen(p) : 0;
      int ok = n > 0 && n <= 64;
      for (size_t k = 0; ok && k < n; k++)
        ok = (p[k] >= 'a' && p[k] <= 'z') || p[k] == '_' || p[k] == '.' ||
             (p[k] == '*' && k == n - 1);
      if (!ok) {
        snprintf(msg, sizeof msg,
                 "subscribe.types[%d]: not a type pattern (an event type, "
                 "a prefix ending in \".*\", or \"*\")", i);
        break;
      }
      if ((types[ntypes] = strdup(p)) == NULL) {
        snprintf(msg, sizeof msg, "out of memory");
        break;
      }
      ntypes++;
      i++;
    }
  cJSON *js = cJSON_GetObjectItemCaseSensitive(sub, "subject");
  if (!*msg && js != NULL &&
      (!cJSON_IsString(js) || !sb_auth_sub_valid(js->valuestring)))
    snprintf(msg, sizeof msg, "subscribe.subject: a string of 1 to %d "
                              "printable characters", SB_AUTH_SUB_MAX);
  if (*msg) {
    for (int k = 0; k < ntypes; k++)
      free(types[k]);
    client_error(c, "bad_subscription", msg);
    cJSON_Delete(doc);
    return;
  }
  clear_subscription(c);
  c->topics = topics;
  memcpy(c->types, types, sizeof(char *) * (size_t)ntypes);
  c->ntypes = ntypes;
  if (js)
    snprintf(c->subject, sizeof c->subject, "%s", js->valuestring);
  c->subscribed = 1;
  cJSON *ack = cJSON_CreateObject();
  cJSON_AddItemToObject(ack, "subscribed", cJSON_Duplicate(sub, 1));
  client_send_json(c, ack);
  cJSON_Delete(doc);
}

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *ud) {
  (void)flags;
  client_t *c = ud;
  /* nothing more, or no room for what more would make us reply (its queue
   * full: on_data closes it) */
  if (c->in_len == 0 || c->closing ||
      !client_room(c, FRAME_COST)) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < c->in_len ? len : c->in_len;
  memcpy(buf, c->in, n);
  c->in += n;
  c->in_len -= n;
  return (ssize_t)n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data,
                       size_t len, int flags, void *ud) {
  (void)flags;
  client_t *c = ud;
  if (c->conn == NULL) /* sb_hub_feed: nobody to send to */
    return (ssize_t)len;
  if (sb_http_conn_write(c->conn, (const char *)data, len) != 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static void ws_msg(wslay_event_context_ptr ctx,
                   const struct wslay_event_on_msg_recv_arg *arg, void *ud) {
  (void)ctx;
  client_t *c = ud;
  if (c->closing)
    return;
  if (arg->opcode == WSLAY_TEXT_FRAME)
    on_command(c, (const char *)arg->msg, arg->msg_length);
  else if (arg->opcode == WSLAY_BINARY_FRAME)
    client_error(c, "unsupported", "commands are JSON text messages");
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv,
    .send_callback = ws_send,
    .on_msg_recv_callback = ws_msg,
};

/* wslay drops the connection without a close frame on some protocol
 * errors it finds in a frame's header (RFC 6455 wants 1002 for each): a
 * fragmented control frame, one longer than 125 bytes, a 64-bit length
 * with its top bit set, a length not in its shortest form. So the client's
 * bytes pass here first, headers checked across reads: returns how many
 * of them come before the first bad header (len when none) and *why. */
static size_t frames_ok(client_t *c, const uint8_t *d, size_t len,
                        const char **why) {
  size_t i = 0, at = 0; /* at: where the header being read began */
  *why = NULL;
  while (i < len) {
    if (c->fskip > 0) { /* payload: wslay's business */
      size_t n = c->fskip < len - i ? (size_t)c->fskip : len - i;
      i += n;
      c->fskip -= n;
      continue;
    }
    if (c->fh_len == 0)
      at = i;
    c->fh[c->fh_len++] = d[i++];
    if (c->fh_len < 2)
      continue;
    unsigned len7 = c->fh[1] & 0x7fu;
    if ((c->fh[0] & 0x08u) && !(c->fh[0] & 0x80u))
      *why = "a control frame must not be fragmented";
    else if ((c->fh[0] & 0x08u) && len7 > 125)
      *why = "a control frame carries at most 125 bytes";
    size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
                  ((c->fh[1] & 0x80u) ? 4 : 0);
    if (*why == NULL && len7 == 127 && c->fh_len >= 3 && (c->fh[2] & 0x80u))
      *why = "a 64-bit frame length must have its top bit clear";
    if (*why != NULL)
      return at;
    if (c->fh_len < need)
      continue;
    uint64_t n = len7;
    if (len7 >= 126) {
      n = 0;
      for (size_t k = 0; k < (len7 == 126 ? 2u : 8u); k++)
        n = n << 8 | c->fh[2 + k];
      if ((len7 == 126 && n < 126) || (len7 == 127 && n < 65536)) {
        *why = "a frame length must be in its shortest form";
        return at;
      }
    }
    c->fskip = n;
    c->fh_len = 0;
  }
  return len;
}

static void on_data(void *ud, const char *data, size_t len) {
  client_t *c = ud;
  if (c->closing)
    return;
  const char *bad = NULL;
  size_t ok = frames_ok(c, (const uint8_t *)data, len, &bad);
  /* in slices, each one's replies sent before the next: a read of tiny
   * frames never queues more than a slice's worth at once */
  size_t off = 0, left = 0;
  int rc = 0;
  while (off < ok && !c->closing) {
    size_t n = ok - off < RECV_SLICE ? ok - off : RECV_SLICE;
    c->in = data + off;
    c->in_len = n;
    rc = wslay_event_recv(c->ws);
    left = c->in_len;
    off += n - left;
    c->in = NULL;
    c->in_len = 0;
    if (rc != 0)
      break;
    wslay_event_send(c->ws);
    if (!wslay_event_want_read(c->ws) || left > 0)
      break; /* wslay is done with it, or its queue is full */
  }
  if (rc != 0) { /* out of memory or the connection failed */
    c->closing = 1;
    if (c->conn)
      sb_http_conn_close(c->conn, 0);
    return;
  }
  if (c->closing)
    return;
  if (left > 0 && wslay_event_want_read(c->ws)) {
    /* it sends more than it reads of what it is sent: no more is read */
    client_too_slow(c);
    return;
  }
  if (bad != NULL && wslay_event_want_read(c->ws)) {
    atomic_fetch_add(&c->hub->closed_protocol, 1);
    client_close(c, WSLAY_CODE_PROTOCOL_ERROR, bad, CLOSE_LINGER_MS);
    return;
  }
  if (!wslay_event_want_read(c->ws)) {
    /* the client closed, or broke the protocol (wslay queued the close:
     * 1002 bad framing, 1007 bad UTF-8, 1009 too big) */
    uint16_t sent = wslay_event_get_status_code_sent(c->ws);
    if (!wslay_event_get_close_received(c->ws) || sent != WSLAY_CODE_NORMAL_CLOSURE)
      if (sent != WSLAY_CODE_NORMAL_CLOSURE && sent != WSLAY_CODE_NO_STATUS_RCVD)
        atomic_fetch_add(&c->hub->closed_protocol, 1);
    c->closing = 1;
    if (c->conn)
      sb_http_conn_close(c->conn, CLOSE_LINGER_MS);
  }
}

static void on_gone(void *ud) {
  client_t *c = ud;
  sb_hub_t *h = c->hub;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->tenant->clients = c->next;
  if (c->next)
    c->next->prev = c->prev;
  clear_subscription(c);
  wslay_event_context_free(c->ws);
  free(c);
  atomic_fetch_sub(&h->clients, 1);
}

static const sb_http_upgrade_cb_t upgrade_cb = {on_data, on_gone};

/* The header value holds token (comma-separated, case-insensitive). */
static int header_has(const char *value, const char *token) {
  size_t n = strlen(token);
  for (const char *p = value; p && *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *e = p;
    while (*e && *e != ',')
      e++;
    const char *t = e;
    while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
      t--;
    if ((size_t)(t - p) == n && strncasecmp(p, token, n) == 0)
      return 1;
    p = e;
  }
  return 0;
}

/* token=... from the query string (JWTs need no unescaping). */
static int query_token(const char *q, char *out, size_t cap) {
  for (const char *p = q; p && *p;) {
    const char *e = strchr(p, '&');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n > 6 && strncmp(p, "token=", 6) == 0) {
      if (n - 6 >= cap)
        return -1;
      memcpy(out, p + 6, n - 6);
      out[n - 6] = '\0';
      return 0;
    }
    p = e ? e + 1 : NULL;
  }
  return -1;
}

void sb_hub_accept(sb_http_req_t *r, sb_hub_t *h) {
  static const char need[] = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  if (h->stopping) {
    sb_http_error(r, 503, "stopping", "the server is stopping; reconnect",
                  "Retry-After: 1\r\n");
    return;
  }
  const char *up = sb_http_header(r, "Upgrade");
  if (!sb_http_wants_upgrade(r) || !header_has(up, "websocket") ||
      !header_has(sb_http_header(r, "Connection"), "upgrade")) {
    sb_http_error(r, 426, "upgrade_required",
                  "this is a WebSocket endpoint: connect with a WebSocket "
                  "client (Upgrade: websocket)",
                  need);
    return;
  }
  const char *ver = sb_http_header(r, "Sec-WebSocket-Version");
  if (ver == NULL || strcmp(ver, "13") != 0) {
    sb_http_error(r, 426, "unsupported_version",
                  "only WebSocket version 13 (RFC 6455) is spoken", need);
    return;
  }
  char accept[29];
  if (sb_ws_accept_key(sb_http_header(r, "Sec-WebSocket-Key"), accept) != 0) {
    sb_http_error(r, 400, "bad_handshake",
                  "Sec-WebSocket-Key must be the base64 of 16 random bytes",
                  NULL);
    return;
  }
  /* who: Authorization: Bearer <token>, or ?token=<token> for browsers */
  const char *auth = sb_http_header(r, "Authorization");
  char qtok[SB_JWT_MAX + 1];
  const char *token =
      auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7
      : query_token(sb_http_query(r), qtok, sizeof qtok) == 0 ? qtok
                                                                 : NULL;
  sb_claims_t who;
  if (sb_ingest_authenticate(h->security, r, token, &who) != 0)
    return;
  if (atomic_load(&h->clients) >= (uint64_t)h->max_clients) {
    sb_http_error(r, 503, "too_many_clients",
                  "the hub has as many clients as hub.max_clients allows",
                  "Retry-After: 5\r\n");
    return;
  }
  tenant_t *t = tenant_get(h, who.tenant, 1);
  client_t *c = calloc(1, sizeof *c);
  if (t == NULL || c == NULL ||
      wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0) {
    free(c);
    sb_http_error(r, 500, "internal", "out of memory", NULL);
    return;
  }
  wslay_event_config_set_max_recv_msg_length(c->ws, h->max_message);
  c->hub = h;
  c->who = who;
  c->sub_hash = hash2(who.tenant, who.sub);
  snprintf(c->ip, sizeof c->ip, "%s", sb_http_peer(r));
  const char *ua = sb_http_header(r, "User-Agent");
  snprintf(c->ua, sizeof c->ua, "%s", ua ? ua : "");
  c->from = (sb_client_info_t){c->ip, ua ? c->ua : NULL, "GET", "/v1/stream"};
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
  c->conn = sb_http_upgrade(r, head, (size_t)n, &upgrade_cb, c);
  if (c->conn == NULL) {
    wslay_event_context_free(c->ws);
    free(c);
    sb_http_error(r, 400, "bad_handshake",
                  "send the upgrade request alone, without pipelining", NULL);
    return;
  }
  /* the kernel holds a bounded amount too, not megabytes of autotuning */
  sb_http_conn_sndbuf(c->conn, (int)(h->send_queue_bytes < 262144
                                         ? h->send_queue_bytes
                                         : 262144));
  c->tenant = t;
  c->next = t->clients;
  if (t->clients)
    t->clients->prev = c;
  t->clients = c;
  atomic_fetch_add(&h->clients, 1);
  atomic_fetch_add(&h->connections, 1);
  /* say who it is and what it may subscribe to */
  cJSON *o = cJSON_CreateObject();
  cJSON *w = cJSON_AddObjectToObject(o, "welcome");
  cJSON_AddStringToObject(w, "tenant", who.tenant);
  cJSON_AddStringToObject(w, "role", sb_role_name(who.role));
  cJSON_AddStringToObject(w, "sub", who.sub);
  cJSON *topics = cJSON_AddArrayToObject(w, "topics");
  for (size_t i = 0; i < sb_topics_n; i++)
    if (topic_index(sb_topics[i]) >= 0 &&
        sb_auth_allows(who.role, SB_PERM_SUBSCRIBE, sb_topics[i]))
      cJSON_AddItemToArray(topics, cJSON_CreateString(sb_topics[i]));
  client_send_json(c, o);
}

/* ---- fan-out ------------------------------------------------------------ */

static owner_t *owner_slot(sb_hub_t *h, uint64_t entity, int for_write) {
  size_t base = (size_t)(entity & (OWNER_SLOTS - 1));
  owner_t *free_slot = NULL;
  for (size_t k = 0; k < OWNER_PROBE; k++) {
    owner_t *o = &h->owners[(base + k) & (OWNER_SLOTS - 1)];
    if (o->entity == entity)
      return o;
    if (o->entity == 0 && free_slot == NULL)
      free_slot = o;
  }
  if (!for_write)
    return NULL;
  /* full run: the newest assignment wins over an arbitrary old one */
  return free_slot ? free_slot : &h->owners[(base + (entity >> 32) % OWNER_PROBE) &
                                            (OWNER_SLOTS - 1)];
}

/* Learns which agent a lead or a call belongs to. */
static void learn_owner(sb_hub_t *h, const msg_t *m) {
  if (!owner_type(m->type, strlen(m->type)))
    return;
  const char *agent = strcmp(m->type, "call.transferred") == 0
                          ? m->agents[2] /* target_agent_id */
                          : m->agents[0];
  if (agent == NULL)
    return;
  const char *entities[] = {m->lead_id, m->call_id};
  for (size_t i = 0; i < 2; i++) {
    if (entities[i] == NULL)
      continue;
    uint64_t e = hash2(m->tenant, entities[i]);
    owner_t *o = owner_slot(h, e, 1);
    o->entity = e;
    o->agent = hash2(m->tenant, agent);
  }
}

int sb_hub_owner_of(void *hub, const char *tenant, const char *entity,
                    const char *agent) {
  sb_hub_t *h = hub;
  if (h == NULL || h->owners == NULL)
    return -1;
  owner_t *o = owner_slot(h, hash2(tenant, entity), 0);
  if (o == NULL)
    return -1;
  return o->agent == hash2(tenant, agent) ? 1 : 0;
}

static int owned_by(sb_hub_t *h, const msg_t *m, uint64_t agent) {
  const char *entities[] = {m->lead_id, m->call_id, m->subject};
  for (size_t i = 0; i < 3; i++) {
    if (entities[i] == NULL)
      continue;
    owner_t *o = owner_slot(h, hash2(m->tenant, entities[i]), 0);
    if (o && o->agent == agent)
      return 1;
  }
  return 0;
}

/* Names the agent directly: its own agent.* events, or an agent field. */
static int names_agent(const msg_t *m, const char *sub) {
  if (m->topic >= 0 && strcmp(sb_topics[m->topic], SB_TOPIC_AGENTS) == 0 &&
      m->subject && strcmp(m->subject, sub) == 0)
    return 1;
  for (int i = 0; i < NAGENTS; i++)
    if (m->agents[i] && strcmp(m->agents[i], sub) == 0)
      return 1;
  return 0;
}

static int wants(client_t *c, const msg_t *m) {
  if (!c->subscribed || c->closing || !(c->topics & (1u << m->topic)))
    return 0;
  if (c->ntypes > 0) {
    int any = 0;
    for (int i = 0; i < c->ntypes && !any; i++)
      any = sb_hub_type_match(c->types[i], m->type);
    if (!any)
      return 0;
  }
  if (c->subject[0] && !(m->subject && strcmp(m->subject, c->subject) == 0) &&
      !names_agent(m, c->subject))
    return 0;
  if (c->who.role == SB_ROLE_AGENT)
    return names_agent(m, c->who.sub) || owned_by(c->hub, m, c->sub_hash);
  return 1;
}

static void deliver(sb_hub_t *h, const msg_t *m) {
  learn_owner(h, m);
  if (m->history)
    return;
  tenant_t *t = tenant_get(h, m->tenant, 0);
  if (t == NULL)
    return;
  for (client_t *c = t->clients; c; c = c->next) {
    if (!wants(c, m))
      continue;
    if (client_send_text(c, m->json, m->json_len) == 0)
      atomic_fetch_add(&h->messages, 1);
  }
}

static void on_wake(uv_async_t *a) {
  sb_hub_t *h = a->data;
  pthread_mutex_lock(&h->lock);
  msg_t *m = h->head;
  h->head = h->tail = NULL;
  h->queued = 0;
  pthread_cond_signal(&h->room);
  pthread_mutex_unlock(&h->lock);
  while (m) {
    msg_t *next = m->next;
    if (!h->stopping)
      deliver(h, m);
    msg_free(m);
    m = next;
  }
}

static void on_sweep(uv_timer_t *t) {
  sb_hub_t *h = t->data;
  int64_t now = (int64_t)time(NULL);
  for (size_t b = 0; b < TENANT_BUCKETS; b++)
    for (tenant_t *tn = h->tenants[b]; tn; tn = tn->next)
      for (client_t *c = tn->clients; c; c = c->next)
        if (!c->closing && c->who.exp <= now) {
          atomic_fetch_add(&h->closed_expired, 1);
          client_close(c, WSLAY_CODE_POLICY_VIOLATION,
                       "token expired; reconnect with a new token",
                       CLOSE_LINGER_MS);
        }
}

/* ---- life --------------------------------------------------------------- */

int sb_hub_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t *security,
               sb_hub_t **out, sb_err_t *err) {
  *out = NULL;
  sb_hub_t *h = calloc(1, sizeof *h);
  if (h == NULL || (h->owners = calloc(OWNER_SLOTS, sizeof *h->owners)) == NULL) {
    free(h);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  h->loop = loop;
  h->c = c;
  h->security = security;
  h->send_queue_bytes = (size_t)c->hub_send_queue_bytes;
  h->max_message = (size_t)c->hub_max_message;
  h->max_clients = c->hub_max_clients;
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->room, NULL);
  uv_async_init(loop, &h->wake, on_wake);
  h->wake.data = h;
  uv_timer_init(loop, &h->sweep);
  h->sweep.data = h;
  uv_timer_start(&h->sweep, on_sweep, 1000, 1000);
  *out = h; /* the handles close with sb_hub_stop */
  int rc = consumer_start(h, err);
  if (rc == 0 && pthread_create(&h->thread, NULL, consume, h) == 0)
    h->thread_started = 1;
  else if (rc == 0)
    rc = sb_err_set(err, SB_EINTERNAL, "hub: cannot start a thread");
  return rc;
}

void sb_hub_snapshot(sb_hub_t *h, sb_hub_stats_t *o) {
  o->clients = atomic_load(&h->clients);
  o->connections = atomic_load(&h->connections);
  o->events = atomic_load(&h->events);
  o->messages = atomic_load(&h->messages);
  o->dropped_slow = atomic_load(&h->dropped_slow);
  o->closed_protocol = atomic_load(&h->closed_protocol);
  o->closed_expired = atomic_load(&h->closed_expired);
  o->decode_errors = atomic_load(&h->decode_errors);
}

void sb_hub_metrics(sb_hub_t *h, sb_text_t *t) {
  if (h == NULL)
    return;
  sb_hub_stats_t s;
  sb_hub_snapshot(h, &s);
  const struct {
    const char *name, *type, *help;
    uint64_t value;
  } plain[] = {
      {"switchboard_ws_clients", "gauge", "WebSocket clients connected.",
       s.clients},
      {"switchboard_ws_connections_total", "counter",
       "WebSocket clients accepted.", s.connections},
      {"switchboard_ws_events_total", "counter",
       "Events the hub read from Kafka.", s.events},
      {"switchboard_ws_messages_total", "counter",
       "Event messages sent to WebSocket clients.", s.messages},
      {"switchboard_ws_decode_errors_total", "counter",
       "Records the hub could not decode.", s.decode_errors},
  };
  for (size_t i = 0; i < SB_ARRAY_LEN(plain); i++) {
    sb_metric_head(t, plain[i].name, plain[i].type, plain[i].help);
    sb_text_add(t, "%s %llu\n", plain[i].name,
                (unsigned long long)plain[i].value);
  }
  sb_metric_head(t, "switchboard_ws_closed_total", "counter",
                 "WebSocket clients the hub closed, by reason.");
  sb_text_add(t,
              "switchboard_ws_closed_total{reason=\"slow\"} %llu\n"
              "switchboard_ws_closed_total{reason=\"protocol\"} %llu\n"
              "switchboard_ws_closed_total{reason=\"token_expired\"} %llu\n",
              (unsigned long long)s.dropped_slow,
              (unsigned long long)s.closed_protocol,
              (unsigned long long)s.closed_expired);
}

void sb_hub_stop(sb_hub_t *h) {
  if (h == NULL || h->stopping)
    return;
  h->stopping = 1;
  for (size_t b = 0; b < TENANT_BUCKETS; b++)
    for (tenant_t *t = h->tenants[b]; t; t = t->next)
      for (client_t *c = t->clients; c; c = c->next)
        client_close(c, WSLAY_CODE_GOING_AWAY, "the server is stopping",
                     CLOSE_LINGER_MS);
  atomic_store(&h->stop, 1);
  pthread_mutex_lock(&h->lock);
  pthread_cond_signal(&h->room);
  pthread_mutex_unlock(&h->lock);
  if (h->thread_started) {
    pthread_join(h->thread, NULL);
    h->thread_started = 0;
  }
  uv_timer_stop(&h->sweep);
  uv_close((uv_handle_t *)&h->sweep, NULL);
  uv_close((uv_handle_t *)&h->wake, NULL);
}

void sb_hub_free(sb_hub_t *h) {
  if (h == NULL)
    return;
  sb_tail_close(h->feed);
  for (msg_t *m = h->head, *n; m; m = n) {
    n = m->next;
    msg_free(m);
  }
  for (size_t b = 0; b < TENANT_BUCKETS; b++)
    for (tenant_t *t = h->tenants[b], *n; t; t = n) {
      n = t->next;
      free(t); /* clients are gone with their connections */
    }
  pthread_mutex_destroy(&h->lock);
  pthread_cond_destroy(&h->room);
  free(h->owners);
  free(h);
}

/* ---- fuzzing ------------------------------------------------------------ */

int sb_hub_feed(const uint8_t *data, size_t len) {
  /* a hub without loop, Kafka or sockets; one client whose bytes are data:
   * byte 0 picks the role, byte 1 where the input is split in two reads */
  if (len < 2)
    return 0;
  sb_hub_t h;
  memset(&h, 0, sizeof h);
  h.max_message = 4096;
  h.send_queue_bytes = 1 << 20;
  client_t *c = calloc(1, sizeof *c);
  if (c == NULL || wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0) {
    free(c);
    return 0;
  }
  wslay_event_config_set_max_recv_msg_length(c->ws, h.max_message);
  c->hub = &h;
  c->who.role = (sb_role_t)(data[0] % SB_ROLE_COUNT);
  snprintf(c->who.tenant, sizeof c->who.tenant, "acme");
  snprintf(c->who.sub, sizeof c->who.sub, "agent-7");
  c->sub_hash = hash2("acme", "agent-7");
  size_t split = len > 2 ? 2 + data[1] % (len - 2) : 2;
  on_data(c, (const char *)data + 2, split - 2);
  if (!c->closing)
    on_data(c, (const char *)data + split, len - split);
  /* whatever was subscribed filters a few events */
  static const char *const types[] = {"call.started", "lead.updated",
                                      "agent.state_changed"};
  for (int t = 0; t < 3; t++) {
    msg_t m = {.topic = t % 3, .tenant = "acme", .type = (char *)types[t],
               .subject = "agent-7", .lead_id = "lead-1"};
    m.agents[0] = t == 0 ? "agent-7" : NULL;
    (void)names_agent(&m, c->who.sub);
    if (c->subscribed && !c->closing)
      (void)(c->who.role == SB_ROLE_AGENT ? names_agent(&m, c->who.sub)
                                          : wants(c, &m));
  }
  clear_subscription(c);
  wslay_event_context_free(c->ws);
  free(c);
  return 0;
}
