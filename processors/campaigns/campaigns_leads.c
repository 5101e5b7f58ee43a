/* The campaigns processor's lead side: when each lead may be dialled,
 * its attempts, and recycling (see campaigns.c for the whole).
 *
 * A lead's calling hours are judged in its own zone: the lead's
 * time_zone when it names a zone, else phone_tz (filled by ingest from
 * the phone number's prefix before the number is sealed), else the
 * campaign's zone, else UTC; lead_attempts.zone_source says which. Its
 * campaign's settings come from the global table of sb.campaigns as it
 * stands when the lead's event is handled (a lead that names a campaign
 * not seen yet is judged by every-day windows and the defaults: 3
 * attempts, an hour apart).
 *
 * call.dispositioned lives on the call's partition of sb.calls, the lead
 * on its own of sb.leads: the processor copies each disposition that
 * names a lead into lead.attempt_recorded (derived id, keyed by the lead,
 * as Kafka Streams repartitions), and counts attempts when that arrives on
 * the lead's partition, where the lead's keyed state is. The last 4
 * call ids counted are kept, so a disposition seen twice counts once.
 *
 * After a non-final disposition the lead waits until both the retry delay
 * (and any callback_at) has passed and its window is open
 * (sb_cw_next_opening), on a wall-clock timer; when the timer fires the
 * processor emits lead.recycled (recycle_count, attempt_count,
 * next_attempt_at) and the lead is ready again with recycled = true,
 * which puts it ahead of fresh leads (sb_cw_rank_cmp). A final disposition
 * ends its attempts (done); max_attempts non-final ones too (exhausted).
 * A new lead outside its window is held with a timer at the next opening. */
#include "campaigns_int.h"

#include <stdio.h>
#include <string.h>

enum { LS_READY, LS_HELD, LS_WAITING, LS_DONE, LS_EXHAUSTED, LS_NEVER };
static const char *const status_names[] = {"ready", "held",
                                           "waiting", "done", "exhausted",
                                           "never"};
#define SEEN_MAX 4

typedef struct {
  int32_t ver, status, attempts, recycles, recycled, priority, has_priority;
  int32_t nseen;
  int64_t next_at, last_attempt_at;
  uint64_t seen[SEEN_MAX];
  char campaign[CP_ID_MAX + 1];
  char tz[SB_TZ_NAME_MAX + 1], phone_tz[SB_TZ_NAME_MAX + 1];
  char last_disp[40];
} lead_t;
#define LEAD_VER 1

#define R SB_MERGE_REPLACE

const sb_table_def_t cp_lead_table = {
    .name = "lead_attempts",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"lead_id", SB_COL_TEXT, 0},
                               {"campaign_id", SB_COL_TEXT, R},
                               {"zone", SB_COL_TEXT, R},
                               {"zone_source", SB_COL_TEXT, R},
                               {"attempts", SB_COL_INT4, R},
                               {"max_attempts", SB_COL_INT4, R},
                               {"recycles", SB_COL_INT4, R},
                               {"status", SB_COL_TEXT, R},
                               {"next_attempt_at", SB_COL_TIMESTAMPTZ, R},
                               {"last_disposition", SB_COL_TEXT, R},
                               {"last_attempt_at", SB_COL_TIMESTAMPTZ, R},
                               {"recycled", SB_COL_BOOL, R},
                               {"priority", SB_COL_INT4, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "lead_id", NULL},
};

static const char *status_name(int s) {
  return status_names[s];
}

/* Dispositions after which a lead is not dialled again. The others
 * (no_answer, busy, voicemail_left, answering_machine, callback_requested,
 * interested) are tried again after the retry delay. "other" ends them:
 * an outcome the tenant did not classify is not redialled. */
static int final_disposition(const char *d) {
  static const char *const retry[] = {"no_answer", "busy", "voicemail_left",
                                      "answering_machine",
                                      "callback_requested", "interested"};
  for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++)
    if (strcmp(d, retry[i]) == 0)
      return 0;
  return 1;
}

static uint64_t fnv(const char *s) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
  return h;
}

/* ---- where and when ------------------------------------------------------- */

typedef struct {
  camp_t c;
  int have_c;
  sb_cw_window_t w;
  const sb_tz_t *tz; /* the lead's zone: NULL for UTC */
  const char *zone, *zone_src;
} place_t;

