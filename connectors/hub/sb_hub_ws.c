/* A client's WebSocket session: handshake, frames and commands in, close;
 * and the fuzz target that drives it without a socket. */
#include "sb_hub_int.h"

#include "sb_topics.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *ud) {
  (void)flags;
  client_t *c = ud;
  /* nothing more, or no room for what more would make us reply (its queue
   * full: on_data closes it) */
  if (c->in_len == 0 || c->closing ||
      !sb__hub_client_room(c, FRAME_COST)) {
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
    sb__hub_on_command(c, (const char *)arg->msg, arg->msg_length);
  else if (arg->opcode == WSLAY_BINARY_FRAME)
    sb__hub_client_error(c, "unsupported", "commands are JSON text messages");
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
    sb__hub_client_too_slow(c);
    return;
  }
  if (bad != NULL && wslay_event_want_read(c->ws)) {
    atomic_fetch_add(&c->hub->closed_protocol, 1);
    sb__hub_client_close(c, WSLAY_CODE_PROTOCOL_ERROR, bad, CLOSE_LINGER_MS);
    return;
  }
  if (!wslay_event_want_read(c->ws)) {
    /* the client closed, or broke the protocol (wslay queued the close:
     * 1002 bad framing, 1007 bad UTF-8, 1009 too big) */
    uint16_t sent = wslay_event_get_status_code_sent(c->ws);
    if (!wslay_event_get_close_received(c->ws) ||
        sent != WSLAY_CODE_NORMAL_CLOSURE)
      if (sent != WSLAY_CODE_NORMAL_CLOSURE &&
          sent != WSLAY_CODE_NO_STATUS_RCVD)
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
  sb__hub_forget_grant(c);
  sb__hub_clear_subscription(c);
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
  static const char need[] =
      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
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
  tenant_t *t = sb__hub_tenant_get(h, who.tenant, 1);
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
  c->sub_hash = sb__hub_hash2(who.tenant, who.sub);
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
    if (sb__hub_topic_index(sb_topics[i]) >= 0 &&
        sb_auth_allows(who.role, SB_PERM_SUBSCRIBE, sb_topics[i]))
      cJSON_AddItemToArray(topics, cJSON_CreateString(sb_topics[i]));
  sb__hub_client_send_json(c, o);
}

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
  if (c == NULL ||
      wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0) {
    free(c);
    return 0;
  }
  wslay_event_config_set_max_recv_msg_length(c->ws, h.max_message);
  c->hub = &h;
  c->who.role = (sb_role_t)(data[0] % SB_ROLE_COUNT);
  snprintf(c->who.tenant, sizeof c->who.tenant, "acme");
  snprintf(c->who.sub, sizeof c->who.sub, "agent-7");
  c->sub_hash = sb__hub_hash2("acme", "agent-7");
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
    (void)sb__hub_names_agent(&m, c->who.sub);
    if (c->subscribed && !c->closing)
      (void)(c->who.role == SB_ROLE_AGENT ? sb__hub_names_agent(&m, c->who.sub)
                                          : sb__hub_wants(c, &m));
  }
  sb__hub_clear_subscription(c);
  wslay_event_context_free(c->ws);
  free(c);
  return 0;
}
