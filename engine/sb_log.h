/* Structured log lines on stderr.
 *
 *   sb_log(SB_LOG_INFO, "pg", "private server started",
 *          SB_F_INT("port", port), SB_F_STR("dir", dir), SB_F_END);
 *
 * text: 2026-11-24T18:00:00.123Z INFO  pg: private server started port=5433 dir=/x
 * json: {"ts":"...","level":"info","component":"pg","msg":"...","port":5433,"dir":"/x"}
 *
 * Secrets are never passed to the logger: log a URL through sb_url_redact().
 * Thread-safe: each line is written with one call. */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stddef.h>

typedef enum {
  SB_LOG_DEBUG = 0,
  SB_LOG_INFO = 1,
  SB_LOG_WARN = 2,
  SB_LOG_ERROR = 3,
} sb_log_level_t;

typedef enum { SB_LOG_TEXT = 0, SB_LOG_JSON = 1 } sb_log_format_t;

typedef struct sb_log_field_s {
  const char *key; /* NULL ends the list */
  char type;       /* 's' string, 'i' integer, 'f' double */
  const char *s;
  long long i;
  double f;
} sb_log_field_t;

#define SB_F_STR(k, v) ((sb_log_field_t){(k), 's', (v), 0, 0})
#define SB_F_INT(k, v) ((sb_log_field_t){(k), 'i', NULL, (long long)(v), 0})
#define SB_F_DBL(k, v) ((sb_log_field_t){(k), 'f', NULL, 0, (double)(v)})
#define SB_F_END ((sb_log_field_t){NULL, 0, NULL, 0, 0})

void sb_log_setup(sb_log_level_t level, sb_log_format_t format);
sb_log_level_t sb_log_level(void);

/* The variadic arguments are sb_log_field_t values ending with SB_F_END. */
void sb_log(sb_log_level_t level, const char *component, const char *msg, ...);

/* Copies url into out with any password replaced by "****". */
void sb_url_redact(const char *url, char *out, size_t outsz);

#endif