static int where(sb_batch_t *b, const char *tenant, const lead_t *l,
                 place_t *p, sb_err_t *err) {
  memset(p, 0, sizeof *p);
  p->have_c = l->campaign[0] &&
              cp_campaign_find(b, tenant, l->campaign, &p->c) == 0;
  if (p->have_c) {
    if (cp_window(&p->c, &p->w, err) != 0)
      return err->code;
  } else {
    sb_cw_all_day(&p->w, NULL);
  }
  sb_err_t e = SB_ERR_INIT;
  if (l->tz[0] && sb_tz_load(l->tz, &p->tz, &e) == 0)
    p->zone = l->tz, p->zone_src = "lead";
  else if (l->phone_tz[0] && sb_tz_load(l->phone_tz, &p->tz, &e) == 0)
    p->zone = l->phone_tz, p->zone_src = "phone";
  else if (p->w.tz != NULL)
    p->tz = p->w.tz, p->zone = p->c.tz, p->zone_src = "campaign";
  else
    p->tz = NULL, p->zone = "UTC", p->zone_src = "utc";
  return 0;
}

/* The lead's timer key. */
static int lkey(char *buf, size_t sz, const char *tenant, const char *lead,
                sb_err_t *err) {
  return cp_key(buf, sz, 'L', tenant, lead, err);
}

/* Waits until `from` and the window: status st (held or waiting) with a
 * timer at the opening, or ready when the window is open at `from`
 * (ready only for a held lead: a waiting one still fires to be recycled),
 * or never. */
static int wait_for(sb_batch_t *b, const char *key, lead_t *l,
                    const place_t *p, int st, int64_t from, sb_err_t *err) {
  int64_t at;
  if (sb_cw_next_opening(&p->w, p->tz, from, &at) != 0) {
    l->status = LS_NEVER;
    l->next_at = 0;
    return sb_timer_cancel(b, key, err);
  }
  if (st == LS_HELD && at == from) {
    l->status = LS_READY;
    l->next_at = from;
    return sb_timer_cancel(b, key, err);
  }
  l->status = st;
  l->next_at = at;
  return sb_timer_set(b, key, at, SB_TIMER_WALL, err);
}

static int write_lead(sb_batch_t *b, const char *tenant, const char *lead,
                      const char *key, const lead_t *l, const place_t *p,
                      sb_err_t *err) {
  sb_val_t none = SB_V_NULL;
  if (sb_state_put(b, key, l, sizeof *l, err) != 0)
    return err->code;
  return sb_rows_add(
      b, &cp_lead_table,
      (const sb_val_t[]){
          SB_V_TEXT(tenant), SB_V_TEXT(lead),
          SB_V_TEXT(l->campaign[0] ? l->campaign : NULL), SB_V_TEXT(p->zone),
          SB_V_TEXT(p->zone_src), SB_V_INT4(l->attempts),
          SB_V_INT4(cp_max_attempts(p->have_c ? &p->c : NULL)),
          SB_V_INT4(l->recycles), SB_V_TEXT(status_name(l->status)),
          l->next_at ? (sb_val_t)SB_V_TIMESTAMPTZ(l->next_at) : none,
          SB_V_TEXT(l->last_disp[0] ? l->last_disp : NULL),
          l->last_attempt_at ? (sb_val_t)SB_V_TIMESTAMPTZ(l->last_attempt_at)
                             : none,
          SB_V_BOOL(l->recycled),
          l->has_priority ? (sb_val_t)SB_V_INT4(l->priority) : none},
      err);
}

static int load_lead(sb_batch_t *b, const char *key, lead_t *l) {
  const void *v;
  size_t len;
  if (sb_state_get(b, key, &v, &len) != 0 || len != sizeof *l) {
    memset(l, 0, sizeof *l);
    l->ver = LEAD_VER;
    l->status = LS_HELD; /* placed by the caller */
    return SB_ENOENT;
  }
  memcpy(l, v, sizeof *l);
  return 0;
}

/* ---- events ------------------------------------------------------------- */

static int listed(const cp_t *x, const sb_event_t *ev, int t,
                  const char *name) {
  if (t != T_LUPDATED)
    return 1;
  sb_field_t h = x->f[t][F_CHANGED];
  for (size_t i = 0, n = sb_event_count(ev, h); i < n; i++)
    if (strcmp(sb_event_str_at(ev, h, i), name) == 0)
      return 1;
  return 0;
}

static void copy(char *dst, size_t sz, const char *v) {
  snprintf(dst, sz, "%s", v ? v : "");
}

