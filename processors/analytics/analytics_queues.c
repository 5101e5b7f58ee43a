/* analytics: each queue's service-level threshold, from
 * routing.queue_configured (sb.tenants, keyed tenant:queue_id).
 *
 * A global table (vt->globals, "queue_sl"): per tenant and queue, the
 * history of its configurations' service_level_s by event time (at most
 * AN_SL_HIST, the newest kept), folded whatever order they arrive in
 * (sorted by occurred_at, then event id; a repeated id is one). A call
 * counts as answered within service level by the threshold in force at
 * its start (its bucket's instant): the newest configuration of its queue
 * at or before it, by event time; where that configuration has no
 * service_level_s, where none is that old, and for a call without a queue,
 * analytics.service_level_s.
 *
 * Why event time and not "the table as it stands": the kit folds a global
 * table in its topic's order between batches, and reads it to the end of
 * the topic before a rebuild's first batch; "as it stands" would give a
 * replay the newest threshold for every call. By event time a replay and
 * `switchboard analytics check` (plain SQL) give the same as the live run,
 * as long as a configuration reaches the table before the calls it governs
 * are attributed (a call's rows carry the threshold it was counted with,
 * in its keyed state, so a later change of the table never unbalances
 * them: see analytics_calls.c). */
#include "analytics_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SL_ID_MAX 27 /* a ULID, 26 bytes, plus the NUL */

typedef struct {
  int64_t at_us;
  int32_t sl_s; /* 0: none given (the default) */
  char id[SL_ID_MAX];
  char pad_[1];
} sl_entry_t;

typedef struct {
  uint32_t ver, n;
  sl_entry_t e[AN_SL_HIST]; /* by (at_us, id), oldest first */
} sl_hist_t;

#define SL_VER 1u
#define SL_HEAD offsetof(sl_hist_t, e)

static int sl_key(char *key, size_t cap, const char *tenant,
                  const char *queue) {
  int n = snprintf(key, cap, "q/%s/%s", tenant, queue);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int entry_cmp(const sl_entry_t *x, int64_t at, const char *id) {
  if (x->at_us != at)
    return x->at_us < at ? -1 : 1;
  return strcmp(x->id, id);
}

/* The table's value for key into h (empty when it has none). */
static void sl_load(const void *v, size_t len, sl_hist_t *h) {
  memset(h, 0, sizeof *h);
  h->ver = SL_VER;
  if (v == NULL || len < SL_HEAD)
    return;
  sl_hist_t in;
  memcpy(&in, v, SL_HEAD);
  if (in.ver != SL_VER || in.n > AN_SL_HIST ||
      len != SL_HEAD + in.n * sizeof(sl_entry_t))
    return;
  memcpy(h, v, len);
}

static int reduce(void *state, sb_global_t *g, const sb_event_t *ev,
                  sb_err_t *err) {
  an_t *a = state;
  if (!sb_event_type_is(ev, a->t_queue_cfg))
    return 0;
  const char *queue = sb_event_str(ev, a->f_queue_id);
  char key[2 * AN_ID_MAX + 8];
  if (queue == NULL || queue[0] == '\0' ||
      sl_key(key, sizeof key, ev->tenant_id, queue) != 0)
    return sb_err_set(err, SB_EVALIDATE,
                      "routing.queue_configured %s: queue_id: 1 to 63 bytes",
                      ev->event_id);
  if (strlen(ev->event_id) >= SL_ID_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "routing.queue_configured: event id over %d bytes",
                      SL_ID_MAX - 1);
  int64_t sl = sb_event_has(ev, a->f_queue_sl)
                   ? sb_event_i64(ev, a->f_queue_sl)
                   : 0;
  if (sl < 0 || sl > 86400)
    return sb_err_set(err, SB_EVALIDATE,
                      "routing.queue_configured %s: service_level_s: 1 to "
                      "86400",
                      ev->event_id);
  const void *v = NULL;
  size_t len = 0;
  sl_hist_t h;
  if (sb_global_find(g, key, &v, &len) != 0)
    v = NULL;
  sl_load(v, len, &h);
  uint32_t i = 0;
  while (i < h.n && entry_cmp(&h.e[i], ev->occurred_at, ev->event_id) < 0)
    i++;
  if (i < h.n && entry_cmp(&h.e[i], ev->occurred_at, ev->event_id) == 0)
    return 0; /* a duplicate */
  if (h.n == AN_SL_HIST) { /* full: the oldest goes (or the new one) */
    if (i == 0)
      return 0;
    memmove(&h.e[0], &h.e[1], (size_t)(h.n - 1) * sizeof h.e[0]);
    i--;
    h.n--;
  }
  memmove(&h.e[i + 1], &h.e[i], (size_t)(h.n - i) * sizeof h.e[0]);
  memset(&h.e[i], 0, sizeof h.e[i]);
  h.e[i].at_us = ev->occurred_at;
  h.e[i].sl_s = (int32_t)sl;
  memcpy(h.e[i].id, ev->event_id, strlen(ev->event_id));
  h.n++;
  return sb_global_put(g, key, &h, SL_HEAD + h.n * sizeof h.e[0], err);
}

const sb_global_def_t an_globals[] = {
    {"queue_sl", SB_TOPIC_TENANTS, reduce},
    {0},
};

int an_queues_init(an_t *a, sb_err_t *err) {
  const an_field_t fields[] = {
      {"routing.queue_configured", "queue_id", &a->f_queue_id},
      {"routing.queue_configured", "service_level_s", &a->f_queue_sl},
  };
  if (sb_codec_type(a->schemas, "routing.queue_configured", &a->t_queue_cfg,
                    err) != 0)
    return err->code;
  return an_resolve(a->schemas, fields, sizeof fields / sizeof fields[0], err);
}

int32_t an_queue_sl_s(const an_t *a, sb_batch_t *b, const char *tenant,
                      const char *queue, int64_t at_us) {
  char key[2 * AN_ID_MAX + 8];
  const void *v;
  size_t len;
  if (queue == NULL || queue[0] == '\0' ||
      sl_key(key, sizeof key, tenant, queue) != 0 ||
      sb_global_get(b, &an_globals[0], key, &v, &len) != 0)
    return a->sl_s;
  sl_hist_t h;
  sl_load(v, len, &h);
  int32_t sl = 0;
  for (uint32_t i = 0; i < h.n && h.e[i].at_us <= at_us; i++)
    sl = h.e[i].sl_s;
  return sl > 0 ? sl : a->sl_s;
}
