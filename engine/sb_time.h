/* Instants as microseconds since the Unix epoch (Avro timestamp-micros), and
 * their RFC 3339 text form. */
#ifndef SB_TIME_H
#define SB_TIME_H

#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

/* Parses "2026-11-24T18:00:00.123456Z" (or an offset such as +02:00; 't'
 * and 'z' allowed). Precision finer than a microsecond must be zeros.
 * Years 0001 to 9999. Returns 0, or SB_EVALIDATE with the reason in why. */
int sb_time_parse(const char *s, int64_t *micros, char *why, size_t whysz);

/* Formats in UTC with 'Z', with 0, 3 or 6 fraction digits as needed:
 * "2026-11-24T18:00:00Z", "...:00.120Z", "...:00.123456Z". out needs 32. */
void sb_time_format(int64_t micros, char *out, size_t outsz);

/* The UTC month of an instant as YYYYMM, and its bounds [*lo, *hi). */
int sb_time_month(int64_t micros, int64_t *lo, int64_t *hi);

/* Wall-clock now. */
int64_t sb_time_now_micros(void);

#endif
