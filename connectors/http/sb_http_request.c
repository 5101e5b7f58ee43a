/* A request: parsed within the limits, routed, read by its handler. */
#include "sb_http_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sb__http_req_free(sb_http_req_t *r) {
  if (r == NULL)
    return;
  free(r->url);
  free(r->path);
  for (int i = 0; i < r->nheaders; i++) {
    free(r->names[i]);
    free(r->values[i]);
  }
  free(r->body);
  free(r->response);
  free(r);
}

const char *sb_http_method(const sb_http_req_t *r) { return r->method; }
const char *sb_http_path(const sb_http_req_t *r) { return r->path; }
const char *sb_http_query(const sb_http_req_t *r) {
  return r->query ? r->query : "";
}
const char *sb_http_peer(const sb_http_req_t *r) { return r->peer; }
void sb_http_set_user(sb_http_req_t *r, void *user) { r->user = user; }
void *sb_http_user(const sb_http_req_t *r) { return r->user; }
int sb_http_gone(const sb_http_req_t *r) { return r->conn == NULL; }

const char *sb_http_body(const sb_http_req_t *r, size_t *len) {
  if (len)
    *len = r->body_len;
  return r->body ? r->body : "";
}

const char *sb_http_header(const sb_http_req_t *r, const char *name) {
  for (int i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->names[i], name) == 0)
      return r->values[i];
  return NULL;
}

int sb_http_header_count(const sb_http_req_t *r) { return r->nheaders; }

int sb_http_header_at(const sb_http_req_t *r, int i, const char **name,
                      const char **value) {
  if (i < 0 || i >= r->nheaders)
    return -1;
  *name = r->names[i] ? r->names[i] : "";
  *value = r->values[i] ? r->values[i] : "";
  return 0;
}

static conn_t *conn_of(http_parser *p) { return p->data; }

static int on_message_begin(http_parser *p) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return -1;
  r->conn = c;
  snprintf(r->peer, sizeof r->peer, "%s", c->peer);
  c->cur = r;
  c->header_bytes = 0;
  c->last_was_value = 0;
  sb__http_arm_timer(c);
  return 0;
}

/* Appends piece to *dst (NUL-terminated), bounded by limit. */
static int append(char **dst, size_t *len, const char *piece, size_t n,
                  size_t limit) {
  if (*len + n > limit)
    return -1;
  char *d = realloc(*dst, *len + n + 1);
  if (d == NULL)
    return -1;
  memcpy(d + *len, piece, n);
  *len += n;
  d[*len] = '\0';
  *dst = d;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  sb_http_req_t *r = conn_of(p)->cur;
  if (append(&r->url, &r->url_len, at, n, MAX_URL) != 0)
    return conn_of(p)->refusal = 414, -1;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES)
    return c->refusal = 431, -1;
  if (c->last_was_value || r->nheaders == 0) {
    if (r->nheaders >= MAX_HEADERS)
      return c->refusal = 431, -1;
    r->nheaders++;
    c->last_was_value = 0;
  }
  size_t len =
      r->names[r->nheaders - 1] ? strlen(r->names[r->nheaders - 1]) : 0;
  return append(&r->names[r->nheaders - 1], &len, at, n, 256);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES)
    return c->refusal = 431, -1;
  if (r->nheaders == 0)
    return -1;
  c->last_was_value = 1;
  char **v = &r->values[r->nheaders - 1];
  size_t len = *v ? strlen(*v) : 0;
  return append(v, &len, at, n, MAX_HEADER_BYTES);
}

static int on_headers_complete(http_parser *p) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  snprintf(r->method, sizeof r->method, "%s",
           http_method_str((enum http_method)p->method));
  for (int i = 0; i < r->nheaders; i++)
    if (r->values[i] == NULL && (r->values[i] = strdup("")) == NULL)
      return -1;
  struct http_parser_url u;
  http_parser_url_init(&u);
  if (r->url == NULL || http_parser_parse_url(r->url, r->url_len, 0, &u) != 0)
    return -1;
  if (u.field_set & (1 << UF_PATH))
    r->path =
        strndup(r->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  else
    r->path = strdup("/");
  if (u.field_set & (1 << UF_QUERY))
    r->query = r->url + u.field_data[UF_QUERY].off; /* inside url */
  if (r->path == NULL)
    return -1;
  if (p->content_length != ULLONG_MAX && p->content_length > c->srv->o.max_body)
    return c->refusal = 413, -1; /* say so before the body is sent */
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  sb_http_req_t *r = conn_of(p)->cur;
  if (r->body_len + n > conn_of(p)->srv->o.max_body)
    return conn_of(p)->refusal = 413, -1; /* chunked, past the limit */
  return append(&r->body, &r->body_len, at, n, conn_of(p)->srv->o.max_body);
}

/* 1 when rt serves path in this pass: exact paths (pass 0), then prefixes
 * ending in '/' (pass 1) for longer paths; "/" alone is exact (the
 * dashboard's page), never a prefix of everything */
static int route_serves(const sb_http_route_t *rt, const char *path,
                        int pass) {
  size_t n = strlen(rt->path);
  int is_prefix = n > 1 && rt->path[n - 1] == '/';
  if (is_prefix != pass)
    return 0;
  return pass ? strncmp(rt->path, path, n) == 0 && path[n] != '\0'
              : strcmp(rt->path, path) == 0;
}

static void dispatch(conn_t *c, sb_http_req_t *r) {
  const sb_http_route_t *match = NULL;
  int path_known = 0;
  char allow[128] = "";
  for (int pass = 0; pass < 2 && !path_known; pass++) {
    for (const sb_http_route_t *rt = c->srv->o.routes; rt && rt->method;
         rt++) {
      if (!route_serves(rt, r->path, pass))
        continue;
      path_known = 1;
      size_t used = strlen(allow);
      snprintf(allow + used, sizeof allow - used, "%s%s", used ? ", " : "",
               rt->method);
      if (strcmp(rt->method, r->method) == 0)
        match = rt;
    }
  }
  if (match) {
    match->fn(r, c->srv->o.ud);
  } else if (path_known) {
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    sb_http_error(r, 405, "method_not_allowed",
                  "this path takes another method", hdr);
  } else {
    sb_http_error(r, 404, "not_found", "no such path", NULL);
  }
}

static int on_message_complete(http_parser *p) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  c->cur = NULL;
  r->close_after = !http_should_keep_alive(p);
  r->upgrade = p->upgrade;
  if (r->upgrade)
    c->want_close = 1; /* unless a handler takes the connection over */
  if (c->tail)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
  c->inflight++;
  sb__http_arm_timer(c);
  dispatch(c, r); /* may answer, and even free r, right away */
  /* enough owed or unwritten: the next request waits (sb__http_conn_feed keeps
   * it) */
  if (!c->closing && !c->upgraded && !c->want_close && sb__http_must_pause(c))
    http_parser_pause(p, 1);
  return 0;
}

void sb__http_parser_settings(http_parser_settings *s) {
  http_parser_settings_init(s);
  s->on_message_begin = on_message_begin;
  s->on_url = on_url;
  s->on_header_field = on_header_field;
  s->on_header_value = on_header_value;
  s->on_headers_complete = on_headers_complete;
  s->on_body = on_body;
  s->on_message_complete = on_message_complete;
}
