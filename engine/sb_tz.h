/* IANA time zones, read from the system's TZif files (RFC 8536; Debian
 * package tzdata) by our own parser: the 64-bit transition table of a
 * version 2+ file and its POSIX TZ footer for times past the table. No
 * setenv("TZ"), no localtime(): every function here is thread-safe, and a
 * loaded zone is immutable.
 *
 * Times are UTC microseconds since 1970-01-01 (as occurred_at), within
 * the years 1 to 9999 as every event time is; offsets are seconds east of
 * UTC (New York in winter: -18000).
 *
 * Hours and days are the local clock's: a local hour or day begins at the
 * last instant the local clock read its start (hh:00:00, 00:00:00), or at
 * the offset change that skipped over that reading. So a day with a
 * spring-forward is 23 hours long, one with a fall-back 25 hours; a
 * repeated hour (01:00-02:00 twice in New York in November) is two hours,
 * each starting when the clock read 01:00:00; a 30-minute fall-back (Lord
 * Howe) makes one 90-minute hour. A local time that does not exist (02:30
 * on a spring-forward day in New York) maps, in sb_tz_utc_of_local, to the
 * instant the offset before the gap gives it (03:30 after the change); an
 * ambiguous one (01:30 on the fall-back day) to its first occurrence. */
#ifndef SB_TZ_H
#define SB_TZ_H

#include "sb_err.h"

#include <stdint.h>

#define SB_TZ_DIR "/usr/share/zoneinfo"
#define SB_TZ_NAME_MAX 64      /* bytes of a zone name */
#define SB_TZ_FILE_MAX 65536   /* bytes of a TZif file */
#define SB_TZ_TRANS_MAX 4096   /* transitions of a zone (real ones: < 400) */
#define SB_TZ_CACHE_MAX 1024   /* zones the process-wide cache holds */

typedef struct sb_tz_s sb_tz_t;

/* 1 when name has the shape of an IANA zone name: 1..SB_TZ_NAME_MAX bytes,
 * a capital letter first, '/'-separated non-empty components of
 * [A-Za-z0-9_+-] (so no "..", no absolute path, none of the zone
 * directory's other files: localtime, posixrules, posix/, right/). Whether
 * the zone exists is sb_tz_load's business. */
int sb_tz_name_valid(const char *name);

/* The zone called name, from SB_TZ_DIR, through a process-wide cache
 * (thread-safe; a zone is read once and kept until the process exits, at
 * most SB_TZ_CACHE_MAX of them). *out is borrowed, never freed. Refuses,
 * with SB_EINVAL and the reason: a name of the wrong shape, a file that
 * resolves (through symlinks) outside the zone directory, a file that is
 * not TZif, a leap-second zone; SB_ENOENT: no such zone. A lookup takes
 * the cache's lock and compares names: keep the pointer (per tenant)
 * rather than loading per event. */
int sb_tz_load(const char *name, const sb_tz_t **out, sb_err_t *err);

/* The same from another directory, uncached; *out owned by the caller
 * (sb_tz_free). For tests and tools. */
int sb_tz_open(const char *dir, const char *name, sb_tz_t **out,
               sb_err_t *err);
void sb_tz_free(sb_tz_t *tz);

const char *sb_tz_name(const sb_tz_t *tz);

/* Seconds east of UTC in effect at utc_us. */
int32_t sb_tz_offset(const sb_tz_t *tz, int64_t utc_us);
/* The local calendar date and clock time at utc_us (any pointer may be
 * NULL): year, month 1-12, day 1-31, hour 0-23, minute, second. */
void sb_tz_local(const sb_tz_t *tz, int64_t utc_us, int *y, int *mon,
                 int *d, int *h, int *min, int *s);
/* The local date at utc_us as days since 1970-01-01 (negative before). */
int64_t sb_tz_day(const sb_tz_t *tz, int64_t utc_us);
/* The UTC microseconds at which the local hour / day holding utc_us began
 * (see the top of this file). */
int64_t sb_tz_hour_start(const sb_tz_t *tz, int64_t utc_us);
int64_t sb_tz_day_start(const sb_tz_t *tz, int64_t utc_us);
/* The UTC microseconds of a local date and time (mon 1-12, d 1-31, h 0-23,
 * min 0-59, s 0-59; out of range: SB_EINVAL); a non-existent local time
 * moves forward by the gap, an ambiguous one is its first occurrence. */
int sb_tz_utc_of_local(const sb_tz_t *tz, int y, int mon, int d, int h,
                       int min, int s, int64_t *utc_us, sb_err_t *err);

/* Calendar helpers (proleptic Gregorian, UTC): days since 1970-01-01 of a
 * date, and back. */
int64_t sb_tz_days_from_civil(int64_t y, int mon, int d);
void sb_tz_civil_from_days(int64_t days, int64_t *y, int *mon, int *d);

#endif
