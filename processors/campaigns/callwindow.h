/* Calling windows: when a campaign may dial a lead. Pure functions over
 * the kit's types only (sb_processor.h: sb_tz_t, sb_err_t), so the
 * routing processor can include this header and ask the same questions
 * the campaigns processor answers.
 *
 * A lead is callable at an instant when both hold:
 *   - the campaign's dial window: the local weekday and minute in the
 *     campaign's zone fall in one of that weekday's spans [start, end)
 *     (minutes after local midnight; a span never crosses midnight: say
 *     "mon 22:00-24:00" and "tue 00:00-02:00");
 *   - the TCPA's calling hours: 08:00 <= the lead's local time < 21:00
 *     (the last callable minute is 20:59), in the lead's own zone.
 * Both are judged by the local clock's minute (seconds ignored), through
 * the kit's zones (sb_tz.h), so DST days are exact: on a spring-forward
 * day 02:30 does not exist and is never callable; on a fall-back day the
 * repeated hour is judged by the clock as it reads each time.
 *
 * Nothing here allocates or reads files; a window holds its zone as a
 * borrowed sb_tz_t (sb_tz_load's cache lives for the process). */
#ifndef SB_CALLWINDOW_H
#define SB_CALLWINDOW_H

#include "sb_processor.h"

#include <stdint.h>

#define SB_CW_SPANS_MAX 4      /* spans per weekday */
#define SB_CW_TCPA_START 480   /* 08:00 */
#define SB_CW_TCPA_END 1260    /* 21:00, exclusive */
#define SB_CW_MINUTE_US INT64_C(60000000)
/* next_opening looks this far ahead (a window that opens less often than
 * weekly never opens) */
#define SB_CW_HORIZON_US (INT64_C(8) * 86400 * 1000000)
/* the text of a window (sb_cw_format): 7 days x SB_CW_SPANS_MAX spans */
#define SB_CW_TEXT_MAX 512

typedef struct sb_cw_span_s {
  int16_t start, end; /* minutes after local midnight, 0 <= start < end <= 1440 */
} sb_cw_span_t;

typedef struct sb_cw_window_s {
  const sb_tz_t *tz; /* the campaign's zone (borrowed); NULL: UTC */
  uint8_t n[7];      /* spans of each weekday, 0 Monday .. 6 Sunday */
  sb_cw_span_t span[7][SB_CW_SPANS_MAX];
} sb_cw_window_t;

/* Every minute of every day (the TCPA hours still apply). */
void sb_cw_all_day(sb_cw_window_t *w, const sb_tz_t *tz);

/* Adds spans from text items, each "DAY HH:MM-HH:MM" (DAY mon..sun, or
 * "all" for every day; 24:00 ends a day), e.g. "mon 09:00-17:30". Spans
 * of a day are kept sorted and merged where they overlap. SB_EINVAL
 * naming the item and what is wrong: an unknown day, a time out of range,
 * an end not after its start, more than SB_CW_SPANS_MAX spans a day. */
int sb_cw_add(sb_cw_window_t *w, const char *item, sb_err_t *err);
/* The old form of campaign.created: one span [start_min, end_min) on the
 * days named (mon..sun; all seven when days is NULL or n is 0). */
int sb_cw_add_days(sb_cw_window_t *w, int start_min, int end_min,
                   const char *const *days, size_t n, sb_err_t *err);
/* The window as text, "mon 09:00-17:00,tue ..." (days without spans
 * left out; "" for none): what sb_cw_add reads back item by item. */
void sb_cw_format(const sb_cw_window_t *w, char out[SB_CW_TEXT_MAX]);

/* 1 when a lead whose zone is lead_tz (NULL: the campaign's zone) may be
 * called at t_us (UTC micros), 0 otherwise. */
int sb_cw_callable_at(const sb_cw_window_t *w, const sb_tz_t *lead_tz,
                      int64_t t_us);
/* The first instant at or after t_us at which the lead is callable: t_us
 * itself when it is, otherwise the start of the first callable minute
 * (a whole UTC minute). SB_ENOENT when none within SB_CW_HORIZON_US (no
 * span meets the lead's 08:00-21:00). */
int sb_cw_next_opening(const sb_cw_window_t *w, const sb_tz_t *lead_tz,
                       int64_t t_us, int64_t *out);

/* Weekday of a local day (days since 1970-01-01): 0 Monday .. 6 Sunday. */
int sb_cw_weekday(int64_t day);

/* ---- campaign lifecycle ------------------------------------------------ */

/* The lifecycle states, as the CampaignState enum spells them. */
typedef enum {
  SB_CW_DRAFT, SB_CW_SCHEDULED, SB_CW_ACTIVE, SB_CW_PAUSED, SB_CW_COMPLETED,
  SB_CW_CANCELLED, SB_CW_ARCHIVED, SB_CW_STATE_N
} sb_cw_state_t;

const char *sb_cw_state_name(sb_cw_state_t s);
/* -1 for a name that is none of them. */
int sb_cw_state_of(const char *name);
/* 1 when from -> to is a legal move:
 *   draft -> scheduled | cancelled
 *   scheduled -> active | completed | draft | cancelled
 *   active -> paused | completed | cancelled
 *   paused -> active | completed | cancelled
 *   completed | cancelled -> archived
 * (nothing from archived; never to the same state). Otherwise 0 and, when
 * why is not NULL, the reason ("paused -> scheduled is not allowed; from
 * paused: active, completed, cancelled"). */
int sb_cw_transition_ok(sb_cw_state_t from, sb_cw_state_t to, char *why,
                        size_t whysz);

/* ---- the order waiting leads are dialled in ----------------------------- */

/* What ranks a waiting lead: recycled leads go ahead of fresh ones (as
 * VICIdial's "recycled leads first"), then the earlier ready time, then
 * the higher priority, then the lead id (a stable tie-break). */
typedef struct sb_cw_rank_s {
  int recycled;
  int64_t ready_at;
  int priority;
  const char *lead_id;
} sb_cw_rank_t;

/* < 0 when a goes before b, > 0 after, 0 for the same lead. */
int sb_cw_rank_cmp(const sb_cw_rank_t *a, const sb_cw_rank_t *b);

#endif