/* lead.created / lead.updated: the lead's campaign, zone and priority. */
static int on_lead(cp_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                   const char *lead, const char *key, sb_err_t *err) {
  lead_t l;
  place_t p;
  int fresh = load_lead(b, key, &l) != 0;
  if (fresh && t == T_LUPDATED && !listed(x, ev, t, "campaign_id"))
    return 0; /* a lead we never saw placed in no campaign: not ours */
  if (listed(x, ev, t, "campaign_id"))
    copy(l.campaign, sizeof l.campaign, cp_str(x, ev, t, F_CAMPAIGN_ID));
  if (listed(x, ev, t, "time_zone"))
    copy(l.tz, sizeof l.tz, cp_str(x, ev, t, F_TIME_ZONE));
  if (listed(x, ev, t, "phone_tz") || listed(x, ev, t, "phone"))
    copy(l.phone_tz, sizeof l.phone_tz, cp_str(x, ev, t, F_PHONE_TZ));
  if (listed(x, ev, t, "priority")) {
    l.has_priority = sb_event_has(ev, x->f[t][F_PRIORITY]);
    l.priority = (int32_t)sb_event_i64(ev, x->f[t][F_PRIORITY]);
  }
  if (where(b, ev->tenant_id, &l, &p, err) != 0)
    return err->code;
  int rc = 0;
  if (l.status == LS_HELD || l.status == LS_READY || l.status == LS_NEVER)
    rc = wait_for(b, key, &l, &p, LS_HELD, ev->occurred_at, err);
  else if (l.status == LS_WAITING) /* the window may have moved */
    rc = wait_for(b, key, &l, &p, LS_WAITING, l.next_at, err);
  return rc != 0 ? rc : write_lead(b, ev->tenant_id, lead, key, &l, &p, err);
}

/* call.dispositioned, on the call's partition: copied to the lead's. */
static int on_disposition(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                          sb_err_t *err) {
  const char *lead = cp_str(x, ev, T_DISP, F_LEAD_ID);
  const char *disp = cp_str(x, ev, T_DISP, F_DISPOSITION);
  const char *call = cp_str(x, ev, T_DISP, F_CALL_ID);
  if (lead == NULL || disp == NULL || call == NULL)
    return 0; /* not about a lead: no attempt to count */
  sb_field_t *f = x->f[T_ATTEMPT];
  sb_build_t *e = sb_emit_begin(b, x->t[T_ATTEMPT]);
  sb_build_str(e, f[F_LEAD_ID], lead);
  sb_build_str(e, f[F_CALL_ID], call);
  sb_build_str(e, f[F_DISPOSITION], disp);
  sb_build_bool(e, f[F_FINAL], final_disposition(disp));
  const char *camp = cp_str(x, ev, T_DISP, F_CAMPAIGN_ID);
  const char *agent = cp_str(x, ev, T_DISP, F_AGENT_ID);
  if (camp)
    sb_build_str(e, f[F_CAMPAIGN_ID], camp);
  if (agent)
    sb_build_str(e, f[F_AGENT_ID], agent);
  if (sb_event_has(ev, x->f[T_DISP][F_CALLBACK_AT]))
    sb_build_i64(e, f[F_CALLBACK_AT],
                 sb_event_i64(ev, x->f[T_DISP][F_CALLBACK_AT]));
  return sb_emit_end(b, e, NULL, err);
}

/* lead.attempt_recorded, on the lead's partition: counted once per call. */
static int on_attempt(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                      const char *lead, const char *key, sb_err_t *err) {
  const char *call = cp_str(x, ev, T_ATTEMPT, F_CALL_ID);
  const char *disp = cp_str(x, ev, T_ATTEMPT, F_DISPOSITION);
  if (call == NULL || disp == NULL)
    return sb_err_set(err, SB_EVALIDATE, "lead.attempt_recorded %s: no "
                      "call_id or disposition", ev->event_id);
  lead_t l;
  place_t p;
  if (load_lead(b, key, &l) != 0)
    copy(l.campaign, sizeof l.campaign,
         cp_str(x, ev, T_ATTEMPT, F_CAMPAIGN_ID));
  uint64_t h = fnv(call);
  for (int i = 0; i < l.nseen; i++)
    if (l.seen[i] == h)
      return 0; /* this call was counted */
  if (l.nseen == SEEN_MAX)
    memmove(l.seen, l.seen + 1, (SEEN_MAX - 1) * sizeof l.seen[0]), l.nseen--;
  l.seen[l.nseen++] = h;
  l.attempts++;
  l.last_attempt_at = ev->occurred_at;
  l.recycled = 0;
  copy(l.last_disp, sizeof l.last_disp, disp);
  if (where(b, ev->tenant_id, &l, &p, err) != 0)
    return err->code;
  int rc;
  if (sb_event_bool(ev, x->f[T_ATTEMPT][F_FINAL])) {
    l.status = LS_DONE, l.next_at = 0;
    rc = sb_timer_cancel(b, key, err);
  } else if (l.attempts >= cp_max_attempts(p.have_c ? &p.c : NULL)) {
    l.status = LS_EXHAUSTED, l.next_at = 0;
    rc = sb_timer_cancel(b, key, err);
  } else {
    int64_t from = ev->occurred_at +
                   (int64_t)cp_retry_s(p.have_c ? &p.c : NULL) * 1000000;
    sb_field_t cb = x->f[T_ATTEMPT][F_CALLBACK_AT];
    if (sb_event_has(ev, cb) && sb_event_i64(ev, cb) > from)
      from = sb_event_i64(ev, cb);
    rc = wait_for(b, key, &l, &p, LS_WAITING, from, err);
  }
  return rc != 0 ? rc : write_lead(b, ev->tenant_id, lead, key, &l, &p, err);
}

