/* IANA time zones: TZif parsing (RFC 8536), the POSIX TZ footer, local
 * calendar arithmetic and the process-wide cache. See sb_tz.h. */
#include "sb_tz.h"

#include "sb_util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int kind; /* 'J' Julian 1..365 without Feb 29, 'D' 0..365, 'M' month */
  int a, b, c; /* J/D: a = day; M: a = month, b = week 1-5, c = weekday */
  int32_t secs; /* local time of day of the change, -167h..167h */
} rule_t;

typedef struct {
  bool present; /* a footer with a rule or a fixed offset */
  bool has_dst;
  int32_t std_off, dst_off; /* seconds east */
  rule_t start, end; /* start of DST (in standard time), its end (in DST) */
} footer_t;

struct sb_tz_s {
  char name[SB_TZ_NAME_MAX + 1];
  size_t ntrans;
  int64_t *trans;   /* UTC seconds, ascending */
  int32_t *trans_off; /* the offset from each transition on */
  int32_t first_off;  /* before the first transition: time type 0 */
  footer_t footer;
};

/* ---- calendar ---------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* H. Hinnant's days_from_civil / civil_from_days. */
int64_t sb_tz_days_from_civil(int64_t y, int mon, int d) {
  y -= mon <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void sb_tz_civil_from_days(int64_t z, int64_t *y, int *mon, int *d) {
  z += 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int dd = (int)(doy - (153 * mp + 2) / 5 + 1);
  int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (mm <= 2);
  *mon = mm;
  *d = dd;
}

static bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int mon) {
  static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return mon == 2 && is_leap(y) ? 29 : n[mon - 1];
}

/* ---- the POSIX TZ footer ----------------------------------------------- */

/* A zone abbreviation: alphabetic, or <...> of [A-Za-z0-9+-]. */
static const char *p_name(const char *p) {
  if (*p == '<') {
    const char *q = ++p;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
           (*q >= '0' && *q <= '9') || *q == '+' || *q == '-')
      q++;
    return *q == '>' && q - p >= 3 ? q + 1 : NULL;
  }
  const char *q = p;
  while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
    q++;
  return q - p >= 3 ? q : NULL;
}

static const char *p_num(const char *p, int min, int max, int *out) {
  if (*p < '0' || *p > '9')
    return NULL;
  int v = 0;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (*p++ - '0');
    if (v > max)
      return NULL;
  }
  if (v < min)
    return NULL;
  *out = v;
  return p;
}

/* [+-]hh[:mm[:ss]], hours up to max_h; seconds into *out. */
static const char *p_time(const char *p, int max_h, int32_t *out) {
  int sign = 1, h, m = 0, s = 0;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if ((p = p_num(p, 0, max_h, &h)) == NULL)
    return NULL;
  if (*p == ':' && (p = p_num(p + 1, 0, 59, &m)) != NULL && *p == ':')
    p = p_num(p + 1, 0, 59, &s);
  if (p == NULL)
    return NULL;
  *out = sign * (h * 3600 + m * 60 + s);
  return p;
}

static const char *p_rule(const char *p, rule_t *r) {
  if (*p == 'J') {
    r->kind = 'J';
    p = p_num(p + 1, 1, 365, &r->a);
  } else if (*p == 'M') {
    r->kind = 'M';
    if ((p = p_num(p + 1, 1, 12, &r->a)) == NULL || *p != '.' ||
        (p = p_num(p + 1, 1, 5, &r->b)) == NULL || *p != '.')
      return NULL;
    p = p_num(p + 1, 0, 6, &r->c);
  } else {
    r->kind = 'D';
    p = p_num(p, 0, 365, &r->a);
  }
  r->secs = 7200;
  if (p != NULL && *p == '/')
    p = p_time(p + 1, 167, &r->secs);
  return p;
}

