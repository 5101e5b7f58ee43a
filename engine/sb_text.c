#include "sb_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and a NUL; 0, or -1 (and failed set). */
static int text_reserve(sb_text_t *t, size_t n) {
  if (t->failed)
    return -1;
  if (t->len + n + 1 <= t->cap)
    return 0;
  size_t cap = t->cap ? t->cap : 4096;
  while (cap < t->len + n + 1)
    cap *= 2;
  char *s = realloc(t->s, cap);
  if (s == NULL) {
    t->failed = 1;
    return -1;
  }
  t->s = s;
  t->cap = cap;
  return 0;
}

void sb_text_add(sb_text_t *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    t->failed = 1;
    return;
  }
  if (text_reserve(t, (size_t)n) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

void sb_text_free(sb_text_t *t) {
  free(t->s);
  memset(t, 0, sizeof *t);
}

void sb_text_put(sb_text_t *t, const char *p, size_t n) {
  if (text_reserve(t, n) != 0)
    return;
  memcpy(t->s + t->len, p, n);
  t->len += n;
  t->s[t->len] = '\0';
}

void sb_text_int(sb_text_t *t, long long v) {
  char buf[24], *p = buf + sizeof buf;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v
                                : (unsigned long long)v;
  do
    *--p = (char)('0' + u % 10);
  while ((u /= 10) != 0);
  if (v < 0)
    *--p = '-';
  sb_text_put(t, p, (size_t)(buf + sizeof buf - p));
}

void sb_text_json_str(sb_text_t *t, const char *v) {
  static const char hex[] = "0123456789abcdef";
  sb_text_put(t, "\"", 1);
  for (;;) { /* runs of plain characters, each other one escaped */
    size_t n = 0;
    while (v[n] && v[n] != '"' && v[n] != '\\' && (unsigned char)v[n] >= 0x20)
      n++;
    sb_text_put(t, v, n);
    unsigned char c = (unsigned char)v[n];
    if (c == '\0')
      break;
    char esc[6] = {'\\', (char)c};
    size_t en = 2;
    if (c == '\n')
      esc[1] = 'n';
    else if (c == '\r')
      esc[1] = 'r';
    else if (c == '\t')
      esc[1] = 't';
    else if (c < 0x20) {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      en = 6;
    }
    sb_text_put(t, esc, en);
    v += n + 1;
  }
  sb_text_put(t, "\"", 1);
}

void sb_text_pg_elem(sb_text_t *t, const char *v) {
  int first = t->len > 0 && t->s[t->len - 1] == '{';
  sb_text_put(t, first ? "\"" : ",\"", first ? 1 : 2);
  for (;;) { /* runs without a quote or backslash, each of those escaped */
    size_t n = strcspn(v, "\"\\");
    sb_text_put(t, v, n);
    if (v[n] == '\0')
      break;
    sb_text_put(t, "\\", 1);
    sb_text_put(t, v + n, 1);
    v += n + 1;
  }
  sb_text_put(t, "\"", 1);
}
