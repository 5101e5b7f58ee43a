/* Calling windows (processors/campaigns/callwindow.c): properties over
 * generated windows, zones and times checked against an oracle built on
 * the kit's zones directly (never callable outside 08:00-21:00 in the
 * lead's zone or outside the campaign's spans; next_opening is the first
 * callable minute, by walking the minutes), DST days by hand, refusals,
 * the lifecycle table, the order of waiting leads and the phone zones. */
#include "callwindow.h"
#include "sb_phone_tz.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <string.h>

#define MIN_US INT64_C(60000000)
#define HOUR_US (60 * MIN_US)

static uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
static uint64_t next(void) { /* xorshift64*: seeded, so a failure repeats */
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return rng * UINT64_C(2685821657736338717);
}
static int64_t below(int64_t n) { return (int64_t)(next() % (uint64_t)n); }

static const sb_tz_t *zone(const char *name) {
  const sb_tz_t *tz = NULL;
  sb_err_t err = SB_ERR_INIT;
  if (name != NULL && sb_tz_load(name, &tz, &err) != 0)
    fprintf(stderr, "sb_tz_load(%s): %s\n", name, err.msg);
  return tz;
}

/* The oracle: local clock readings from sb_tz_local, weekday from the
 * civil date. */
static void clock_of(const sb_tz_t *tz, int64_t t, int *wd, int *minute) {
  int y, mo, d, h, mi, s;
  if (tz == NULL) {
    int64_t days = (t / 1000000 - (t % 1000000 < 0)) / 86400;
    int64_t sec = t / 1000000 - days * 86400;
    if (sec < 0)
      days--, sec += 86400;
    *wd = (int)(((days % 7) + 7 + 3) % 7);
    *minute = (int)(sec / 60);
    return;
  }
  sb_tz_local(tz, t, &y, &mo, &d, &h, &mi, &s);
  *wd = (int)(((sb_tz_days_from_civil(y, mo, d) % 7) + 7 + 3) % 7);
  *minute = h * 60 + mi;
}

static int oracle(const sb_cw_window_t *w, const sb_tz_t *lt, int64_t t) {
  int wd, m, lwd, lm;
  clock_of(w->tz, t, &wd, &m);
  clock_of(lt ? lt : w->tz, t, &lwd, &lm);
  if (lm < 8 * 60 || lm >= 21 * 60)
    return 0;
  for (int i = 0; i < w->n[wd]; i++)
    if (m >= w->span[wd][i].start && m < w->span[wd][i].end)
      return 1;
  return 0;
}

static const char *const zones[] = {
    NULL,                "America/New_York", "America/Los_Angeles",
    "America/Phoenix",   "Europe/London",    "Australia/Lord_Howe",
    "Asia/Kolkata",      "Pacific/Auckland", "America/Santiago",
    "Pacific/Chatham",   "America/St_Johns", "Asia/Kathmandu"};
#define NZONES (sizeof zones / sizeof zones[0])

/* Instants near the DST changes of 2024-2030 half the time. */
static int64_t some_time(void) {
  static const int64_t changes[] = {
      INT64_C(1710054000), INT64_C(1730613600), /* 2024 New York */
      INT64_C(1774828800), INT64_C(1792972800), /* 2026 London */
      INT64_C(1775318400), INT64_C(1790870400), /* 2026 southern hemisphere */
      INT64_C(1836000000), INT64_C(1900000000)};
  int64_t base = below(2) ? changes[below(8)] * 1000000
                          : (INT64_C(1704067200) + below(7 * 365 * 86400)) *
                                INT64_C(1000000);
  return base + below(3 * 86400) * INT64_C(1000000) -
         INT64_C(36) * HOUR_US + below(60000000);
}