/* Parses the footer text (without its newlines). Empty: no footer. */
static int parse_footer(const char *s, footer_t *f) {
  memset(f, 0, sizeof *f);
  if (*s == '\0')
    return 0;
  const char *p = p_name(s);
  int32_t std, dst;
  if (p == NULL || (p = p_time(p, 24, &std)) == NULL)
    return -1;
  f->present = true;
  f->std_off = f->dst_off = -std; /* POSIX counts west */
  if (*p == '\0')
    return 0;
  if ((p = p_name(p)) == NULL)
    return -1;
  f->has_dst = true;
  f->dst_off = f->std_off + 3600;
  if (*p != ',' && *p != '\0') {
    if ((p = p_time(p, 24, &dst)) == NULL)
      return -1;
    f->dst_off = -dst;
  }
  if (*p == '\0') { /* no rule: the US rule POSIX assumes */
    f->start = (rule_t){'M', 3, 2, 0, 7200};
    f->end = (rule_t){'M', 11, 1, 0, 7200};
    return 0;
  }
  if (*p != ',' || (p = p_rule(p + 1, &f->start)) == NULL || *p != ',' ||
      (p = p_rule(p + 1, &f->end)) == NULL || *p != '\0')
    return -1;
  return 0;
}

/* The local second (of the clock the rule is written in) of a rule's
 * change in year y, as seconds since 1970-01-01 of that local clock. */
