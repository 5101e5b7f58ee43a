/* analytics: calls (sb.calls) -> calls_hour, dispositions_hour,
 * live_calls.
 *
 * A call's facts are kept in keyed state ("c/<tenant>/<call id>", a
 * call_t) from its first event; the call counts once call.ended is known
 * and either its disposition is, or it was not answered (no disposition is
 * expected), or analytics.disposition_wait_s passed its end (a wall-clock
 * timer: see kind_of; a disposition arriving later adds its figures to
 * the same buckets). Its rows are a function of its facts (contrib): each
 * change subtracts the old rows and adds the new, so the order and the
 * repetition of its events change nothing. The facts are dropped
 * analytics.call_retain_s of event time after its end, or after the
 * partition's latest event when it completed if that is later (its
 * duplicates and late events are recognised until then: one arriving
 * after that counts as a new call's), or analytics.call_open_max_s after
 * its first event (the same way) if it never ended (uncounted).
 *
 * The call's bucket is its start (call.started, else call.ended's
 * started_at, whichever is earlier; else its earliest event). Dimensions
 * (queue, campaign, agent, direction) come from the event ranked highest:
 * call.ended, then call.connected, then call.queued / call.started, then
 * call.offered / call.abandoned, then call.dispositioned (ties: the
 * smaller id).
 *
 * Service level: answered_in_sl counts an offered, answered call whose
 * wait is at most its queue's threshold in force at the call's start
 * (analytics_queues.c), taken when its rows are computed and kept in its
 * facts (sl_s): the old rows are subtracted with the threshold they were
 * added with.
 *
 * live_calls holds each call in progress (live_row): upserted as its
 * facts change, deleted when it ends or its facts are dropped. */
#include "analytics_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2: sl_s, in what was padding (a version 1 call has 0 there: it was
 * counted with analytics.service_level_s); 3: the latest offer (offered_us,
 * ring_agent) appended, for live_calls (a version 1 or 2 call loads with
 * none) */
#define CALL_VER 3u
#define CALL_V2_SIZE 704
#define CALL_XFER_MAX 16

enum {
  C_STARTED = 0x1,
  C_QUEUED = 0x2,
  C_CONNECTED = 0x4,
  C_ABANDONED = 0x8,
  C_ENDED = 0x10,
  C_DISPO = 0x20,
  C_EXPIRED = 0x40,
  C_OFFERED = 0x80,
};

typedef struct {
  uint32_t ver, flags;
  int64_t first_us, start_us, queued_us, connected_us, abandoned_us, ended_us;
  int64_t wait_conn_ms, wait_ab_ms, wait_end_ms; /* -1: none */
  int64_t talk_ms, hold_ms, wrap_ms, sale_cents; /* -1: none */
  int64_t xfer_us[CALL_XFER_MAX];
  int32_t nxfer;
  int32_t p_queue, p_campaign, p_agent, p_dir, p_disp;
  char dir[16], disp[32];
  char queue[AN_ID_MAX], campaign[AN_ID_MAX], agent[AN_ID_MAX];
  /* the service-level threshold its rows were counted with (0: not
   * counted yet), so that subtracting them is exact whatever the queue's
   * configuration became meanwhile */
  int32_t sl_s;
  /* version 3: the latest offer (its time; its agent, ties: the smaller
   * id): who is ringing now */
  int64_t offered_us;
  char ring_agent[AN_ID_MAX];
} call_t;

/* versions 1 and 2 are the first CALL_V2_SIZE bytes (sl_s took version
 * 1's padding) */
_Static_assert(offsetof(call_t, offered_us) == CALL_V2_SIZE,
               "call_t: version 3 appends to version 2");

