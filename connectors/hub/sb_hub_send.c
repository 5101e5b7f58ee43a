/* Fan-out, and each client's bounded send queue. */
#include "sb_hub_int.h"

#include "sb_pii_event.h"

#include "sb_log.h"

#include <string.h>

/* Sends a close frame and lets the connection go, however the client
 * behaves. */
void sb__hub_client_close(client_t *c, uint16_t code, const char *reason,
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
int sb__hub_client_room(const client_t *c, size_t n) {
  return client_queued(c) + n + CLOSE_RESERVE <= c->hub->send_queue_bytes;
}

/* A client whose send queue is full, whatever filled it (events it does
 * not read, replies to its own messages, pongs): told why, nothing more
 * read from it, dropped, counted. */
void sb__hub_client_too_slow(client_t *c) {
  if (c->closing)
    return;
  atomic_fetch_add(&c->hub->dropped_slow, 1);
  sb_log(SB_LOG_WARN, "hub", "closing a client that does not keep up",
         SB_F_STR("tenant", c->who.tenant), SB_F_STR("sub", c->who.sub),
         SB_F_STR("ip", c->ip),
         SB_F_INT("queued_bytes", (long long)client_queued(c)), SB_F_END);
  if (c->conn)
    sb_http_conn_hold(c->conn);
  sb__hub_client_close(c, WSLAY_CODE_POLICY_VIOLATION,
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
  if (!sb__hub_client_room(c, len + FRAME_COST)) {
    sb__hub_client_too_slow(c);
    return -1;
  }
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
  if (wslay_event_queue_msg(c->ws, &m) != 0)
    return -1;
  wslay_event_send(c->ws);
  return 0;
}

void sb__hub_client_send_json(client_t *c, cJSON *o) {
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (text) {
    client_send_text(c, text, strlen(text));
    cJSON_free(text);
  }
}

void sb__hub_client_error(client_t *c, const char *code, const char *message) {
  cJSON *o = cJSON_CreateObject();
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddStringToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", message);
  sb__hub_client_send_json(c, o);
}

static void deliver(sb_hub_t *h, const msg_t *m) {
  sb__hub_learn_owner(h, m);
  sb__hub_learn_team(h, m);
  if (m->history)
    return;
  tenant_t *t = sb__hub_tenant_get(h, m->tenant, 0);
  if (t == NULL)
    return;
  for (client_t *c = t->clients; c; c = c->next) {
    if (!sb__hub_wants(c, m))
      continue;
    /* PII: decrypted for the roles allowed to see it (an agent: for its
     * own leads and calls), masked for the others */
    const char *text = m->json;
    size_t len = m->json_len;
    if (m->json_clear != NULL) {
      int owns = c->who.role == SB_ROLE_AGENT &&
                 sb__hub_owned_by(h, m, c->sub_hash);
      if (sb_pii_view_for(sb_role_name(c->who.role), owns) ==
          SB_PII_VIEW_CLEAR) {
        text = m->json_clear;
        len = m->clear_len;
      } else {
        text = m->json_masked;
        len = m->masked_len;
      }
    }
    if (client_send_text(c, text, len) == 0)
      atomic_fetch_add(&h->messages, 1);
  }
}

void sb__hub_on_wake(uv_async_t *a) {
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
    sb__hub_msg_free(m);
    m = next;
  }
}
