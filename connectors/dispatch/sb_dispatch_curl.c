/* libcurl's multi interface on the dispatcher's libuv loop, as libcurl
 * documents it (multi-uv.c): curl says which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION: a uv_poll each) and when to call back
 * (CURLMOPT_TIMERFUNCTION: a uv_timer); the loop reports readiness with
 * curl_multi_socket_action, and finished transfers are read with
 * curl_multi_info_read. */
#include "sb_dispatch_int.h"

#include "sb_log.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uv_poll_t poll;
  curl_socket_t fd;
  sb_dispatch_t *d;
} sock_t;

static void check_done(sb_dispatch_t *d) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    CURL *e = m->easy_handle;
    CURLcode rc = m->data.result;
    sb__djob_t *j = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    curl_multi_remove_handle(d->multi, e);
    sb__dsp_answer(d, j, rc);
    sb__dsp_finish(d, j);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  int flags = 0, running = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  sb_dispatch_t *d = s->d;
  curl_multi_socket_action(d->multi, s->fd, flags, &running);
  check_done(d);
}

static void on_timeout(uv_timer_t *t) {
  sb_dispatch_t *d = t->data;
  int running = 0;
  curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(d);
}

static int timer_cb(CURLM *multi, long ms, void *arg) {
  sb_dispatch_t *d = arg;
  if (ms < 0)
    uv_timer_stop(&d->curl_timer);
  else
    uv_timer_start(&d->curl_timer, on_timeout, (uint64_t)ms, 0);
  return 0;
}

static void free_sock(uv_handle_t *h) { free(h->data); }

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *arg,
                     void *sockp) {
  sb_dispatch_t *d = arg;
  sock_t *s = sockp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      uv_close((uv_handle_t *)&s->poll, free_sock);
      curl_multi_assign(d->multi, fd, NULL);
    }
    return 0;
  }
  if (s == NULL) {
    s = calloc(1, sizeof *s);
    if (s == NULL || uv_poll_init_socket(&d->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->fd = fd;
    s->d = d;
    s->poll.data = s;
    curl_multi_assign(d->multi, fd, s);
  }
  int ev = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    ev |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    ev |= UV_WRITABLE;
  uv_poll_start(&s->poll, ev, on_poll);
  return 0;
}

/* curl_global_init is not thread-safe: once per process */
static void init_global(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int sb__dsp_curl_init(sb_dispatch_t *d, sb_err_t *err) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, init_global);
  d->multi = curl_multi_init();
  if (d->multi == NULL)
    return sb_err_set(err, SB_ENOMEM, "curl_multi_init failed");
  uv_timer_init(&d->loop, &d->curl_timer);
  d->curl_timer.data = d;
  curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
  curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
  return 0;
}

void sb__dsp_curl_add(sb_dispatch_t *d, sb__djob_t *j) {
  curl_easy_setopt(j->easy, CURLOPT_PRIVATE, (char *)j);
  CURLMcode mc = curl_multi_add_handle(d->multi, j->easy);
  if (mc != CURLM_OK) {
    j->outcome = SB_DSP_O_RETRY;
    snprintf(j->error_code, sizeof j->error_code, "dispatch_error");
    snprintf(j->error_msg, sizeof j->error_msg, "curl_multi_add_handle: %s",
             curl_multi_strerror(mc));
    sb__dsp_finish(d, j);
    return;
  }
  j->started = 1;
}

void sb__dsp_curl_close(sb_dispatch_t *d) {
  if (d->multi == NULL)
    return;
  curl_multi_cleanup(d->multi);
  d->multi = NULL;
}
