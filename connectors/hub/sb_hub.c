/* The hub's life: start, stop, metrics; tenants; expired tokens. */
#include "sb_hub_int.h"

#include "sb_topics.h"
#include "sb_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int sb__hub_topic_index(const char *name) {
  for (size_t i = 0; i < sb_topics_n; i++)
    if (strcmp(sb_topics[i], name) == 0 &&
        strcmp(name, SB_TOPIC_DEADLETTER) != 0 &&
        strcmp(name, SB_TOPIC_AUDIT_CHECKPOINTS) != 0)
      return (int)i;
  return -1;
}

tenant_t *sb__hub_tenant_get(sb_hub_t *h, const char *name, int create) {
  tenant_t **b = &h->tenants[sb__hub_hash2(name, "") % TENANT_BUCKETS];
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

static void on_sweep(uv_timer_t *t) {
  sb_hub_t *h = t->data;
  int64_t now = (int64_t)time(NULL);
  for (size_t b = 0; b < TENANT_BUCKETS; b++)
    for (tenant_t *tn = h->tenants[b]; tn; tn = tn->next)
      for (client_t *c = tn->clients; c; c = c->next)
        if (!c->closing && c->who.exp <= now) {
          atomic_fetch_add(&h->closed_expired, 1);
          sb__hub_client_close(c, WSLAY_CODE_POLICY_VIOLATION,
                       "token expired; reconnect with a new token",
                       CLOSE_LINGER_MS);
        } else if (!c->closing && h->security) {
          /* a role revoked or a session ended since it connected */
          sb_err_t err = SB_ERR_INIT;
          if (sb_ingest_recheck(h->security, &c->who,
                                c->by_session ? c->session : NULL,
                                &err) != 0) {
            atomic_fetch_add(&h->closed_revoked, 1);
            sb__hub_client_close(c, WSLAY_CODE_POLICY_VIOLATION,
                                 c->by_session && strstr(err.msg, "session")
                                     ? "session ended; sign in again"
                                     : "role no longer held; reconnect",
                                 CLOSE_LINGER_MS);
          }
        }
}

int sb_hub_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t *security,
               sb_hub_t **out, sb_err_t *err) {
  *out = NULL;
  sb_hub_t *h = calloc(1, sizeof *h);
  if (h == NULL ||
      (h->owners = calloc(OWNER_SLOTS, sizeof *h->owners)) == NULL ||
      (h->members = calloc(TEAM_SLOTS, sizeof *h->members)) == NULL ||
      (h->leads = calloc(TEAM_SLOTS, sizeof *h->leads)) == NULL) {
    if (h != NULL) {
      free(h->owners);
      free(h->members);
    }
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
  uv_async_init(loop, &h->wake, sb__hub_on_wake);
  h->wake.data = h;
  uv_timer_init(loop, &h->sweep);
  h->sweep.data = h;
  uv_timer_start(&h->sweep, on_sweep, 1000, 1000);
  *out = h; /* the handles close with sb_hub_stop */
  int rc = sb__hub_consumer_start(h, err);
  if (rc == 0 && pthread_create(&h->thread, NULL, sb__hub_consume, h) == 0)
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
  o->closed_revoked = atomic_load(&h->closed_revoked);
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
              "switchboard_ws_closed_total{reason=\"token_expired\"} %llu\n"
              "switchboard_ws_closed_total{reason=\"revoked\"} %llu\n",
              (unsigned long long)s.dropped_slow,
              (unsigned long long)s.closed_protocol,
              (unsigned long long)s.closed_expired,
              (unsigned long long)s.closed_revoked);
}

void sb_hub_stop(sb_hub_t *h) {
  if (h == NULL || h->stopping)
    return;
  h->stopping = 1;
  for (size_t b = 0; b < TENANT_BUCKETS; b++)
    for (tenant_t *t = h->tenants[b]; t; t = t->next)
      for (client_t *c = t->clients; c; c = c->next)
        sb__hub_client_close(c, WSLAY_CODE_GOING_AWAY, "the server is stopping",
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
    sb__hub_msg_free(m);
  }
  for (size_t b = 0; b < TENANT_BUCKETS; b++)
    for (tenant_t *t = h->tenants[b], *n; t; t = n) {
      n = t->next;
      free(t); /* clients are gone with their connections */
    }
  pthread_mutex_destroy(&h->lock);
  pthread_cond_destroy(&h->room);
  free(h->owners);
  free(h->members);
  free(h->leads);
  free(h);
}
