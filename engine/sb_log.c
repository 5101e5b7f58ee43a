#include "sb_log.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static sb_log_level_t cur_level = SB_LOG_INFO;
static sb_log_format_t cur_format = SB_LOG_TEXT;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
static const char *const level_lower[] = {"debug", "info", "warn", "error"};

void sb_log_setup(sb_log_level_t level, sb_log_format_t format) {
  cur_level = level;
  cur_format = format;
}

sb_log_level_t sb_log_level(void) { return cur_level; }

static void timestamp(char *buf, size_t sz) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, sz, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sz - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* A value needs quoting in text form when it is empty or holds a space,
 * a quote or '='. */
static int needs_quotes(const char *s) {
  if (*s == '\0')
    return 1;
  return strpbrk(s, " \t\"=\n") != NULL;
}

static void text_line(char *buf, size_t sz, const char *ts, sb_log_level_t lvl,
                      const char *comp, const char *msg, va_list ap) {
  size_t n = (size_t)snprintf(buf, sz, "%s %s %s: %s", ts, level_upper[lvl],
                              comp, msg);
  for (;;) {
    sb_log_field_t f = va_arg(ap, sb_log_field_t);
    if (f.key == NULL || n >= sz)
      break;
    switch (f.type) {
    case 'i':
      n += (size_t)snprintf(buf + n, sz - n, " %s=%lld", f.key, f.i);
      break;
    case 'f':
      n += (size_t)snprintf(buf + n, sz - n, " %s=%g", f.key, f.f);
      break;
    default: {
      const char *v = f.s ? f.s : "";
      if (!needs_quotes(v)) {
        n += (size_t)snprintf(buf + n, sz - n, " %s=%s", f.key, v);
        break;
      }
      n += (size_t)snprintf(buf + n, sz - n, " %s=\"", f.key);
      for (const char *p = v; *p && n + 3 < sz; p++) {
        if (*p == '"' || *p == '\\')
          buf[n++] = '\\';
        buf[n++] = (*p == '\n') ? ' ' : *p;
      }
      if (n + 1 < sz)
        buf[n++] = '"';
      buf[n < sz ? n : sz - 1] = '\0';
    }
    }
  }
  if (n >= sz)
    n = sz - 1;
  buf[n] = '\0';
}

static char *json_line(const char *ts, sb_log_level_t lvl, const char *comp,
                       const char *msg, va_list ap) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL)
    return NULL;
  cJSON_AddStringToObject(o, "ts", ts);
  cJSON_AddStringToObject(o, "level", level_lower[lvl]);
  cJSON_AddStringToObject(o, "component", comp);
  cJSON_AddStringToObject(o, "msg", msg);
  for (;;) {
    sb_log_field_t f = va_arg(ap, sb_log_field_t);
    if (f.key == NULL)
      break;
    if (f.type == 'i')
      cJSON_AddNumberToObject(o, f.key, (double)f.i);
    else if (f.type == 'f')
      cJSON_AddNumberToObject(o, f.key, f.f);
    else
      cJSON_AddStringToObject(o, f.key, f.s ? f.s : "");
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

void sb_log(sb_log_level_t level, const char *component, const char *msg, ...) {
  if (level < cur_level || level > SB_LOG_ERROR)
    return;
  char ts[40];
  timestamp(ts, sizeof ts);
  va_list ap;
  va_start(ap, msg);
  if (cur_format == SB_LOG_JSON) {
    char *line = json_line(ts, level, component, msg, ap);
    if (line != NULL) {
      pthread_mutex_lock(&out_lock);
      fprintf(stderr, "%s\n", line);
      pthread_mutex_unlock(&out_lock);
      cJSON_free(line);
    }
  } else {
    char line[4096];
    text_line(line, sizeof line, ts, level, component, msg, ap);
    pthread_mutex_lock(&out_lock);
    fprintf(stderr, "%s\n", line);
    pthread_mutex_unlock(&out_lock);
  }
  va_end(ap);
}

void sb_url_redact(const char *url, char *out, size_t outsz) {
  if (outsz == 0)
    return;
  /* scheme://user:password@host... : hide what lies between ':' and '@'
   * in the authority. */
  const char *auth = strstr(url, "://");
  const char *start = auth ? auth + 3 : url;
  const char *at = strchr(start, '@');
  const char *slash = strchr(start, '/');
  if (at != NULL && (slash == NULL || at < slash)) {
    const char *colon = memchr(start, ':', (size_t)(at - start));
    if (colon != NULL) {
      snprintf(out, outsz, "%.*s****%s", (int)(colon + 1 - url), url, at);
      goto query;
    }
  }
  snprintf(out, outsz, "%s", url);
query:;
  /* key=value form and ?password= in the query string */
  char *p = strstr(out, "password=");
  if (p != NULL) {
    p += strlen("password=");
    char *end = p + strcspn(p, " &");
    size_t tail = strlen(end);
    if ((size_t)(p - out) + 4 + tail < outsz) {
      memmove(p + 4, end, tail + 1);
      memcpy(p, "****", 4);
    }
  }
}
