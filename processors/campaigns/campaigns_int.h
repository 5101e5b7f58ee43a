/* The campaigns processor's parts: campaigns.c (tables, the lifecycle,
 * the global table of campaign settings) and campaigns_leads.c (leads'
 * calling hours, attempts and recycling). Internal to the processor. */
#ifndef SB_CAMPAIGNS_INT_H
#define SB_CAMPAIGNS_INT_H

#include "callwindow.h"
#include "sb_processor.h"

#include <stdint.h>

#define CP_NAME "campaigns"
#define CP_SOURCE "switchboard://processor/campaigns" /* its own events */
#define CP_DEFAULT_MAX_ATTEMPTS 3
#define CP_DEFAULT_RETRY_S 3600
#define CP_ID_MAX 128 /* bytes of an id the state keeps (sb.maxLength) */

enum {
  T_CREATED, T_UPDATED, T_STATE, T_LCREATED, T_LUPDATED, T_DISP, T_ATTEMPT,
  T_RECYCLED, T_N
};

enum {
  F_CAMPAIGN_ID, F_NAME, F_STATE, F_PREV_STATE, F_REASON, F_STARTS_AT,
  F_ENDS_AT, F_TIME_ZONE, F_WIN_START, F_WIN_END, F_DIAL_DAYS, F_DIAL_WINDOWS,
  F_MAX_ATTEMPTS, F_RETRY_S, F_CHANGED, F_SOURCE, F_LEAD_ID, F_PHONE_TZ,
  F_CALL_ID, F_DISPOSITION, F_FINAL, F_AGENT_ID, F_CALLBACK_AT, F_PRIORITY,
  F_STATUS, F_RECYCLE_COUNT, F_ATTEMPT_COUNT, F_NEXT_ATTEMPT_AT, F_N
};

typedef struct cp_s {
  sb_etype_ref_t t[T_N];
  sb_field_t f[T_N][F_N]; /* zero where the type has no such field */
  /* routing.input: a campaign's gate, handed to the assignment processor */
  sb_etype_ref_t t_input;
  sb_field_t fin[4]; /* route_key, kind, ref_id, payload */
} cp_t;

/* A campaign's settings and lifecycle, as keyed state (its partition of
 * sb.campaigns) and as the global table "campaigns" holds them. */
typedef struct camp_s {
  int32_t ver;                    /* CAMP_VER */
  int32_t state;                  /* sb_cw_state_t */
  int64_t starts_at, ends_at;     /* 0: none */
  int64_t state_at;               /* when it entered state */
  int32_t max_attempts, retry_s;  /* 0 / -1: none given (the defaults) */
  char tz[SB_TZ_NAME_MAX + 1];    /* "" : the tenant's zone is not used: UTC */
  char windows[SB_CW_TEXT_MAX];   /* sb_cw_format's text */
  char name[1025];
} camp_t;
#define CAMP_VER 1

static inline int cp_max_attempts(const camp_t *c) {
  return c && c->max_attempts > 0 ? c->max_attempts : CP_DEFAULT_MAX_ATTEMPTS;
}
static inline int cp_retry_s(const camp_t *c) {
  return c && c->retry_s >= 0 ? c->retry_s : CP_DEFAULT_RETRY_S;
}

extern const sb_global_def_t cp_globals[];

/* A string or enum field's text; NULL when absent or empty. */
const char *cp_str(const cp_t *x, const sb_event_t *ev, int t, int f);
/* 1 when the event came from this processor (its derived events). */
int cp_own(const cp_t *x, const sb_event_t *ev, int t);
/* The campaign's window (zone loaded); SB_EINVAL for stored text that
 * does not parse (never: it was checked when stored). */
int cp_window(const camp_t *c, sb_cw_window_t *w, sb_err_t *err);
/* The campaign tenant/id from the global table, or SB_ENOENT. */
int cp_campaign_find(sb_batch_t *b, const char *tenant, const char *id,
                     camp_t *out);
/* "K|tenant|id" into buf; SB_EVALIDATE when too long. */
int cp_key(char *buf, size_t sz, char kind, const char *tenant,
           const char *id, sb_err_t *err);
/* Splits a key back: tenant and id into the buffers. */
int cp_key_split(const char *key, char *tenant, size_t tsz, char *id,
                 size_t isz);

/* campaigns_leads.c */
int cp_lead_event(cp_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                  sb_err_t *err);
int cp_lead_timer(cp_t *x, sb_batch_t *b, const sb_timer_t *tm, sb_err_t *err);
extern const sb_table_def_t cp_lead_table;

#endif
