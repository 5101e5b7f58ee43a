#include "sb_time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int sb_time_parse(const char *s, int64_t *micros, char *why, size_t whysz) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int Y, M, D, h, m, sec;
  size_t len = strlen(s);
  if (len < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
      s[7] != '-' || digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) ||
      s[16] != ':' || digits(s + 17, 2, &sec)) {
    snprintf(why, whysz, "'%.40s' is not an RFC 3339 timestamp "
                         "(e.g. 2026-11-24T18:00:00Z)", s);
    return SB_EVALIDATE;
  }
  if (Y < 1 || M < 1 || M > 12 || D < 1 ||
      D > mdays[M - 1] + (M == 2 && is_leap(Y)) || h > 23 || m > 59 ||
      sec > 59) {
    snprintf(why, whysz, "'%.40s' is not a valid date and time", s);
    return SB_EVALIDATE;
  }
  const char *p = s + 19;
  int64_t frac = 0;
  if (*p == '.') {
    p++;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
      if (n < 6)
        frac = frac * 10 + (*p - '0');
      else if (*p != '0') {
        snprintf(why, whysz, "'%.40s' is more precise than a microsecond", s);
        return SB_EVALIDATE;
      }
      n++;
      p++;
    }
    if (n == 0) {
      snprintf(why, whysz, "'%.40s' has an empty fraction", s);
      return SB_EVALIDATE;
    }
    for (; n < 6; n++)
      frac *= 10;
  }
  int64_t offset_s = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
        oh > 23 || om > 59) {
      snprintf(why, whysz, "'%.40s' has a malformed UTC offset", s);
      return SB_EVALIDATE;
    }
    offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    snprintf(why, whysz, "'%.40s' lacks a time zone (add Z or +HH:MM)", s);
    return SB_EVALIDATE;
  }
  if (*p != '\0') {
    snprintf(why, whysz, "'%.40s' has trailing characters", s);
    return SB_EVALIDATE;
  }
  int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
  int64_t secs = days * 86400 + h * 3600 + m * 60 + sec - offset_s;
  /* in UTC it must still be within 0001-01-01 .. 9999-12-31, so that it
   * can be written back */
  if (secs < days_from_civil(1, 1, 1) * 86400 ||
      secs >= days_from_civil(10000, 1, 1) * 86400) {
    snprintf(why, whysz, "'%.40s' is outside years 0001 to 9999 in UTC", s);
    return SB_EVALIDATE;
  }
  *micros = secs * 1000000 + frac;
  return 0;
}

void sb_time_format(int64_t micros, char *out, size_t outsz) {
  int64_t secs = micros / 1000000, us = micros % 1000000;
  if (us < 0) {
    us += 1000000;
    secs -= 1;
  }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  char frac[16] = "";
  if (us != 0 && us % 1000 == 0)
    snprintf(frac, sizeof frac, ".%03d", (int)(us / 1000));
  else if (us != 0)
    snprintf(frac, sizeof frac, ".%06d", (int)us);
  snprintf(out, outsz, "%04d-%02u-%02uT%02d:%02d:%02d%sZ", (int)y, mo, d,
           (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60), frac);
}

int sb_time_month(int64_t micros, int64_t *lo, int64_t *hi) {
  int64_t days = micros / 86400000000LL;
  if (micros % 86400000000LL < 0)
    days -= 1;
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  *lo = days_from_civil(y, mo, 1) * 86400000000LL;
  *hi = (mo == 12 ? days_from_civil(y + 1, 1, 1)
                  : days_from_civil(y, mo + 1, 1)) * 86400000000LL;
  return (int)(y * 100 + mo);
}

int64_t sb_time_now_micros(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
