/* A text buffer that grows, for answers, metrics and SQL literals built on
 * hot paths: appends without printf where it matters.
 *
 *   sb_text_t t = {0};
 *   sb_text_put(&t, "{\"id\":", 6);
 *   sb_text_json_str(&t, id);
 *   ...
 *   if (t.failed) ...out of memory...
 *   sb_text_free(&t);
 */
#ifndef SB_TEXT_H
#define SB_TEXT_H

#include <stddef.h>

/* A text buffer that grows; on allocation failure it stops growing and
 * sets failed. */
typedef struct sb_text_s {
  char *s;
  size_t len, cap;
  int failed;
} sb_text_t;

void sb_text_add(sb_text_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb_text_free(sb_text_t *t);
/* Appends n bytes as they are; an integer in decimal; a string as a JSON
 * string literal (quoted, escaped). No printf on these paths. */
void sb_text_put(sb_text_t *t, const char *p, size_t n);
void sb_text_int(sb_text_t *t, long long v);
void sb_text_json_str(sb_text_t *t, const char *v);
/* Appends v as a quoted element of a PostgreSQL array literal whose "{"
 * t already holds (a comma first unless it is the first element). */
void sb_text_pg_elem(sb_text_t *t, const char *v);

#endif
