/* Calling windows: see callwindow.h. */
#include "callwindow.h"

#include <stdio.h>
#include <string.h>

static const char *const day_names[7] = {"mon", "tue", "wed", "thu",
                                         "fri", "sat", "sun"};

int sb_cw_weekday(int64_t day) { /* 1970-01-01 was a Thursday (3) */
  return (int)(((day % 7) + 7 + 3) % 7);
}

void sb_cw_all_day(sb_cw_window_t *w, const sb_tz_t *tz) {
  memset(w, 0, sizeof *w);
  w->tz = tz;
  for (int d = 0; d < 7; d++) {
    w->n[d] = 1;
    w->span[d][0] = (sb_cw_span_t){0, 1440};
  }
}

/* Inserts [s, e) into day d, sorted, merged with the spans it meets. */
static int add_span(sb_cw_window_t *w, int d, int s, int e, const char *item,
                    sb_err_t *err) {
  sb_cw_span_t all[SB_CW_SPANS_MAX + 1];
  int n = 0, placed = 0;
  for (int i = 0; i < w->n[d]; i++) {
    sb_cw_span_t x = w->span[d][i];
    if (x.end < s || x.start > e) { /* apart */
      if (!placed && x.start > e) {
        all[n++] = (sb_cw_span_t){(int16_t)s, (int16_t)e};
        placed = 1;
      }
      all[n++] = x;
    } else { /* overlapping or touching: merge into [s, e) */
      s = x.start < s ? x.start : s;
      e = x.end > e ? x.end : e;
    }
  }
  if (!placed)
    all[n++] = (sb_cw_span_t){(int16_t)s, (int16_t)e};
  if (n > SB_CW_SPANS_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "dial window \"%s\": more than %d spans on %s", item,
                      SB_CW_SPANS_MAX, day_names[d]);
  memcpy(w->span[d], all, (size_t)n * sizeof all[0]);
  w->n[d] = (uint8_t)n;
  return 0;
}

static int day_of(const char *s, size_t len) {
  for (int d = 0; d < 7; d++)
    if (len == 3 && strncmp(s, day_names[d], 3) == 0)
      return d;
  if (len == 3 && strncmp(s, "all", 3) == 0)
    return 7;
  return -1;
}

/* "HH:MM" at *p: minutes, or -1. */
static int hhmm(const char **p) {
  const char *s = *p;
  if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' ||
      s[3] < '0' || s[3] > '9' || s[4] < '0' || s[4] > '9')
    return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0))
    return -1;
  *p = s + 5;
  return h * 60 + m;
}

int sb_cw_add(sb_cw_window_t *w, const char *item, sb_err_t *err) {
  const char *sp = item ? strchr(item, ' ') : NULL;
  if (sp == NULL)
    return sb_err_set(err, SB_EINVAL,
                      "dial window \"%s\": want \"DAY HH:MM-HH:MM\" (DAY "
                      "mon..sun or all)",
                      item ? item : "");
  int d = day_of(item, (size_t)(sp - item));
  if (d < 0)
    return sb_err_set(err, SB_EINVAL,
                      "dial window \"%s\": unknown day \"%.*s\" (mon..sun or "
                      "all)",
                      item, (int)(sp - item), item);
  const char *p = sp + 1;
  int s = hhmm(&p);
  int e = s >= 0 && *p == '-' ? (p++, hhmm(&p)) : -1;
  if (s < 0 || e < 0 || *p != '\0')
    return sb_err_set(err, SB_EINVAL,
                      "dial window \"%s\": want HH:MM-HH:MM, 00:00 to 24:00",
                      item);
  if (e <= s)
    return sb_err_set(err, SB_EINVAL,
                      "dial window \"%s\": ends before it starts (a span "
                      "never crosses midnight: split it at 24:00)",
                      item);
  for (int k = d == 7 ? 0 : d; k < (d == 7 ? 7 : d + 1); k++)
    if (add_span(w, k, s, e, item, err) != 0)
      return err->code;
  return 0;
}

