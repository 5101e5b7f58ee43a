/* Assertions for tests: each failed check prints where and why, and makes
 * the test function return 1. */
#ifndef SB_TEST_H
#define SB_TEST_H

#include "sb_err.h"

#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                               \
    }                                                                         \
  } while (0)

#define CHECK_INT(a, b)                                                       \
  do {                                                                        \
    long long a_ = (long long)(a), b_ = (long long)(b);                       \
    if (a_ != b_) {                                                           \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,     \
              __LINE__, #a, #b, a_, b_);                                      \
      return 1;                                                               \
    }                                                                         \
  } while (0)

#define CHECK_STR(a, b)                                                       \
  do {                                                                        \
    const char *a_ = (a), *b_ = (b);                                          \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                    \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, \
              __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");      \
      return 1;                                                               \
    }                                                                         \
  } while (0)

#define CHECK_HAS(hay, needle)                                                \
  do {                                                                        \
    const char *h_ = (hay), *n_ = (needle);                                   \
    if (h_ == NULL || strstr(h_, n_) == NULL) {                               \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,    \
              __LINE__, h_ ? h_ : "(null)", n_);                              \
      return 1;                                                               \
    }                                                                         \
  } while (0)

/* Runs an sb_* call expected to succeed; prints err on failure. */
#define CHECK_OK(call, err)                                                   \
  do {                                                                        \
    int rc_ = (call);                                                         \
    if (rc_ != 0) {                                                           \
      fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__,      \
              #call, (err)->msg, sb_err_name(rc_));                           \
      return 1;                                                               \
    }                                                                         \
  } while (0)

/* A throw-away database on the fixture's PostgreSQL server
 * ($SB_TEST_PG_DIR names its data directory). Fills url. */
int sbt_pg_create_db(char *url, size_t urlsz, char *name, size_t namesz);
void sbt_pg_drop_db(const char *name);

/* A JWT header.payload.HMAC-SHA256(key), each part base64url: a token
 * signed properly over whatever header and payload a test wants. The caller
 * frees it. */
char *sbt_forge(const char *header, const char *payload, const char *key);

#endif