/* A lead.recycled a manager posted: a new round of attempts now (its own,
 * read back, were applied when emitted). */
static int on_recycled(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                       const char *lead, const char *key, sb_err_t *err) {
  if (cp_own(x, ev, T_RECYCLED))
    return 0;
  lead_t l;
  place_t p;
  load_lead(b, key, &l);
  const char *camp = cp_str(x, ev, T_RECYCLED, F_CAMPAIGN_ID);
  if (camp)
    copy(l.campaign, sizeof l.campaign, camp);
  l.attempts = 0;
  l.recycles++;
  l.recycled = 1;
  if (where(b, ev->tenant_id, &l, &p, err) != 0 ||
      wait_for(b, key, &l, &p, LS_HELD, ev->occurred_at, err) != 0)
    return err->code;
  return write_lead(b, ev->tenant_id, lead, key, &l, &p, err);
}

int cp_lead_event(cp_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                  sb_err_t *err) {
  if (t == T_DISP)
    return on_disposition(x, b, ev, err);
  const char *lead = cp_str(x, ev, t, F_LEAD_ID);
  char key[CP_ID_MAX * 2 + 8];
  if (lead == NULL)
    return sb_err_set(err, SB_EVALIDATE, "%s: no lead_id",
                      sb_evtype_name(ev->type));
  if (lkey(key, sizeof key, ev->tenant_id, lead, err) != 0)
    return err->code;
  if (t == T_ATTEMPT)
    return on_attempt(x, b, ev, lead, key, err);
  if (t == T_RECYCLED)
    return on_recycled(x, b, ev, lead, key, err);
  return on_lead(x, b, ev, t, lead, key, err);
}

/* The lead's timer: its window opened (held), or its retry time came
 * (waiting: lead.recycled). Judged at the due time, so a replay decides
 * the same; a window that moved meanwhile moves the timer. */
int cp_lead_timer(cp_t *x, sb_batch_t *b, const sb_timer_t *tm,
                  sb_err_t *err) {
  char tenant[72], lead[CP_ID_MAX + 1];
  lead_t l;
  place_t p;
  if (cp_key_split(tm->key, tenant, sizeof tenant, lead, sizeof lead) != 0)
    return sb_err_set(err, SB_EINVAL, "campaigns: timer key %s", tm->key);
  if (load_lead(b, tm->key, &l) != 0 ||
      (l.status != LS_HELD && l.status != LS_WAITING))
    return 0;
  if (where(b, tenant, &l, &p, err) != 0)
    return err->code;
  int64_t at;
  if (sb_cw_next_opening(&p.w, p.tz, tm->due_us, &at) != 0 ||
      at != tm->due_us) { /* the window moved: wait for it */
    if (wait_for(b, tm->key, &l, &p, l.status, tm->due_us, err) != 0)
      return err->code;
    return write_lead(b, tenant, lead, tm->key, &l, &p, err);
  }
  if (l.status == LS_WAITING) {
    char reason[128];
    snprintf(reason, sizeof reason, "retry after %s (attempt %d of %d)",
             l.last_disp, l.attempts + 1,
             cp_max_attempts(p.have_c ? &p.c : NULL));
    l.recycles++;
    l.recycled = 1;
    sb_field_t *f = x->f[T_RECYCLED];
    sb_build_t *e = sb_emit_begin(b, x->t[T_RECYCLED]);
    sb_build_str(e, f[F_LEAD_ID], lead);
    sb_build_str(e, f[F_REASON], reason);
    sb_build_enum(e, f[F_STATUS], "recycled");
    if (l.campaign[0])
      sb_build_str(e, f[F_CAMPAIGN_ID], l.campaign);
    sb_build_i64(e, f[F_RECYCLE_COUNT], l.recycles);
    sb_build_i64(e, f[F_ATTEMPT_COUNT], l.attempts);
    sb_build_i64(e, f[F_NEXT_ATTEMPT_AT], tm->due_us);
    /* the id: (timer key, due time, this recycle's number): two retries
     * can wait for the same opening (two no-answers in one night), and
     * each is its own decision */
    char disc[32];
    snprintf(disc, sizeof disc, "recycle-%d", l.recycles);
    sb_emit_t o = {.tenant_id = tenant, .discriminator = disc};
    if (sb_emit_end(b, e, &o, err) != 0)
      return err->code;
  }
  l.status = LS_READY;
  l.next_at = tm->due_us;
  return write_lead(b, tenant, lead, tm->key, &l, &p, err);
}