int test_callwindow_props(void) {
  int checked = 0, openings = 0, nevers = 0;
  for (int iter = 0; iter < 250; iter++) {
    sb_cw_window_t w;
    sb_err_t err = SB_ERR_INIT;
    memset(&w, 0, sizeof w);
    w.tz = zone(zones[below(NZONES)]);
    const sb_tz_t *lt = zone(zones[below(NZONES)]);
    static const char *const days[] = {"mon", "tue", "wed", "thu",
                                       "fri", "sat", "sun", "all"};
    /* a third of the windows are spans of the small hours (00:00-04:00),
     * where the DST changes are, for a lead in a zone where it is day */
    int night = below(3) == 0;
    if (night)
      lt = zone(zones[1 + below(2) * 5]); /* New York or Kolkata */
    for (int k = 0, n = (int)below(6); k < n; k++) {
      int s = (int)below(night ? 4 * 4 : 24 * 4) * 15;
      int e = s + 15 + (int)below(night ? 4 : 10 * 4) * 15;
      char item[32];
      if (e > 1440)
        e = 1440;
      snprintf(item, sizeof item, "%s %02d:%02d-%02d:%02d", days[below(8)],
               s / 60, s % 60, e / 60, e % 60);
      sb_err_clear(&err);
      sb_cw_add(&w, item, &err); /* a fifth span a day is refused: fine */
    }
    for (int k = 0; k < 20; k++) {
      int64_t t = some_time();
      CHECK_INT(sb_cw_callable_at(&w, lt, t), oracle(&w, lt, t));
      checked++;
    }
    int64_t t = some_time(), o = 0;
    int rc = sb_cw_next_opening(&w, lt, t, &o);
    /* the first callable minute, by walking: t itself, then minute starts */
    int64_t want = -1;
    if (oracle(&w, lt, t))
      want = t;
    else
      for (int64_t u = t - (t % MIN_US + MIN_US) % MIN_US + MIN_US;
           u <= t + SB_CW_HORIZON_US; u += MIN_US)
        if (oracle(&w, lt, u)) {
          want = u;
          break;
        }
    if (want < 0) {
      CHECK_INT(rc, SB_ENOENT);
      nevers++;
    } else {
      if (rc != 0 || o != want)
        fprintf(stderr, "iter %d: next_opening(%lld) = %d %lld, want %lld\n",
                iter, (long long)t, rc, (long long)o, (long long)want);
      CHECK_INT(rc, 0);
      CHECK(o == want);
      openings++;
    }
  }
  printf("callwindow: %d instants, %d openings, %d never\n", checked, openings,
         nevers);
  CHECK(openings > 50 && nevers > 0);
  return 0;
}

/* The same around every offset change of 2026 in zones with DST: windows
 * of the small hours (where changes are), times in the hours before the
 * change, a lead in a zone where it is day then. */
int test_callwindow_props_dst(void) {
  static const char *const dst[] = {
      "America/New_York", "Europe/London",    "Australia/Lord_Howe",
      "America/Santiago", "Pacific/Auckland", "Pacific/Chatham",
      "America/St_Johns", "Europe/Paris"};
  static const char *const day[] = {"Asia/Kolkata", "America/Los_Angeles",
                                    "Asia/Tokyo", "Europe/Berlin",
                                    "Pacific/Honolulu", "America/Sao_Paulo"};
  int changes = 0, checked = 0;
  for (size_t z = 0; z < sizeof dst / sizeof dst[0]; z++) {
    const sb_tz_t *tz = zone(dst[z]);
    CHECK(tz != NULL);
    int64_t t0 = INT64_C(1767225600) * 1000000; /* 2026-01-01 */
    for (int64_t h = 0; h < 365 * 24; h++) {
      int64_t a = t0 + h * 3600 * INT64_C(1000000), b = a + 3600 * INT64_C(1000000);
      if (sb_tz_offset(tz, a) == sb_tz_offset(tz, b))
        continue;
      changes++;
      int64_t x = a; /* the change is within (a, b]: its minute */
      while (sb_tz_offset(tz, x) == sb_tz_offset(tz, a))
        x += MIN_US;
      const sb_tz_t *lt = NULL;
      for (size_t k = 0; k < 6 && lt == NULL; k++) {
        int wd, m;
        clock_of(zone(day[k]), x, &wd, &m);
        if (m >= 10 * 60 && m < 18 * 60)
          lt = zone(day[k]);
      }
      CHECK(lt != NULL);
      for (int iter = 0; iter < 40; iter++) {
        sb_cw_window_t w;
        sb_err_t err = SB_ERR_INIT;
        memset(&w, 0, sizeof w);
        w.tz = tz;
        int s0 = (int)below(4 * 60), e0 = s0 + 1 + (int)below(120);
        char item[32];
        snprintf(item, sizeof item, "all %02d:%02d-%02d:%02d", s0 / 60, s0 % 60,
                 e0 / 60, e0 % 60);
        CHECK_OK(sb_cw_add(&w, item, &err), &err);
        int64_t t = x - below(6 * 60) * MIN_US - below(60000000), o = 0;
        int64_t want = -1;
        for (int64_t u = t; u <= t + 2 * 86400 * INT64_C(1000000);
             u = (u == t ? t - (t % MIN_US + MIN_US) % MIN_US : u) + MIN_US)
          if (oracle(&w, lt, u)) {
            want = u;
            break;
          }
        CHECK(want >= 0);
        int rc = sb_cw_next_opening(&w, lt, t, &o);
        if (rc != 0 || o != want)
          fprintf(stderr, "%s %s window %s from %lld: %d %lld, want %lld\n",
                  dst[z], sb_tz_name(lt), item, (long long)t, rc,
                  (long long)o, (long long)want);
        CHECK_INT(rc, 0);
        CHECK(o == want);
        checked++;
      }
    }
  }
  printf("callwindow: %d offset changes, %d openings around them\n", changes,
         checked);
  CHECK(changes >= 14);
  return 0;
}

