/* "sb.format" of string fields: what a time zone, a currency or a locale
 * must be, checked at ingest (sb_codec_from_ce) and at typed emit. */
#include "sb_codec_int.h"

#include "sb_tz.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static int is_alpha(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static int is_alnum(char ch) { return is_alpha(ch) || (ch >= '0' && ch <= '9'); }

/* [A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*: the shape of a BCP 47 tag ("en",
 * "pt-BR", "zh-Hant-TW", "es-419"), not its registry. */
static int locale_ok(const char *s) {
  size_t n = 0;
  while (is_alpha(s[n]))
    n++;
  if (n < 2 || n > 8)
    return 0;
  s += n;
  while (*s == '-') {
    n = 0;
    while (is_alnum(s[1 + n]))
      n++;
    if (n < 1 || n > 8)
      return 0;
    s += 1 + n;
  }
  return *s == '\0';
}

int sb__range_check(const sb_fieldattr_t *fa, int64_t x, char *why, size_t n) {
  if (fa == NULL ||
      !((fa->has_min && x < fa->min) || (fa->has_max && x > fa->max)))
    return 0;
  if (fa->has_min && fa->has_max)
    snprintf(why, n, "%lld is out of range [%lld, %lld]", (long long)x,
             (long long)fa->min, (long long)fa->max);
  else if (fa->has_min)
    snprintf(why, n, "%lld is less than %lld", (long long)x,
             (long long)fa->min);
  else
    snprintf(why, n, "%lld is more than %lld", (long long)x,
             (long long)fa->max);
  return -1;
}

int sb__format_check(const sb_fieldattr_t *fa, const char *s, char *why,
                     size_t n) {
  switch (fa ? fa->format : SB_FORMAT_NONE) {
  case SB_FORMAT_NONE:
    return 0;
  case SB_FORMAT_TIMEZONE: {
    const sb_tz_t *tz;
    sb_err_t err = SB_ERR_INIT;
    if (sb_tz_load(s, &tz, &err) == 0)
      return 0;
    if (!sb_tz_name_valid(s))
      snprintf(why, n, "not an IANA time zone name (such as "
               "America/New_York, Europe/London, UTC)");
    else
      snprintf(why, n, "'%s' is not a known IANA time zone%s", s,
               err.code == SB_ENOENT ? "" : " (its file cannot be used)");
    return -1;
  }
  case SB_FORMAT_CURRENCY:
    if (strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' &&
        s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z')
      return 0;
    snprintf(why, n, "not an ISO 4217 currency code (three capital letters, "
             "such as USD)");
    return -1;
  case SB_FORMAT_LOCALE:
    if (locale_ok(s))
      return 0;
    snprintf(why, n, "not a BCP 47 language tag (such as en, en-US, pt-BR)");
    return -1;
  case SB_FORMAT_ONE_OF: {
    size_t len = strlen(s);
    for (const char *p = fa->one_of; p && *p;) {
      const char *e = strchr(p, ',');
      size_t pl = e ? (size_t)(e - p) : strlen(p);
      if (pl == len && memcmp(p, s, len) == 0)
        return 0;
      p = e ? e + 2 : p + pl;
    }
    snprintf(why, n, "'%.64s' is not one of %s", s, fa->one_of);
    return -1;
  }
  }
  snprintf(why, n, "unknown sb.format");
  return -1;
}

int sb__changes_check(const sb_evtype_t *t, const cJSON *data, sb_err_t *err) {
  const char *list = sb_evtype_change_list(t);
  if (list == NULL)
    return 0;
  const cJSON *names = cJSON_GetObjectItemCaseSensitive(data, list);
  avro_schema_t s = sb_evtype_avro(t);
  const cJSON *it;
  int i = 0;
  cJSON_ArrayForEach(it, names) { /* strings: the codec checked */
    const char *name = it->valuestring;
    if (strcmp(name, list) == 0 || sb__envelope_attr(name) != NULL ||
        strcmp(name, "actor") == 0 || strcmp(name, sb_evtype_subject(t)) == 0 ||
        avro_schema_record_field_get_index(s, name) < 0)
      return sb_err_set(err, SB_EVALIDATE, "data.%s[%d]: '%.64s' is not a "
                        "field %s can change", list, i, name, sb_evtype_name(t));
    const cJSON *before = names->child;
    for (int k = 0; k < i; k++, before = before->next)
      if (strcmp(before->valuestring, name) == 0)
        return sb_err_set(err, SB_EVALIDATE, "data.%s[%d]: '%s' is listed "
                          "twice", list, i, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, name);
    const sb_fieldattr_t *fa = sb_evtype_attr(t, name);
    if ((v == NULL || cJSON_IsNull(v)) && fa && fa->not_clearable)
      return sb_err_set(err, SB_EVALIDATE, "data.%s: listed in %s, so it must "
                        "be given (it cannot be cleared)", name, list);
    i++;
  }
  const cJSON *k;
  cJSON_ArrayForEach(k, data) {
    if (strcmp(k->string, list) == 0 || cJSON_IsNull(k))
      continue;
    int listed = 0;
    cJSON_ArrayForEach(it, names) listed |= strcmp(it->valuestring, k->string) == 0;
    if (!listed)
      return sb_err_set(err, SB_EVALIDATE, "data.%s: given but not listed in "
                        "%s", k->string, list);
  }
  return 0;
}
