/* The freshness load's WebSocket client: the upgrade, wslay's framing
 * (client mode, masked), the subscription and the events' arrivals. */
#include "sb_load_int.h"

/* ---- the WebSocket client ------------------------------------------------ */

static void ws_write_done(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

/* Writes what the kernel takes now, a copy of the rest later. */
static int ws_write(ws_t *w, const void *data, size_t len) {
  if (!w->handle_open || uv_is_closing((uv_handle_t *)&w->tcp))
    return -1;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int n = uv_try_write((uv_stream_t *)&w->tcp, &b, 1);
  if (n == (int)len)
    return 0;
  if (n < 0 && n != UV_EAGAIN)
    return -1;
  size_t done = n > 0 ? (size_t)n : 0;
  uv_write_t *wr = malloc(sizeof *wr + len - done);
  if (wr == NULL)
    return -1;
  char *copy = (char *)(wr + 1);
  memcpy(copy, (const char *)data + done, len - done);
  b = uv_buf_init(copy, (unsigned)(len - done));
  if (uv_write(wr, (uv_stream_t *)&w->tcp, &b, 1, ws_write_done) != 0) {
    free(wr);
    return -1;
  }
  return 0;
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *ud) {
  (void)flags;
  ws_t *w = ud;
  if (w->in_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < w->in_len ? len : w->in_len;
  memcpy(buf, w->in, n);
  w->in += n;
  w->in_len -= n;
  return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data,
                          size_t len, int flags, void *ud) {
  (void)flags;
  if (ws_write(ud, data, len) != 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                         void *ud) {
  (void)ctx;
  (void)ud;
  return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void ws_send_text(ws_t *w, const char *text) {
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text,
                              strlen(text)};
  if (wslay_event_queue_msg(w->ctx, &m) == 0)
    wslay_event_send(w->ctx);
}

static void ws_subscribe(ws_t *w) {
  run_t *r = w->r;
  const sb_load_fresh_opts_t *o = r->f->o;
  static const char *const def_topics[] = {"sb.leads", NULL};
  static const char *const def_types[] = {"lead.created", NULL};
  const char *const *topics = o->topics ? o->topics : def_topics;
  const char *const *types = o->topics ? o->types : def_types;
  cJSON *doc = cJSON_CreateObject();
  cJSON *s = cJSON_AddObjectToObject(doc, "subscribe");
  cJSON *t = cJSON_AddArrayToObject(s, "topics");
  for (size_t i = 0; topics[i]; i++)
    cJSON_AddItemToArray(t, cJSON_CreateString(topics[i]));
  if (types) {
    cJSON *ty = cJSON_AddArrayToObject(s, "types");
    for (size_t i = 0; types[i]; i++)
      cJSON_AddItemToArray(ty, cJSON_CreateString(types[i]));
  }
  char *text = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  if (text == NULL) {
    sb__load_fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  ws_send_text(w, text);
  cJSON_free(text);
  w->state = W_SUBSCRIBING;
}

/* A live event: matched by id to what this run posted. */
static void fresh_arrival(run_t *r, const uint8_t *msg, size_t len) {
  fresh_t *f = r->f;
  cJSON *j = cJSON_ParseWithLength((const char *)msg, len);
  cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
  int64_t i = cJSON_IsString(id)
                  ? sb__load_ht_get(f, id->valuestring, strlen(id->valuestring))
                  : -1;
  if (i < 0) {
    cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    if (e != NULL) {
      cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
      sb__load_note_error(r, "hub: %s",
                          cJSON_IsString(m) ? m->valuestring : "error");
    } else {
      f->foreign++;
      if (f->o->other)
        f->o->other(f->o->other_arg, (const char *)msg, len,
                    (int64_t)f->ws.read_ns + f->unix_minus_hr_ns);
    }
  } else if (f->ev[i].arr_ns == 0) {
    f->ev[i].arr_ns = f->ws.read_ns;
    f->arrived++;
    f->acked_arrived += f->ev[i].state == E_ACKED;
  }
  cJSON_Delete(j);
}

static void ws_on_msg(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *ud) {
  (void)ctx;
  ws_t *w = ud;
  run_t *r = w->r;
  if (r->finishing)
    return;
  if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
    size_t rl = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
    sb__load_fail(r, SB_EUNAVAIL, "the hub closed the stream: %u %.*s",
                  (unsigned)arg->status_code, (int)rl,
                  (const char *)arg->msg + 2);
    return;
  }
  if (arg->opcode != WSLAY_TEXT_FRAME)
    return;
  if (w->state == W_SUBSCRIBED) {
    fresh_arrival(r, arg->msg, arg->msg_length);
    return;
  }
  cJSON *j = cJSON_ParseWithLength((const char *)arg->msg, arg->msg_length);
  cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
  if (e != NULL) {
    cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    sb__load_fail(r, SB_EUNAVAIL, "the hub refused the subscription: %s",
                  cJSON_IsString(m) ? m->valuestring : "(no message)");
  } else if (j && w->state == W_WELCOME &&
             cJSON_GetObjectItemCaseSensitive(j, "welcome")) {
    ws_subscribe(w);
  } else if (j && w->state == W_SUBSCRIBING &&
             cJSON_GetObjectItemCaseSensitive(j, "subscribed")) {
    w->state = W_SUBSCRIBED;
    r->f->posting = 1;
    r->f->t0 = r->t0 = r->last_answer_ns = r->prog_last_ns = uv_hrtime();
  }
  cJSON_Delete(j);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_on_msg,
};

/* The handshake's answer, through http-parser. */
static void ws_header_done(ws_t *w) {
  if (w->hname_len == 0)
    return;
  w->hname[w->hname_len] = w->hval[w->hval_len] = '\0';
  if (strcasecmp(w->hname, "Sec-WebSocket-Accept") == 0)
    w->accept_ok = strcmp(w->hval, w->want_accept) == 0;
  w->hname_len = w->hval_len = 0;
  w->in_value = 0;
}

static int ws_hp_field(http_parser *p, const char *at, size_t len) {
  ws_t *w = p->data;
  if (w->in_value)
    ws_header_done(w);
  size_t n = len < sizeof w->hname - 1 - w->hname_len
                 ? len
                 : sizeof w->hname - 1 - w->hname_len;
  memcpy(w->hname + w->hname_len, at, n);
  w->hname_len += n;
  return 0;
}

static int ws_hp_value(http_parser *p, const char *at, size_t len) {
  ws_t *w = p->data;
  size_t n = len < sizeof w->hval - 1 - w->hval_len
                 ? len
                 : sizeof w->hval - 1 - w->hval_len;
  memcpy(w->hval + w->hval_len, at, n);
  w->hval_len += n;
  w->in_value = 1;
  return 0;
}

static int ws_hp_headers(http_parser *p) {
  ws_t *w = p->data;
  ws_header_done(w);
  w->headers_done = 1;
  return p->status_code == 101 ? 1 : 0; /* no body after a 101 */
}

static int ws_hp_body(http_parser *p, const char *at, size_t len) {
  ws_t *w = p->data;
  size_t n = len < sizeof w->errbody - 1 - w->errbody_len
                 ? len
                 : sizeof w->errbody - 1 - w->errbody_len;
  memcpy(w->errbody + w->errbody_len, at, n);
  w->errbody_len += n;
  return 0;
}

static int ws_hp_complete(http_parser *p) {
  ((ws_t *)p->data)->message_done = 1;
  return 0;
}

static const http_parser_settings ws_hps = {
    .on_header_field = ws_hp_field,
    .on_header_value = ws_hp_value,
    .on_headers_complete = ws_hp_headers,
    .on_body = ws_hp_body,
    .on_message_complete = ws_hp_complete,
};

static void ws_closed(uv_handle_t *h) { ((ws_t *)h->data)->handle_open = 0; }

static void ws_feed(ws_t *w, const char *data, size_t len) {
  run_t *r = w->r;
  w->in = (const uint8_t *)data;
  w->in_len = len;
  int rc = wslay_event_recv(w->ctx);
  w->in = NULL;
  w->in_len = 0;
  if (r->finishing)
    return;
  if (rc != 0) {
    sb__load_fail(r, SB_EDECODE, "the WebSocket stream broke (wslay error %d)",
                  rc);
    return;
  }
  wslay_event_send(w->ctx); /* pongs */
}

static void ws_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  ws_t *w = s->data;
  run_t *r = w->r;
  if (n == 0 || r->finishing)
    return;
  if (n < 0) {
    sb__load_fail(r, SB_EIO,
                  "the WebSocket connection to %s/v1/stream closed: %s", r->url,
                  uv_strerror((int)n));
    return;
  }
  w->read_ns = uv_hrtime();
  r->bytes_recv += (uint64_t)n;
  if (w->upgraded) {
    ws_feed(w, b->base, (size_t)n);
    return;
  }
  size_t used = http_parser_execute(&w->hp, &ws_hps, b->base, (size_t)n);
  if (!w->hp.upgrade) {
    if (w->hp.http_errno != HPE_OK)
      sb__load_fail(r, SB_EDECODE, "bad handshake answer from %s/v1/stream: %s",
                    r->url, http_errno_description(HTTP_PARSER_ERRNO(&w->hp)));
    else if (w->message_done || (w->headers_done && w->hp.status_code != 101 &&
                                 w->errbody_len == sizeof w->errbody - 1)) {
      char msg[200];
      sb__load_body_message(w->errbody, w->errbody_len, msg, sizeof msg);
      sb__load_fail(r, SB_EUNAVAIL, "GET %s/v1/stream answered %d: %s", r->url,
                    (int)w->hp.status_code, msg);
    }
    return; /* more of the head to come */
  }
  if (w->hp.status_code != 101 || !w->accept_ok) {
    sb__load_fail(r, SB_EUNAVAIL,
                  "GET %s/v1/stream: the upgrade answer (%d) lacks the right "
                  "Sec-WebSocket-Accept",
                  r->url, (int)w->hp.status_code);
    return;
  }
  if (wslay_event_context_client_init(&w->ctx, &ws_callbacks, w) != 0) {
    sb__load_fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  wslay_event_config_set_max_recv_msg_length(w->ctx, 16u << 20);
  w->upgraded = 1;
  w->state = W_WELCOME;
  if (used < (size_t)n)
    ws_feed(w, b->base + used, (size_t)n - used);
}

void sb__load_ws_on_connect(uv_connect_t *cr, int status) {
  ws_t *w = cr->data;
  run_t *r = w->r;
  if (r->finishing)
    return;
  if (status < 0) {
    sb__load_fail(r, SB_EIO, "cannot connect to %s: %s", r->url,
                  uv_strerror(status));
    return;
  }
  unsigned char raw[16];
  char key[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    sb__load_fail(r, SB_ECRYPTO, "OpenSSL RAND_bytes failed");
    return;
  }
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw); /* 24 chars */
  if (sb_ws_accept_key(key, w->want_accept) != 0) {
    sb__load_fail(r, SB_EINTERNAL, "cannot compute Sec-WebSocket-Accept");
    return;
  }
  size_t cap = 512 + strlen(r->token) + strlen(r->hostport);
  char *req = malloc(cap);
  if (req == NULL) {
    sb__load_fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  int n =
      snprintf(req, cap,
               "GET /v1/stream HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n"
               "User-Agent: switchboard-bench/%s\r\n\r\n",
               r->hostport, key, r->token, SB_VERSION);
  http_parser_init(&w->hp, HTTP_RESPONSE);
  w->hp.data = w;
  w->state = W_HANDSHAKE;
  uv_tcp_nodelay(&w->tcp, 1);
  uv_read_start((uv_stream_t *)&w->tcp, sb__load_on_alloc, ws_on_read);
  if (ws_write(w, req, (size_t)n) != 0)
    sb__load_fail(r, SB_EIO, "cannot write to %s", r->url);
  free(req);
}

void sb__load_ws_close(ws_t *w) {
  if (w->ctx && w->handle_open && !uv_is_closing((uv_handle_t *)&w->tcp)) {
    wslay_event_queue_close(w->ctx, WSLAY_CODE_NORMAL_CLOSURE,
                            (const uint8_t *)"done", 4);
    wslay_event_send(w->ctx);
  }
  if (w->handle_open && !uv_is_closing((uv_handle_t *)&w->tcp))
    uv_close((uv_handle_t *)&w->tcp, ws_closed);
}
