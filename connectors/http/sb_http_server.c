/* The server: listening, stopping. */
#include "sb_http_int.h"

#include "sb_util.h"

#include <stdlib.h>
#include <string.h>

int sb_http_start(uv_loop_t *loop, const sb_http_opts_t *o, sb_http_t **out,
                  sb_err_t *err) {
  *out = NULL;
  char host[64];
  const char *colon = strrchr(o->listen, ':');
  long long port;
  if (colon == NULL || (size_t)(colon - o->listen) >= sizeof host ||
      sb_parse_ll(colon + 1, &port) != 0 || port < 0 || port > 65535)
    return sb_err_set(err, SB_ECONFIG, "http.listen: '%s' is not HOST:PORT",
                      o->listen);
  snprintf(host, sizeof host, "%.*s", (int)(colon - o->listen), o->listen);
  struct sockaddr_storage addr;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0)
    return sb_err_set(err, SB_ECONFIG, "http.listen: '%s' is not an IP address",
                      host);
  SSL_CTX *tls = NULL;
  int rc = sb__http_tls_ctx_new(o->tls_cert, o->tls_key, &tls, err);
  if (rc != 0)
    return rc;
  sb_http_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    SSL_CTX_free(tls);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  s->loop = loop;
  s->o = *o;
  if (s->o.max_pending == 0)
    s->o.max_pending = DEFAULT_MAX_PENDING;
  s->tls = tls; /* ownership moved */
  sb__http_parser_settings(&s->settings);
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  s->listener_open = 1;
  int r = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
  const char *scheme = s->tls ? "https" : "http";
  if (r == 0)
    r = uv_listen((uv_stream_t *)&s->listener, 511, sb__http_on_connection);
  if (r != 0) {
    sb_err_set(err, SB_EBUSY,
               "http: cannot listen on %s: %s (is another "
               "server there? choose --http-listen)",
               o->listen, uv_strerror(r));
    uv_close((uv_handle_t *)&s->listener, NULL);
    s->listener_open = 0;
    *out = s; /* freed by the caller after the loop closes the handle */
    return err->code;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  char ip[64] = "";
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
  int bport = 0;
  if (bound.ss_family == AF_INET) {
    uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
    bport = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    snprintf(s->url, sizeof s->url, "%s://%s:%d", scheme, ip, bport);
  } else {
    uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
    bport = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    snprintf(s->url, sizeof s->url, "%s://[%s]:%d", scheme, ip, bport);
  }
  *out = s;
  return 0;
}

const char *sb_http_url(const sb_http_t *s) { return s->url; }

static void on_listener_closed(uv_handle_t *h) {
  sb_http_t *s = h->data;
  s->listener_open = 0;
  if (s->conns == NULL && s->done)
    s->done(s->done_arg);
}

void sb_http_stop(sb_http_t *s, void (*done)(void *), void *arg) {
  if (s == NULL || s->stopping)
    return;
  s->stopping = 1;
  s->done = done;
  s->done_arg = arg;
  for (conn_t *c = s->conns, *n; c; c = n) {
    n = c->next;
    c->want_close = 1;
    if (c->upgraded && c->shutting) { /* closing gracefully: not for long */
      if (!c->closing)
        uv_timer_start(&c->timer, sb__http_on_timeout, 500, 0);
      continue;
    }
    if (c->head == NULL)
      sb__http_conn_close(c); /* nothing owed */
  }
  if (s->listener_open && !uv_is_closing((uv_handle_t *)&s->listener))
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  else if (s->conns == NULL && done)
    done(arg);
}

void sb_http_free(sb_http_t *s) {
  if (s == NULL)
    return;
  SSL_CTX_free(s->tls);
  free(s);
}