static int64_t utc(int y, int mo, int d, int h, int mi) {
  return ((sb_tz_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * MIN_US;
}

static int opening(const sb_cw_window_t *w, const sb_tz_t *lt, int64_t t,
                   int64_t want) {
  int64_t o = 0;
  int rc = sb_cw_next_opening(w, lt, t, &o);
  if (rc != 0 || o != want)
    fprintf(stderr, "next_opening: %d %lld, want %lld (%+lld min)\n", rc,
            (long long)o, (long long)want, (long long)((o - want) / MIN_US));
  return rc == 0 && o == want;
}

int test_callwindow_dst_days(void) {
  sb_err_t err = SB_ERR_INIT;
  const sb_tz_t *ny = zone("America/New_York"), *la = zone("America/Los_Angeles");
  const sb_tz_t *kol = zone("Asia/Kolkata");
  sb_cw_window_t w;
  /* spring forward, New York, Sunday 2026-03-08: 08:00 EDT is 12:00Z */
  sb_cw_all_day(&w, ny);
  CHECK(!sb_cw_callable_at(&w, NULL, utc(2026, 3, 8, 11, 59)));
  CHECK(sb_cw_callable_at(&w, NULL, utc(2026, 3, 8, 12, 0)));
  CHECK(opening(&w, NULL, utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 12, 0)));
  CHECK(sb_cw_callable_at(&w, NULL, utc(2026, 3, 9, 0, 59)));  /* 20:59 */
  CHECK(!sb_cw_callable_at(&w, NULL, utc(2026, 3, 9, 1, 0)));  /* 21:00 */
  /* a span inside the skipped hour's end: 02:30-03:30 exists from 03:00 */
  memset(&w, 0, sizeof w);
  w.tz = ny;
  CHECK_OK(sb_cw_add(&w, "sun 02:30-03:30", &err), &err);
  CHECK(opening(&w, kol, utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 0)));
  /* fall back, Sunday 2026-11-01: 01:00-01:30 comes twice */
  memset(&w, 0, sizeof w);
  w.tz = ny;
  CHECK_OK(sb_cw_add(&w, "sun 01:00-01:30", &err), &err);
  CHECK(sb_cw_callable_at(&w, kol, utc(2026, 11, 1, 5, 0)));  /* 01:00 EDT */
  CHECK(!sb_cw_callable_at(&w, kol, utc(2026, 11, 1, 5, 30)));
  CHECK(sb_cw_callable_at(&w, kol, utc(2026, 11, 1, 6, 0)));  /* 01:00 EST */
  CHECK(opening(&w, kol, utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 0)));
  /* a lead in Los Angeles of a New York campaign: 08:00 PDT, not 09:00 EDT */
  memset(&w, 0, sizeof w);
  w.tz = ny;
  CHECK_OK(sb_cw_add(&w, "mon 09:00-21:00", &err), &err);
  CHECK(!sb_cw_callable_at(&w, la, utc(2026, 3, 9, 13, 0)));
  CHECK(opening(&w, la, utc(2026, 3, 9, 13, 0), utc(2026, 3, 9, 15, 0)));
  /* Monday's window closed: next Monday */
  CHECK(opening(&w, la, utc(2026, 3, 10, 2, 0), utc(2026, 3, 16, 15, 0)));
  /* never: a window only at night where the lead is */
  memset(&w, 0, sizeof w);
  w.tz = ny;
  CHECK_OK(sb_cw_add(&w, "all 22:00-24:00", &err), &err);
  int64_t o;
  CHECK_INT(sb_cw_next_opening(&w, NULL, utc(2026, 3, 9, 13, 0), &o), SB_ENOENT);
  /* text: merged, sorted, read back the same */
  char text[SB_CW_TEXT_MAX];
  memset(&w, 0, sizeof w);
  CHECK_OK(sb_cw_add(&w, "tue 13:00-17:00", &err), &err);
  CHECK_OK(sb_cw_add(&w, "tue 09:00-13:00", &err), &err);
  CHECK_OK(sb_cw_add(&w, "mon 09:00-10:00", &err), &err);
  sb_cw_format(&w, text);
  CHECK_STR(text, "mon 09:00-10:00,tue 09:00-17:00");
  const char *days[] = {"sat", "sun"};
  memset(&w, 0, sizeof w);
  CHECK_OK(sb_cw_add_days(&w, 600, 1440, days, 2, &err), &err);
  sb_cw_format(&w, text);
  CHECK_STR(text, "sat 10:00-24:00,sun 10:00-24:00");
  return 0;
}

