/* Small helpers shared by the engine: paths, files, strings, randomness. */
#ifndef SB_UTIL_H
#define SB_UTIL_H

#include "sb_err.h"

#include <stddef.h>
#include <sys/types.h>

#define SB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A file compiled into the binary (see engine/embed_files.cmake). */
typedef struct sb_file_s {
  const char *name;
  const char *data; /* NUL-terminated */
  size_t len;
} sb_file_t;

/* snprintf that reports truncation as SB_EINVAL in err. */
int sb_fmt(char *buf, size_t sz, sb_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Creates path and its missing parents with mode. */
int sb_mkdir_p(const char *path, mode_t mode, sb_err_t *err);

/* Reads a whole file. On success *out is a NUL-terminated buffer the caller
 * frees; *len (may be NULL) its length without the NUL. max bounds the size. */
int sb_read_file(const char *path, size_t max, char **out, size_t *len,
                 sb_err_t *err);

/* Writes data to path through a temporary file and rename(2), with mode. */
int sb_write_file(const char *path, const void *data, size_t len, mode_t mode,
                  sb_err_t *err);

/* The next "key = value" line of text (a file's contents, changed in place:
 * cut at the line's end and the '='); lines starting with '#' and lines
 * without '=' are skipped. *cur starts at the text and moves past each line.
 * 1 with *key and *value (trimmed, pointing into the text), 0 at the end. */
int sb_kv_next(char **cur, char **key, char **value);

/* The value of one hex digit (either case), or -1. */
int sb_hex_nibble(int ch);

/* PostgreSQL's bytea text form ("\\x" then two hex digits a byte) into out;
 * the number of bytes, or -1 when hex is NULL, not that form, or longer than
 * cap bytes. */
long sb_bytea_unhex(const char *hex, unsigned char *out, size_t cap);

/* SHA-256 of the C string text, as 64 lowercase hex digits and a NUL.
 * SB_ECRYPTO when OpenSSL fails. */
int sb_sha256_hex(const char *text, char out[65], sb_err_t *err);

/* Fills out with 2*nbytes lowercase hex characters of OpenSSL randomness
 * and a NUL; outsz must be at least 2*nbytes+1. */
int sb_random_hex(char *out, size_t outsz, size_t nbytes, sb_err_t *err);

/* Trims white space at both ends, in place; returns s. */
char *sb_trim(char *s);

/* Parses a whole string as a base-10 integer. */
int sb_parse_ll(const char *s, long long *out);

/* Levenshtein distance, bounded by 255, for "did you mean" hints. */
int sb_edit_distance(const char *a, const char *b);

/* Monotonic clock in milliseconds. */
long long sb_now_ms(void);

#endif
