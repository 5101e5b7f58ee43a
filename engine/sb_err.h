/* Errors: one table, one struct owned by the caller.
 *
 * Functions that can fail return 0 or a negative SB_E* code, and fill an
 * sb_err_t the caller owns. The first error set wins, so the root cause
 * survives the layers that add nothing to it. Library errors (librdkafka,
 * libpq, avro-c, OpenSSL) are translated where they are called. */
#ifndef SB_ERR_H
#define SB_ERR_H

#include <stdbool.h>
#include <stddef.h>

/* X(name, value, retriable, description) */
#define SB_ERRNO_MAP(X)                                                       \
  X(OK,        0,   false, "success")                                         \
  X(INVAL,    -1,   false, "invalid argument")                                \
  X(CONFIG,   -2,   false, "invalid configuration")                           \
  X(NOENT,    -3,   false, "not found")                                       \
  X(IO,       -4,   true,  "input/output error")                              \
  X(NOMEM,    -5,   false, "out of memory")                                   \
  X(KAFKA,    -6,   true,  "kafka error")                                     \
  X(PG,       -7,   true,  "postgresql error")                                \
  X(TIMEDOUT, -8,   true,  "timed out")                                       \
  X(DECODE,   -9,   false, "cannot decode")                                   \
  X(VALIDATE, -10,  false, "validation failed")                               \
  X(UNAVAIL,  -11,  true,  "service unavailable")                             \
  X(BUSY,     -12,  true,  "resource busy")                                   \
  X(PERM,     -13,  false, "permission denied")                               \
  X(STATE,    -14,  false, "invalid state")                                   \
  X(USAGE,    -15,  false, "usage error")                                     \
  X(CRYPTO,   -16,  false, "cryptography error")                              \
  X(INTERNAL, -17,  false, "internal error")

typedef enum {
#define X(name, value, retriable, desc) SB_E##name = value,
  SB_ERRNO_MAP(X)
#undef X
} sb_errno_t;

#define SB_ERR_MSG_MAX 1024

typedef struct sb_err_s {
  int code;        /* an sb_errno_t; 0 while nothing failed */
  bool retriable;  /* the same call may succeed later */
  bool fatal;      /* the process should stop */
  /* PostgreSQL's SQLSTATE ("23505") when the error came from the server;
   * empty otherwise. Decide by this, never by the message's text. */
  char sqlstate[6];
  char msg[SB_ERR_MSG_MAX];
} sb_err_t;

#define SB_ERR_INIT {0, false, false, {0}, {0}}

/* Name ("SB_ECONFIG") and description of a code. Never NULL. */
const char *sb_err_name(int code);
const char *sb_strerror(int code);

/* Sets err to code and a formatted message, unless err already holds an
 * error (the first one wins). retriable takes the table's default.
 * Returns code, so callers can write `return sb_err_set(err, ...)`.
 * err may be NULL. */
int sb_err_set(sb_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with context ("migration 0002: ").
 * Does nothing when err holds no error. */
void sb_err_prefix(sb_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void sb_err_clear(sb_err_t *err);

/* 1 when err came from PostgreSQL with an SQLSTATE starting with prefix
 * ("23" for a class, "23505" for one condition). */
int sb_err_sqlstate_is(const sb_err_t *err, const char *prefix);

#endif