int test_callwindow_refusals(void) {
  sb_cw_window_t w;
  sb_err_t err = SB_ERR_INIT;
  memset(&w, 0, sizeof w);
  CHECK_INT(sb_cw_add(&w, "xyz 09:00-10:00", &err), SB_EINVAL);
  CHECK_HAS(err.msg, "unknown day \"xyz\"");
  sb_err_clear(&err);
  CHECK_INT(sb_cw_add(&w, "mon 17:00-09:00", &err), SB_EINVAL);
  CHECK_HAS(err.msg, "split it at 24:00");
  sb_err_clear(&err);
  CHECK_INT(sb_cw_add(&w, "mon 25:00-26:00", &err), SB_EINVAL);
  CHECK_HAS(err.msg, "want HH:MM-HH:MM");
  sb_err_clear(&err);
  CHECK_INT(sb_cw_add(&w, "mon9:00-10:00", &err), SB_EINVAL);
  sb_err_clear(&err);
  for (int i = 0; i < 4; i++) {
    char item[32];
    snprintf(item, sizeof item, "fri %02d:00-%02d:30", 8 + 2 * i, 8 + 2 * i);
    CHECK_OK(sb_cw_add(&w, item, &err), &err);
  }
  CHECK_INT(sb_cw_add(&w, "fri 18:00-19:00", &err), SB_EINVAL);
  CHECK_HAS(err.msg, "more than 4 spans on fri");
  /* lifecycle */
  char why[256];
  CHECK(sb_cw_transition_ok(SB_CW_DRAFT, SB_CW_SCHEDULED, NULL, 0));
  CHECK(sb_cw_transition_ok(SB_CW_PAUSED, SB_CW_ACTIVE, NULL, 0));
  CHECK(!sb_cw_transition_ok(SB_CW_PAUSED, SB_CW_SCHEDULED, why, sizeof why));
  CHECK_STR(why, "paused -> scheduled is not allowed; from paused: active, "
                 "completed, cancelled");
  CHECK(!sb_cw_transition_ok(SB_CW_ARCHIVED, SB_CW_ACTIVE, why, sizeof why));
  CHECK_HAS(why, "from archived: none");
  CHECK(!sb_cw_transition_ok(SB_CW_ACTIVE, SB_CW_ACTIVE, NULL, 0));
  CHECK_INT(sb_cw_state_of("paused"), SB_CW_PAUSED);
  CHECK_INT(sb_cw_state_of("running"), -1);
  /* waiting leads: recycled first, then ready time, priority, id */
  sb_cw_rank_t fresh = {0, 100, 5, "a"}, recycled = {1, 200, 0, "b"};
  sb_cw_rank_t later = {0, 150, 9, "c"}, same = {0, 100, 9, "d"};
  CHECK(sb_cw_rank_cmp(&recycled, &fresh) < 0);
  CHECK(sb_cw_rank_cmp(&fresh, &later) < 0);
  CHECK(sb_cw_rank_cmp(&same, &fresh) < 0);
  CHECK(sb_cw_rank_cmp(&fresh, &fresh) == 0);
  /* phone zones */
  CHECK_STR(sb_phone_tz("+12125550100"), "America/New_York");
  CHECK_STR(sb_phone_tz("+13105550100"), "America/Los_Angeles");
  CHECK_STR(sb_phone_tz("+16025550100"), "America/Phoenix");
  CHECK_STR(sb_phone_tz("+14165550100"), "America/Toronto");
  CHECK_STR(sb_phone_tz("+442071234567"), "Europe/London");
  CHECK_STR(sb_phone_tz("+35312345678"), "Europe/Dublin");
  CHECK(sb_phone_tz("+19995550100") == NULL);
  CHECK(sb_phone_tz("+1212555") == NULL);
  CHECK(sb_phone_tz("2125550100") == NULL);
  CHECK(sb_phone_tz("+99912345678") == NULL);
  /* every zone of the tables loads */
  static const char *const some[] = {"+19075550100", "+18085550100",
                                     "+17875550100", "+15145550100",
                                     "+61212345678", "+81312345678"};
  for (size_t i = 0; i < sizeof some / sizeof some[0]; i++)
    CHECK(zone(sb_phone_tz(some[i])) != NULL);
  return 0;
}