static int64_t rule_local(const rule_t *r, int64_t y) {
  int64_t day;
  if (r->kind == 'J')
    day = sb_tz_days_from_civil(y, 1, 1) + r->a - 1 +
          (is_leap(y) && r->a >= 60);
  else if (r->kind == 'D')
    day = sb_tz_days_from_civil(y, 1, 1) + r->a;
  else {
    int64_t first = sb_tz_days_from_civil(y, r->a, 1);
    int wd = (int)((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
    int dom = 1 + (r->c - wd + 7) % 7 + (r->b - 1) * 7;
    while (dom > month_days(y, r->a))
      dom -= 7;
    day = first + dom - 1;
  }
  return day * 86400 + r->secs;
}

/* The UTC seconds of the DST start and end in year y. */
static void rule_year(const footer_t *f, int64_t y, int64_t *start,
                      int64_t *end) {
  *start = rule_local(&f->start, y) - f->std_off;
  *end = rule_local(&f->end, y) - f->dst_off;
}

static int64_t year_of(int64_t local_s) {
  int64_t y;
  int mon, d;
  sb_tz_civil_from_days(floor_div(local_s, 86400), &y, &mon, &d);
  return y;
}

static int32_t footer_offset(const footer_t *f, int64_t t) {
  if (!f->has_dst)
    return f->std_off;
  int64_t s, e;
  rule_year(f, year_of(t + f->std_off), &s, &e);
  bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
  return dst ? f->dst_off : f->std_off;
}

/* The last change of offset at or before t by the footer's rule, or
 * INT64_MIN. */
static int64_t footer_last_change(const footer_t *f, int64_t t) {
  int64_t best = INT64_MIN;
  if (!f->has_dst || f->std_off == f->dst_off)
    return best;
  int64_t y = year_of(t + f->std_off);
  for (int64_t yy = y - 1; yy <= y + 1; yy++) {
    int64_t s, e;
    rule_year(f, yy, &s, &e);
    if (s <= t && s > best)
      best = s;
    if (e <= t && e > best)
      best = e;
  }
  return best;
}

/* ---- lookups ------------------------------------------------------------ */

/* The index of the last transition at or before t, or -1. */
static long trans_at(const sb_tz_t *tz, int64_t t) {
  long lo = 0, hi = (long)tz->ntrans - 1, r = -1;
  while (lo <= hi) {
    long mid = lo + (hi - lo) / 2;
    if (tz->trans[mid] <= t)
      r = mid, lo = mid + 1;
    else
      hi = mid - 1;
  }
  return r;
}

static bool in_footer(const sb_tz_t *tz, int64_t t) {
  return tz->footer.present &&
         (tz->ntrans == 0 || t >= tz->trans[tz->ntrans - 1]);
}

static int32_t offset_s(const sb_tz_t *tz, int64_t t) {
  if (in_footer(tz, t))
    return footer_offset(&tz->footer, t);
  long i = trans_at(tz, t);
  return i < 0 ? tz->first_off : tz->trans_off[i];
}

/* The last instant at or before t where the offset changed, or INT64_MIN. */
static int64_t last_change(const sb_tz_t *tz, int64_t t) {
  int64_t best = INT64_MIN;
  if (in_footer(tz, t))
    best = footer_last_change(&tz->footer, t);
  long i = trans_at(tz, t);
  while (i >= 0) {
    int32_t before = i == 0 ? tz->first_off : tz->trans_off[i - 1];
    if (before != tz->trans_off[i])
      break;
    i--;
  }
  if (i >= 0 && tz->trans[i] > best)
    best = tz->trans[i];
  return best;
}

int32_t sb_tz_offset(const sb_tz_t *tz, int64_t utc_us) {
  return offset_s(tz, floor_div(utc_us, 1000000));
}

void sb_tz_local(const sb_tz_t *tz, int64_t utc_us, int *y, int *mon,
                 int *d, int *h, int *min, int *s) {
  int64_t t = floor_div(utc_us, 1000000);
  int64_t l = t + offset_s(tz, t);
  int64_t days = floor_div(l, 86400), sod = l - days * 86400, yy;
  int mm, dd;
  sb_tz_civil_from_days(days, &yy, &mm, &dd);
  if (y)
    *y = (int)yy;
  if (mon)
    *mon = mm;
  if (d)
    *d = dd;
  if (h)
    *h = (int)(sod / 3600);
  if (min)
    *min = (int)(sod / 60 % 60);
  if (s)
    *s = (int)(sod % 60);
}

int64_t sb_tz_day(const sb_tz_t *tz, int64_t utc_us) {
  int64_t t = floor_div(utc_us, 1000000);
  return floor_div(t + offset_s(tz, t), 86400);
}

/* The start of the local unit (3600 or 86400 seconds) holding utc_us: see
 * sb_tz.h. */
static int64_t unit_start(const sb_tz_t *tz, int64_t utc_us, int64_t unit) {
  int64_t t = floor_div(utc_us, 1000000);
  int32_t off = offset_s(tz, t);
  int64_t u = floor_div(t + off, unit) * unit; /* local start of the unit */
  int64_t c = u - off, lc = last_change(tz, t);
  if (lc == INT64_MIN || lc <= c)
    return c * 1000000;
  /* the offset changed within the unit so far: its start was read on the
   * clock before the change, or was skipped by the change */
  int64_t c2 = u - offset_s(tz, lc - 1);
  return (c2 < lc ? c2 : lc) * 1000000;
}

int64_t sb_tz_hour_start(const sb_tz_t *tz, int64_t utc_us) {
  return unit_start(tz, utc_us, 3600);
}

int64_t sb_tz_day_start(const sb_tz_t *tz, int64_t utc_us) {
  return unit_start(tz, utc_us, 86400);
}

int sb_tz_utc_of_local(const sb_tz_t *tz, int y, int mon, int d, int h,
                       int min, int s, int64_t *utc_us, sb_err_t *err) {
  if (y < 1 || y > 9999 || mon < 1 || mon > 12 || d < 1 ||
      d > month_days(y, mon) || h < 0 || h > 23 || min < 0 || min > 59 ||
      s < 0 || s > 59)
    return sb_err_set(err, SB_EINVAL, "%04d-%02d-%02d %02d:%02d:%02d is not "
                      "a local date and time", y, mon, d, h, min, s);
  int64_t l = sb_tz_days_from_civil(y, mon, d) * 86400 + h * 3600 +
              min * 60 + s;
  int32_t ob = offset_s(tz, l - 86400), oa = offset_s(tz, l + 86400);
  int64_t best = INT64_MAX;
  if (offset_s(tz, l - ob) == ob)
    best = l - ob;
  if (offset_s(tz, l - oa) == oa && l - oa < best)
    best = l - oa;
  if (best == INT64_MAX) /* in a gap: the clock before it, run on */
    best = l - ob;
  *utc_us = best * 1000000;
  return 0;
}

/* ---- TZif --------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static int64_t be64(const unsigned char *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct {
  uint32_t isut, isstd, leap, time, type, chars;
} counts_t;

static int header(const unsigned char *p, size_t n, counts_t *c) {
  if (n < 44 || memcmp(p, "TZif", 4) != 0)
    return -1;
  c->isut = be32(p + 20);
  c->isstd = be32(p + 24);
  c->leap = be32(p + 28);
  c->time = be32(p + 32);
  c->type = be32(p + 36);
  c->chars = be32(p + 40);
  return 0;
}

static size_t block_len(const counts_t *c, size_t tsz) {
  return (size_t)c->time * tsz + c->time + (size_t)c->type * 6 + c->chars +
         (size_t)c->leap * (tsz + 4) + c->isstd + c->isut;
}

/* Parses a TZif file's bytes into tz; why is the reason of a refusal. */
static int parse_tzif(const unsigned char *p, size_t n, sb_tz_t *tz,
                      const char **why) {
  counts_t c;
  *why = "not a TZif file";
  if (header(p, n, &c) != 0)
    return -1;
  int version = p[4] == 0 ? 1 : p[4] - '0';
  size_t tsz = 4;
  if (c.time > SB_TZ_TRANS_MAX || c.type > 256 || c.chars > 65536 ||
      c.leap > 65536 || c.isstd > 256 || c.isut > 256)
    return *why = "counts out of bounds", -1;
  if (version >= 2) { /* skip the 32-bit block to the 64-bit one */
    size_t skip = 44 + block_len(&c, 4);
    if (skip > n || header(p + skip, n - skip, &c) != 0)
      return *why = "truncated TZif file", -1;
    if (c.time > SB_TZ_TRANS_MAX || c.type > 256 || c.chars > 65536 ||
        c.leap > 65536 || c.isstd > 256 || c.isut > 256)
      return *why = "counts out of bounds", -1;
    p += skip;
    n -= skip;
    tsz = 8;
  }
  if (c.type == 0 || c.chars == 0 || 44 + block_len(&c, tsz) > n)
    return *why = "truncated TZif file", -1;
  if (c.leap != 0)
    return *why = "a leap-second zone (right/...): not supported", -1;
  const unsigned char *tt = p + 44, *ix = tt + (size_t)c.time * tsz,
                      *types = ix + c.time;
  tz->ntrans = c.time;
  tz->trans = calloc(c.time ? c.time : 1, sizeof *tz->trans);
  tz->trans_off = calloc(c.time ? c.time : 1, sizeof *tz->trans_off);
  if (tz->trans == NULL || tz->trans_off == NULL)
    return *why = "out of memory", -1;
  for (uint32_t i = 0; i < c.type; i++) {
    int32_t off = (int32_t)be32(types + 6 * i);
    if (off < -89999 || off > 93599 || types[6 * i + 4] > 1)
      return *why = "a local time type out of range", -1;
  }
  tz->first_off = (int32_t)be32(types);
  for (uint32_t i = 0; i < c.time; i++) {
    tz->trans[i] = tsz == 8 ? be64(tt + 8 * i) : (int32_t)be32(tt + 4 * i);
    if (ix[i] >= c.type || (i > 0 && tz->trans[i] <= tz->trans[i - 1]))
      return *why = "a transition out of order or of an unknown type", -1;
    tz->trans_off[i] = (int32_t)be32(types + 6 * ix[i]);
  }
  if (version >= 2) {
    const char *f = (const char *)p + 44 + block_len(&c, tsz);
    size_t left = n - (44 + block_len(&c, tsz));
    const char *nl = left > 1 && f[0] == '\n' ? memchr(f + 1, '\n', left - 1)
                                              : NULL;
    char foot[128];
    if (nl == NULL || (size_t)(nl - f - 1) >= sizeof foot)
      return *why = "no valid TZ footer", -1;
    memcpy(foot, f + 1, (size_t)(nl - f - 1));
    foot[nl - f - 1] = '\0';
    if (parse_footer(foot, &tz->footer) != 0)
      return *why = "a TZ footer that does not parse", -1;
  }
  return 0;
}

/* ---- loading ------------------------------------------------------------ */

int sb_tz_name_valid(const char *name) {
  size_t n = name ? strlen(name) : 0;
  /* zones begin with a capital: the directory's other files and folders
   * (localtime, posixrules, posix/, right/, zone.tab) do not */
  if (n == 0 || n > SB_TZ_NAME_MAX || name[0] < 'A' || name[0] > 'Z' ||
      name[n - 1] == '/')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '+' ||
              ch == '-' || ch == '/';
    if (!ok || (ch == '/' && name[i + 1] == '/'))
      return 0;
  }
  return 1;
}

void sb_tz_free(sb_tz_t *tz) {
  if (tz == NULL)
    return;
  free(tz->trans);
  free(tz->trans_off);
  free(tz);
}

const char *sb_tz_name(const sb_tz_t *tz) { return tz->name; }

int sb_tz_open(const char *dir, const char *name, sb_tz_t **out,
               sb_err_t *err) {
  *out = NULL;
  if (!sb_tz_name_valid(name))
    return sb_err_set(err, SB_EINVAL, "time zone: not an IANA zone name (a "
                      "capital letter, then '/'-separated parts of letters, "
                      "digits, _ + -; at most %d bytes)", SB_TZ_NAME_MAX);
  char path[PATH_MAX], real[PATH_MAX], realdir[PATH_MAX];
  if (sb_fmt(path, sizeof path, err, "%s/%s", dir, name) != 0)
    return SB_EINVAL;
  if (realpath(dir, realdir) == NULL)
    return sb_err_set(err, SB_ENOENT, "time zone '%s': the zone directory "
                      "%s: %s (install tzdata)", name, dir, strerror(errno));
  if (realpath(path, real) == NULL)
    return sb_err_set(err, SB_ENOENT, "time zone '%s': unknown (no such zone "
                      "in %s)", name, dir);
  size_t dl = strlen(realdir);
  if (strncmp(real, realdir, dl) != 0 || real[dl] != '/')
    return sb_err_set(err, SB_EINVAL, "time zone '%s': resolves outside %s",
                      name, dir);
  char *data = NULL;
  size_t len = 0;
  sb_err_t rerr = SB_ERR_INIT;
  if (sb_read_file(real, SB_TZ_FILE_MAX, &data, &len, &rerr) != 0)
    return sb_err_set(err, rerr.code == SB_ENOENT ? SB_ENOENT : SB_EINVAL,
                      "time zone '%s': unknown (%s)", name, rerr.msg);
  sb_tz_t *tz = calloc(1, sizeof *tz);
  const char *why = "out of memory";
  int rc = 0;
  if (tz == NULL || parse_tzif((const unsigned char *)data, len, tz, &why)) {
    rc = sb_err_set(err, tz ? SB_EINVAL : SB_ENOMEM, "time zone '%s': %s",
                    name, why);
    sb_tz_free(tz);
    goto out;
  }
  memcpy(tz->name, name, strlen(name) + 1);
  *out = tz;
out:
  free(data);
  return rc;
}

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static sb_tz_t *cache[SB_TZ_CACHE_MAX];
static size_t cache_n;

int sb_tz_load(const char *name, const sb_tz_t **out, sb_err_t *err) {
  *out = NULL;
  if (!sb_tz_name_valid(name))
    return sb_tz_open(SB_TZ_DIR, name, (sb_tz_t **)out, err);
  pthread_mutex_lock(&cache_mu);
  int rc = 0;
  for (size_t i = 0; i < cache_n; i++)
    if (strcmp(cache[i]->name, name) == 0) {
      *out = cache[i];
      goto out;
    }
  if (cache_n == SB_TZ_CACHE_MAX) {
    rc = sb_err_set(err, SB_EBUSY, "time zone '%s': the cache holds %d zones "
                    "already", name, SB_TZ_CACHE_MAX);
    goto out;
  }
  sb_tz_t *tz;
  if ((rc = sb_tz_open(SB_TZ_DIR, name, &tz, err)) == 0)
    *out = cache[cache_n++] = tz;
out:
  pthread_mutex_unlock(&cache_mu);
  return rc;
}
