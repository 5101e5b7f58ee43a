#include "sb_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  int code;
  bool retriable;
  const char *name;
  const char *desc;
} err_info_t;

static const err_info_t err_table[] = {
#define X(name, value, retriable, desc) {value, retriable, "SB_E" #name, desc},
    SB_ERRNO_MAP(X)
#undef X
};

static const err_info_t *lookup(int code) {
  for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
    if (err_table[i].code == code)
      return &err_table[i];
  return NULL;
}

const char *sb_err_name(int code) {
  const err_info_t *e = lookup(code);
  return e ? e->name : "SB_EUNKNOWN";
}

const char *sb_strerror(int code) {
  const err_info_t *e = lookup(code);
  return e ? e->desc : "unknown error";
}

int sb_err_set(sb_err_t *err, int code, const char *fmt, ...) {
  if (err == NULL || err->code != 0)
    return code;
  const err_info_t *e = lookup(code);
  err->code = code;
  err->retriable = e ? e->retriable : false;
  err->fatal = false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

void sb_err_prefix(sb_err_t *err, const char *fmt, ...) {
  if (err == NULL || err->code == 0)
    return;
  char prefix[SB_ERR_MSG_MAX];
  char old[SB_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  size_t n = strlen(prefix);
  if (n >= sizeof err->msg)
    n = sizeof err->msg - 1;
  memcpy(err->msg, prefix, n);
  size_t rest = strlen(old);
  if (n + rest >= sizeof err->msg)
    rest = sizeof err->msg - 1 - n;
  memcpy(err->msg + n, old, rest);
  err->msg[n + rest] = '\0';
}

void sb_err_clear(sb_err_t *err) {
  if (err == NULL)
    return;
  memset(err, 0, sizeof *err);
}

int sb_err_sqlstate_is(const sb_err_t *err, const char *prefix) {
  return err != NULL && err->code != 0 && err->sqlstate[0] != '\0' &&
         strncmp(err->sqlstate, prefix, strlen(prefix)) == 0;
}