int sb_cw_add_days(sb_cw_window_t *w, int start_min, int end_min,
                   const char *const *days, size_t n, sb_err_t *err) {
  char item[64];
  if (start_min < 0 || end_min > 1440 || end_min <= start_min)
    return sb_err_set(err, SB_EINVAL,
                      "dial window %d-%d: want 0 <= start < end <= 1440 "
                      "minutes after local midnight",
                      start_min, end_min);
  for (size_t i = 0; i < (n ? n : 1); i++) {
    const char *day = n ? days[i] : "all";
    snprintf(item, sizeof item, "%.3s %02d:%02d-%02d:%02d", day ? day : "",
             start_min / 60, start_min % 60, end_min / 60, end_min % 60);
    if (day == NULL || strlen(day) != 3)
      return sb_err_set(err, SB_EINVAL, "dial day \"%s\": want mon..sun",
                        day ? day : "");
    if (sb_cw_add(w, item, err) != 0)
      return err->code;
  }
  return 0;
}

void sb_cw_format(const sb_cw_window_t *w, char out[SB_CW_TEXT_MAX]) {
  size_t o = 0;
  out[0] = '\0';
  for (int d = 0; d < 7; d++)
    for (int i = 0; i < w->n[d] && o + 20 < SB_CW_TEXT_MAX; i++) {
      sb_cw_span_t x = w->span[d][i];
      o += (size_t)snprintf(out + o, SB_CW_TEXT_MAX - o,
                            "%s%s %02d:%02d-%02d:%02d", o ? "," : "",
                            day_names[d], x.start / 60, x.start % 60,
                            x.end / 60, x.end % 60);
    }
}

/* The local day and minute of the day at t in tz (NULL: UTC). */
static void local_of(const sb_tz_t *tz, int64_t t, int64_t *day, int *minute) {
  int64_t off = tz ? sb_tz_offset(tz, t) : 0;
  int64_t s = t / 1000000 - (t % 1000000 < 0) + off;
  int64_t d = s / 86400 - (s % 86400 < 0);
  *day = d;
  *minute = (int)((s - d * 86400) / 60);
}

static int in_campaign(const sb_cw_window_t *w, int64_t t) {
  int64_t day;
  int m;
  local_of(w->tz, t, &day, &m);
  int wd = sb_cw_weekday(day);
  for (int i = 0; i < w->n[wd]; i++)
    if (m >= w->span[wd][i].start && m < w->span[wd][i].end)
      return 1;
  return 0;
}

static int in_tcpa(const sb_tz_t *tz, int64_t t) {
  int64_t day;
  int m;
  local_of(tz, t, &day, &m);
  return m >= SB_CW_TCPA_START && m < SB_CW_TCPA_END;
}

int sb_cw_callable_at(const sb_cw_window_t *w, const sb_tz_t *lead_tz,
                      int64_t t_us) {
  return in_campaign(w, t_us) && in_tcpa(lead_tz ? lead_tz : w->tz, t_us);
}

/* UTC of local (day, minute) in tz (NULL: UTC); a time in a gap moves
 * forward by the gap (sb_tz_utc_of_local). */
static int64_t utc_of(const sb_tz_t *tz, int64_t day, int minute) {
  if (tz == NULL)
    return (day * 86400 + minute * 60) * 1000000;
  int64_t y;
  int mon, d;
  sb_tz_civil_from_days(day, &y, &mon, &d);
  int64_t u = 0;
  sb_err_t e = SB_ERR_INIT;
  if (sb_tz_utc_of_local(tz, (int)y, mon, d, minute / 60, minute % 60, 0, &u,
                         &e) != 0)
    return INT64_MAX;
  return u;
}

/* The earliest instant after c at which a span of w starts or the lead's
 * 08:00 comes: where callability can turn on while no offset changes. */
static int64_t next_edge(const sb_cw_window_t *w, const sb_tz_t *lt,
                         int64_t c) {
  int64_t best = INT64_MAX, day;
  int m;
  local_of(w->tz, c, &day, &m);
  for (int64_t k = day - 1; k <= day + 8; k++) {
    int wd = sb_cw_weekday(k);
    for (int i = 0; i < w->n[wd]; i++) {
      int64_t u = utc_of(w->tz, k, w->span[wd][i].start);
      if (u > c && u < best)
        best = u;
    }
  }
  local_of(lt, c, &day, &m);
  for (int64_t k = day - 1; k <= day + 2; k++) {
    int64_t u = utc_of(lt, k, SB_CW_TCPA_START);
    if (u > c && u < best)
      best = u;
  }
  return best;
}

static int same_offsets(const sb_cw_window_t *w, const sb_tz_t *lt, int64_t a,
                        int64_t b) {
  return (w->tz == NULL || sb_tz_offset(w->tz, a) == sb_tz_offset(w->tz, b)) &&
         (lt == NULL || sb_tz_offset(lt, a) == sb_tz_offset(lt, b));
}