typedef struct an_calls_s {
  sb_etype_ref_t started, queued, offered, connected, transferred, abandoned,
      ended, disp;
  sb_field_t st_id, st_dir, st_campaign, st_agent;
  sb_field_t qu_id, qu_queue, qu_campaign;
  sb_field_t of_id, of_agent, of_queue;
  sb_field_t co_id, co_agent, co_queue, co_wait;
  sb_field_t tr_id;
  sb_field_t ab_id, ab_queue, ab_wait, ab_campaign;
  sb_field_t en_id, en_dir, en_reason, en_started, en_answered, en_wait,
      en_talk, en_hold, en_agent, en_queue, en_campaign;
  sb_field_t di_id, di_disp, di_agent, di_campaign, di_wrap, di_sale;
} an_calls_t;

const sb_table_def_t an_calls_hour = {
    .name = "calls_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"queue_id", SB_COL_TEXT, 0},
            {"campaign_id", SB_COL_TEXT, 0},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
            {"direction", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"calls", SB_COL_INT8, SB_MERGE_SUM},
            {"inbound", SB_COL_INT8, SB_MERGE_SUM},
            {"outbound", SB_COL_INT8, SB_MERGE_SUM},
            {"offered", SB_COL_INT8, SB_MERGE_SUM},
            {"answered", SB_COL_INT8, SB_MERGE_SUM},
            {"answered_in_sl", SB_COL_INT8, SB_MERGE_SUM},
            {"abandoned", SB_COL_INT8, SB_MERGE_SUM},
            {"abandoned_short", SB_COL_INT8, SB_MERGE_SUM},
            {"wait_answered_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"wait_abandoned_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"handled", SB_COL_INT8, SB_MERGE_SUM},
            {"talk_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"hold_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"wrap_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"transfers", SB_COL_INT8, SB_MERGE_SUM},
            {"dispositioned", SB_COL_INT8, SB_MERGE_SUM},
            {"sales", SB_COL_INT8, SB_MERGE_SUM},
            {"revenue_cents", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "queue_id",
                                 "campaign_id", "agent_id", "direction",
                                 NULL},
    .retention_class = "call",
    .retention_col = "hour_start",
};

const sb_table_def_t an_dispositions_hour = {
    .name = "dispositions_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"queue_id", SB_COL_TEXT, 0},
            {"campaign_id", SB_COL_TEXT, 0},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
            {"disposition", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"calls", SB_COL_INT8, SB_MERGE_SUM},
            {"revenue_cents", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "queue_id",
                                 "campaign_id", "agent_id", "disposition",
                                 NULL},
    .retention_class = "call",
    .retention_col = "hour_start",
};

const sb_table_def_t an_live_calls = {
    .name = "live_calls",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"call_id", SB_COL_TEXT, 0},
            {"state", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"state_since", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"direction", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"queue_id", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"campaign_id", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER | SB_MERGE_REPLACE},
            {"started_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"queued_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"answered_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "call_id", NULL},
};

int an_calls_new(an_t *a, an_calls_t **out, sb_err_t *err) {
  an_calls_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const sb_schemas_t *s = a->schemas;
  static const char *const st = "call.started", *const qu = "call.queued",
                           *const of = "call.offered",
                           *const co = "call.connected",
                           *const tr = "call.transferred",
                           *const ab = "call.abandoned",
                           *const en = "call.ended",
                           *const di = "call.dispositioned";
  const an_field_t fields[] = {
      {st, "call_id", &c->st_id},          {st, "direction", &c->st_dir},
      {st, "campaign_id", &c->st_campaign}, {st, "agent_id", &c->st_agent},
      {qu, "call_id", &c->qu_id},          {qu, "queue_id", &c->qu_queue},
      {qu, "campaign_id", &c->qu_campaign}, {of, "call_id", &c->of_id},
      {of, "agent_id", &c->of_agent},      {of, "queue_id", &c->of_queue},
      {co, "call_id", &c->co_id},          {co, "agent_id", &c->co_agent},
      {co, "queue_id", &c->co_queue},      {co, "wait_ms", &c->co_wait},
      {tr, "call_id", &c->tr_id},          {ab, "call_id", &c->ab_id},
      {ab, "queue_id", &c->ab_queue},      {ab, "wait_ms", &c->ab_wait},
      {ab, "campaign_id", &c->ab_campaign}, {en, "call_id", &c->en_id},
      {en, "direction", &c->en_dir},       {en, "end_reason", &c->en_reason},
      {en, "started_at", &c->en_started},  {en, "answered_at", &c->en_answered},
      {en, "wait_ms", &c->en_wait},        {en, "talk_ms", &c->en_talk},
      {en, "hold_ms", &c->en_hold},        {en, "agent_id", &c->en_agent},
      {en, "queue_id", &c->en_queue},      {en, "campaign_id", &c->en_campaign},
      {di, "call_id", &c->di_id},          {di, "disposition", &c->di_disp},
      {di, "agent_id", &c->di_agent},      {di, "campaign_id", &c->di_campaign},
      {di, "wrapup_ms", &c->di_wrap},
      {di, "sale_amount_cents", &c->di_sale},
  };
  int rc = sb_codec_type(s, st, &c->started, err);
  if (rc == 0)
    rc = sb_codec_type(s, qu, &c->queued, err);
  if (rc == 0)
    rc = sb_codec_type(s, of, &c->offered, err);
  if (rc == 0)
    rc = sb_codec_type(s, co, &c->connected, err);
  if (rc == 0)
    rc = sb_codec_type(s, tr, &c->transferred, err);
  if (rc == 0)
    rc = sb_codec_type(s, ab, &c->abandoned, err);
  if (rc == 0)
    rc = sb_codec_type(s, en, &c->ended, err);
  if (rc == 0)
    rc = sb_codec_type(s, di, &c->disp, err);
  if (rc == 0)
    rc = an_resolve(s, fields, sizeof fields / sizeof fields[0], err);
  if (rc != 0) {
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void an_calls_free(an_calls_t *c) { free(c); }

static int answered(const call_t *c) { return (c->flags & C_CONNECTED) != 0; }

static int complete(const call_t *c) {
  return (c->flags & C_ENDED) &&
         ((c->flags & (C_DISPO | C_EXPIRED)) || !answered(c));
}

/* the event time its timer is due: attributed without a disposition, or
 * dropped (topic, partition: the call's) */
static int64_t due_of(const an_t *a, const char *topic, int32_t partition,
                      const call_t *c) {
  if (complete(c))
    return an_due(a, topic, partition, c->ended_us, a->call_retain_s);
  if (c->flags & C_ENDED)
    return c->ended_us + (int64_t)a->disposition_wait_s * AN_US_PER_S;
  return an_due(a, topic, partition, c->first_us, a->call_open_s);
}

/* The wait for a disposition is by the wall clock: on a quiet partition
 * event time stands still, and the figures must not wait for the next
 * call. Whichever comes first, the timer or the disposition, the sums end
 * the same (a later disposition is added), so a replay, where every such
 * timer is due at once, computes the same figures. The rest is event
 * time. */
static sb_timer_kind_t kind_of(const call_t *c) {
  return (c->flags & C_ENDED) && !complete(c) ? SB_TIMER_WALL : SB_TIMER_EVENT;
}

static int64_t pos(int64_t v) { return v > 0 ? v : 0; }

/* The call's instant: its bucket, and the time its threshold is taken at. */
static int64_t at_of(const call_t *c) {
  return c->start_us ? c->start_us : c->first_us;
}

/* The threshold for c's rows: its queue's at its start, once complete. */
static int32_t sl_of(const an_t *a, sb_batch_t *b, const char *tenant,
                     const call_t *c) {
  return complete(c) ? an_queue_sl_s(a, b, tenant, c->queue, at_of(c)) : 0;
}

/* The call's rows, times sign (+1 or -1). Only a complete call has any. */
static int contrib(an_t *a, sb_batch_t *b, const char *tenant,
                   const call_t *c, int64_t sign, sb_err_t *err) {
  if (!complete(c))
    return 0;
  int64_t at = at_of(c);
  int64_t sl_ms = (c->sl_s > 0 ? c->sl_s : a->sl_s) * INT64_C(1000);
  int64_t hour = sb_tenant_hour_start(b, tenant, at);
  int64_t day = sb_tenant_day(b, tenant, at);
  int ans = answered(c);
  int offered = (c->flags & C_QUEUED) != 0;
  int abandoned = offered && !ans && (c->flags & C_ABANDONED);
  int64_t wait_ans = 0, wait_ab = 0;
  if (ans)
    wait_ans = c->wait_conn_ms >= 0  ? c->wait_conn_ms
               : c->wait_end_ms >= 0 ? c->wait_end_ms
               : (c->queued_us && c->connected_us)
                   ? pos(c->connected_us - c->queued_us) / 1000
                   : 0;
  if (abandoned)
    wait_ab = c->wait_ab_ms >= 0    ? c->wait_ab_ms
              : c->wait_end_ms >= 0 ? c->wait_end_ms
              : (c->queued_us && c->abandoned_us)
                  ? pos(c->abandoned_us - c->queued_us) / 1000
                  : 0;
  int64_t hold = ans && c->hold_ms > 0 ? c->hold_ms : 0;
  int64_t talk = 0;
  if (ans)
    talk = c->talk_ms >= 0 ? c->talk_ms
           : c->connected_us ? pos((c->ended_us - c->connected_us) / 1000 -
                                   hold)
                             : 0;
  int dispo = (c->flags & C_DISPO) != 0;
  int sale = dispo && strcmp(c->disp, "sale") == 0;
  int64_t revenue = sale && c->sale_cents > 0 ? c->sale_cents : 0;
  int64_t wrap = dispo && c->wrap_ms > 0 ? c->wrap_ms : 0;
  const char *dir = c->dir[0] ? c->dir : "unknown";
  if (sb_rows_add(
          b, &an_calls_hour,
          (const sb_val_t[]){
              SB_V_TEXT(tenant),
              SB_V_TIMESTAMPTZ(hour),
              SB_V_TEXT(c->queue),
              SB_V_TEXT(c->campaign),
              SB_V_TEXT(c->agent),
              SB_V_TEXT(dir),
              SB_V_DATE(day),
              SB_V_INT8(sign),
              SB_V_INT8(sign * (strcmp(dir, "inbound") == 0)),
              SB_V_INT8(sign * (strcmp(dir, "outbound") == 0)),
              SB_V_INT8(sign * offered),
              SB_V_INT8(sign * (offered && ans)),
              SB_V_INT8(sign *
                        (offered && ans && wait_ans <= sl_ms)),
              SB_V_INT8(sign * abandoned),
              SB_V_INT8(sign * (abandoned && wait_ab < a->short_abandon_s *
                                                           INT64_C(1000))),
              SB_V_INT8(sign * (offered ? wait_ans : 0)),
              SB_V_INT8(sign * wait_ab),
              SB_V_INT8(sign * ans),
              SB_V_INT8(sign * talk),
              SB_V_INT8(sign * hold),
              SB_V_INT8(sign * wrap),
              SB_V_INT8(sign * c->nxfer),
              SB_V_INT8(sign * dispo),
              SB_V_INT8(sign * sale),
              SB_V_INT8(sign * revenue),
          },
          err) != 0)
    return err->code;
  if (!dispo)
    return 0;
  return sb_rows_add(b, &an_dispositions_hour,
                     (const sb_val_t[]){
                         SB_V_TEXT(tenant),
                         SB_V_TIMESTAMPTZ(hour),
                         SB_V_TEXT(c->queue),
                         SB_V_TEXT(c->campaign),
                         SB_V_TEXT(c->agent),
                         SB_V_TEXT(c->disp),
                         SB_V_DATE(day),
                         SB_V_INT8(sign),
                         SB_V_INT8(sign * revenue),
                     },
                     err);
}

/* The call's row of live_calls, a function of its facts like its sums:
 * none once it ended, was abandoned or dispositioned (or its facts are
 * dropped); else
 * talking (since its answer), ringing (an agent offered it: since the
 * latest offer, that offer's agent), waiting (queued: since it was
 * queued) or started (since its start). */
static int live_row(sb_batch_t *b, const char *tenant, const char *call_id,
                    const call_t *c, int gone, sb_err_t *err) {
  if (gone || (c->flags & (C_ENDED | C_ABANDONED | C_DISPO)))
    return sb_rows_del(b, &an_live_calls,
                       (const sb_val_t[]){SB_V_TEXT(tenant),
                                          SB_V_TEXT(call_id)},
                       err);
  const char *state = "started", *agent = c->agent;
  int64_t since = at_of(c);
  int64_t queued = c->queued_us ? c->queued_us
                   : (c->flags & C_QUEUED) ? c->first_us
                                           : 0;
  if (c->flags & C_CONNECTED) {
    state = "talking";
    since = c->connected_us ? c->connected_us : since;
  } else if (c->flags & C_OFFERED) {
    state = "ringing";
    since = c->offered_us;
    agent = c->ring_agent;
  } else if (c->flags & C_QUEUED) {
    state = "waiting";
    since = queued;
  }
  sb_val_t vals[] = {
      SB_V_TEXT(tenant),
      SB_V_TEXT(call_id),
      SB_V_TEXT(state),
      SB_V_TIMESTAMPTZ(since),
      SB_V_TEXT(c->dir[0] ? c->dir : "unknown"),
      SB_V_TEXT(c->queue),
      SB_V_TEXT(c->campaign),
      SB_V_TEXT(agent),
      SB_V_TIMESTAMPTZ(at_of(c)),
      SB_V_NULL,
      SB_V_NULL,
  };
  if (queued)
    vals[9] = (sb_val_t)SB_V_TIMESTAMPTZ(queued);
  if (c->connected_us)
    vals[10] = (sb_val_t)SB_V_TIMESTAMPTZ(c->connected_us);
  return sb_rows_add(b, &an_live_calls, vals, err);
}

static int64_t opt_ms(const sb_event_t *ev, sb_field_t f) {
  return sb_event_has(ev, f) ? pos(sb_event_i64(ev, f)) : -1;
}

static void max_ms(int64_t *dst, int64_t v) {
  if (v > *dst)
    *dst = v;
}

/* Folds ev into c (any order gives the same c). *call_id: the call. */
static void fold(an_calls_t *k, call_t *c, const sb_event_t *ev) {
  int64_t t = ev->occurred_at;
  c->first_us = an_min_t(c->first_us, t);
  if (sb_event_type_is(ev, k->started)) {
    c->flags |= C_STARTED;
    c->start_us = an_min_t(c->start_us, t);
    an_pick(c->dir, sizeof c->dir, &c->p_dir,
            sb_event_enum_name(ev, k->st_dir), 3);
    an_pick(c->campaign, AN_ID_MAX, &c->p_campaign,
            sb_event_str(ev, k->st_campaign), 3);
    an_pick(c->agent, AN_ID_MAX, &c->p_agent, sb_event_str(ev, k->st_agent),
            1);
  } else if (sb_event_type_is(ev, k->queued)) {
    c->flags |= C_QUEUED;
    c->queued_us = an_min_t(c->queued_us, t);
    an_pick(c->queue, AN_ID_MAX, &c->p_queue, sb_event_str(ev, k->qu_queue),
            3);
    an_pick(c->campaign, AN_ID_MAX, &c->p_campaign,
            sb_event_str(ev, k->qu_campaign), 3);
  } else if (sb_event_type_is(ev, k->offered)) {
    if (sb_event_has(ev, k->of_queue))
      c->flags |= C_QUEUED;
    an_pick(c->queue, AN_ID_MAX, &c->p_queue, sb_event_str(ev, k->of_queue),
            2);
    an_pick(c->agent, AN_ID_MAX, &c->p_agent, sb_event_str(ev, k->of_agent),
            2);
    const char *ring = sb_event_str(ev, k->of_agent);
    if (ring == NULL)
      ring = "";
    if (!(c->flags & C_OFFERED) || t > c->offered_us ||
        (t == c->offered_us && strcmp(ring, c->ring_agent) < 0)) {
      c->offered_us = t;
      an_copy(c->ring_agent, AN_ID_MAX, ring);
    }
    c->flags |= C_OFFERED;
  } else if (sb_event_type_is(ev, k->connected)) {
    c->flags |= C_CONNECTED;
    c->connected_us = an_min_t(c->connected_us, t);
    if (sb_event_has(ev, k->co_queue))
      c->flags |= C_QUEUED;
    int64_t w = opt_ms(ev, k->co_wait);
    if (w >= 0 && (c->wait_conn_ms < 0 || w < c->wait_conn_ms))
      c->wait_conn_ms = w;
    an_pick(c->queue, AN_ID_MAX, &c->p_queue, sb_event_str(ev, k->co_queue),
            4);
    an_pick(c->agent, AN_ID_MAX, &c->p_agent, sb_event_str(ev, k->co_agent),
            4);
  } else if (sb_event_type_is(ev, k->transferred)) {
    /* each transfer once: by its time */
    for (int32_t i = 0; i < c->nxfer; i++)
      if (c->xfer_us[i] == t)
        return;
    if (c->nxfer < CALL_XFER_MAX)
      c->xfer_us[c->nxfer++] = t;
  } else if (sb_event_type_is(ev, k->abandoned)) {
    c->flags |= C_ABANDONED;
    c->abandoned_us = an_min_t(c->abandoned_us, t);
    if (sb_event_has(ev, k->ab_queue))
      c->flags |= C_QUEUED;
    max_ms(&c->wait_ab_ms, opt_ms(ev, k->ab_wait));
    an_pick(c->queue, AN_ID_MAX, &c->p_queue, sb_event_str(ev, k->ab_queue),
            2);
    an_pick(c->campaign, AN_ID_MAX, &c->p_campaign,
            sb_event_str(ev, k->ab_campaign), 2);
  } else if (sb_event_type_is(ev, k->ended)) {
    c->flags |= C_ENDED;
    if (c->ended_us == 0 || t > c->ended_us)
      c->ended_us = t;
    if (sb_event_has(ev, k->en_started))
      c->start_us = an_min_t(c->start_us, sb_event_i64(ev, k->en_started));
    if (sb_event_has(ev, k->en_answered)) {
      c->flags |= C_CONNECTED;
      c->connected_us =
          an_min_t(c->connected_us, sb_event_i64(ev, k->en_answered));
    }
    const char *reason = sb_event_enum_name(ev, k->en_reason);
    if (reason && strcmp(reason, "abandoned") == 0)
      c->flags |= C_ABANDONED;
    if (sb_event_has(ev, k->en_queue))
      c->flags |= C_QUEUED;
    max_ms(&c->wait_end_ms, opt_ms(ev, k->en_wait));
    max_ms(&c->talk_ms, opt_ms(ev, k->en_talk));
    max_ms(&c->hold_ms, opt_ms(ev, k->en_hold));
    an_pick(c->dir, sizeof c->dir, &c->p_dir,
            sb_event_enum_name(ev, k->en_dir), 5);
    an_pick(c->queue, AN_ID_MAX, &c->p_queue, sb_event_str(ev, k->en_queue),
            5);
    an_pick(c->campaign, AN_ID_MAX, &c->p_campaign,
            sb_event_str(ev, k->en_campaign), 5);
    an_pick(c->agent, AN_ID_MAX, &c->p_agent, sb_event_str(ev, k->en_agent),
            5);
  } else if (sb_event_type_is(ev, k->disp)) {
    c->flags |= C_DISPO;
    an_pick(c->disp, sizeof c->disp, &c->p_disp,
            sb_event_enum_name(ev, k->di_disp), 1);
    max_ms(&c->wrap_ms, opt_ms(ev, k->di_wrap));
    max_ms(&c->sale_cents, opt_ms(ev, k->di_sale));
    an_pick(c->campaign, AN_ID_MAX, &c->p_campaign,
            sb_event_str(ev, k->di_campaign), 1);
    an_pick(c->agent, AN_ID_MAX, &c->p_agent, sb_event_str(ev, k->di_agent),
            1);
  }
}

static void call_init(call_t *c) {
  memset(c, 0, sizeof *c);
  c->ver = CALL_VER;
  c->wait_conn_ms = c->wait_ab_ms = c->wait_end_ms = -1;
  c->talk_ms = c->hold_ms = c->wrap_ms = c->sale_cents = -1;
}

static int load(sb_batch_t *b, const char *key, call_t *c) {
  const void *v;
  size_t len;
  if (sb_state_get(b, key, &v, &len) == 0 &&
      (len == sizeof *c || len == CALL_V2_SIZE)) {
    call_init(c);
    memcpy(c, v, len);
    /* 1: counted with analytics.service_level_s (sl_s 0); 1 and 2: no
     * offer known (offered_us 0, ring_agent "") */
    if (c->ver == 1u || c->ver == 2u)
      c->ver = CALL_VER;
    if (c->ver == CALL_VER)
      return 1;
  }
  call_init(c);
  return 0;
}

static const char *call_id_of(an_calls_t *k, const sb_event_t *ev) {
  const sb_field_t *ids[] = {&k->st_id, &k->qu_id, &k->of_id, &k->co_id,
                             &k->tr_id, &k->ab_id, &k->en_id, &k->di_id};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if (ids[i]->type == ev->type)
      return sb_event_str(ev, *ids[i]);
  return NULL;
}

int an_calls_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                   sb_err_t *err) {
  an_calls_t *k = a->calls;
  const char *id = call_id_of(k, ev);
  *mine = id != NULL || (ev->topic && strcmp(ev->topic, SB_TOPIC_CALLS) == 0);
  if (id == NULL)
    return 0;
  char key[AN_ID_MAX + 80];
  int n = snprintf(key, sizeof key, "c/%s/%s", ev->tenant_id, id);
  if (n < 0 || (size_t)n >= sizeof key)
    return sb_err_set(err, SB_EINVAL, "analytics: call id too long");
  call_t old, now;
  int had = load(b, key, &old);
  now = old;
  fold(k, &now, ev);
  now.sl_s = sl_of(a, b, ev->tenant_id, &now);
  if (had && memcmp(&old, &now, sizeof now) == 0)
    return 0; /* a duplicate: nothing new */
  if ((had && contrib(a, b, ev->tenant_id, &old, -1, err) != 0) ||
      contrib(a, b, ev->tenant_id, &now, 1, err) != 0 ||
      live_row(b, ev->tenant_id, id, &now, 0, err) != 0 ||
      sb_state_put(b, key, &now, sizeof now, err) != 0)
    return err->code;
  if (!had || complete(&old) != complete(&now) ||
      (old.flags & C_ENDED) != (now.flags & C_ENDED))
    return sb_timer_set(b, key, due_of(a, ev->topic, ev->partition, &now),
                        kind_of(&now), err);
  return 0;
}

int an_calls_timer(an_t *a, sb_batch_t *b, const sb_timer_t *t,
                   sb_err_t *err) {
  call_t c;
  if (!load(b, t->key, &c))
    return 0;
  const char *tenant = t->key + 2, *slash = strchr(tenant, '/');
  char tn[AN_ID_MAX];
  if (slash == NULL || (size_t)(slash - tenant) >= sizeof tn)
    return sb_state_del(b, t->key, err);
  memcpy(tn, tenant, (size_t)(slash - tenant));
  tn[slash - tenant] = '\0';
  if (complete(&c)) /* kept long enough */
    return sb_state_del(b, t->key, err);
  if (!(c.flags & C_ENDED)) /* never ended: forgotten, off the live calls */
    return live_row(b, tn, slash + 1, &c, 1, err) != 0
               ? err->code
               : sb_state_del(b, t->key, err);
  /* no disposition in time: attributed without one */
  c.flags |= C_EXPIRED;
  c.sl_s = sl_of(a, b, tn, &c);
  if (contrib(a, b, tn, &c, 1, err) != 0 ||
      sb_state_put(b, t->key, &c, sizeof c, err) != 0)
    return err->code;
  return sb_timer_set(b, t->key, due_of(a, t->topic, t->partition, &c),
                      kind_of(&c), err);
}