int sb_cw_next_opening(const sb_cw_window_t *w, const sb_tz_t *lead_tz,
                       int64_t t_us, int64_t *out) {
  const sb_tz_t *lt = lead_tz ? lead_tz : w->tz;
  if (sb_cw_callable_at(w, lt, t_us)) {
    *out = t_us;
    return 0;
  }
  /* the next whole minute: callability only changes on minute starts */
  int64_t c = t_us - (t_us % SB_CW_MINUTE_US + SB_CW_MINUTE_US) %
                         SB_CW_MINUTE_US + SB_CW_MINUTE_US;
  int64_t end = t_us + SB_CW_HORIZON_US;
  while (c <= end) {
    if (sb_cw_callable_at(w, lt, c)) {
      *out = c;
      return 0;
    }
    int64_t e = next_edge(w, lt, c);
    if (e == INT64_MAX)
      return SB_ENOENT;
    if (!same_offsets(w, lt, c, e)) {
      /* an offset changes before the edge: the local clocks jump, and
       * callability can turn on at the change or inside a skipped span;
       * walk the minutes (a few thousand at most, on DST days only) */
      for (int64_t u = c + SB_CW_MINUTE_US; u <= e && u <= end;
           u += SB_CW_MINUTE_US)
        if (sb_cw_callable_at(w, lt, u)) {
          *out = u;
          return 0;
        }
    }
    c = e;
  }
  return SB_ENOENT;
}

/* ---- lifecycle ----------------------------------------------------------- */

static const char *const state_names[SB_CW_STATE_N] = {
    "draft", "scheduled", "active", "paused", "completed", "cancelled",
    "archived"};

/* legal[from] is a bit set of the states it may move to */
#define B(s) (1u << (s))
static const unsigned legal[SB_CW_STATE_N] = {
    [SB_CW_DRAFT] = B(SB_CW_SCHEDULED) | B(SB_CW_CANCELLED),
    [SB_CW_SCHEDULED] = B(SB_CW_ACTIVE) | B(SB_CW_COMPLETED) | B(SB_CW_DRAFT) |
                        B(SB_CW_CANCELLED),
    [SB_CW_ACTIVE] = B(SB_CW_PAUSED) | B(SB_CW_COMPLETED) | B(SB_CW_CANCELLED),
    [SB_CW_PAUSED] = B(SB_CW_ACTIVE) | B(SB_CW_COMPLETED) | B(SB_CW_CANCELLED),
    [SB_CW_COMPLETED] = B(SB_CW_ARCHIVED),
    [SB_CW_CANCELLED] = B(SB_CW_ARCHIVED),
    [SB_CW_ARCHIVED] = 0,
};

const char *sb_cw_state_name(sb_cw_state_t s) {
  return (unsigned)s < SB_CW_STATE_N ? state_names[s] : "?";
}

int sb_cw_state_of(const char *name) {
  for (int s = 0; name && s < SB_CW_STATE_N; s++)
    if (strcmp(name, state_names[s]) == 0)
      return s;
  return -1;
}

int sb_cw_transition_ok(sb_cw_state_t from, sb_cw_state_t to, char *why,
                        size_t whysz) {
  if ((unsigned)from < SB_CW_STATE_N && (unsigned)to < SB_CW_STATE_N &&
      (legal[from] & B(to)))
    return 1;
  if (why != NULL && whysz > 0) {
    size_t o = (size_t)snprintf(why, whysz, "%s -> %s is not allowed; from %s: ",
                                sb_cw_state_name(from), sb_cw_state_name(to),
                                sb_cw_state_name(from));
    int any = 0;
    for (int s = 0; s < SB_CW_STATE_N && o < whysz; s++)
      if ((unsigned)from < SB_CW_STATE_N && (legal[from] & B(s)))
        o += (size_t)snprintf(why + o, whysz - o, "%s%s", any++ ? ", " : "",
                              state_names[s]);
    if (!any && o < whysz)
      snprintf(why + o, whysz - o, "none");
  }
  return 0;
}

int sb_cw_rank_cmp(const sb_cw_rank_t *a, const sb_cw_rank_t *b) {
  if (a->recycled != b->recycled)
    return a->recycled ? -1 : 1;
  if (a->ready_at != b->ready_at)
    return a->ready_at < b->ready_at ? -1 : 1;
  if (a->priority != b->priority)
    return a->priority > b->priority ? -1 : 1;
  return strcmp(a->lead_id ? a->lead_id : "", b->lead_id ? b->lead_id : "");
}
