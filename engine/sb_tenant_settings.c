/* The tenants' settings, for every processor: a global table of the
 * pipeline's own over sb.tenants (tenant.created, tenant.settings_changed),
 * read to its end before the first batch like a processor's global tables,
 * and what the kit answers from it: a tenant's time zone, locale and
 * currency, and the local day or hour of a time in its zone. */
#include "sb_pipeline_int.h"

#include "sb_tz.h"

#include <stdio.h>
#include <string.h>

/* A tenant's row: its settings as NUL-separated text, in this order. */
enum { T_TZ, T_LOCALE, T_CURRENCY, T_NAME, T_WEEK, T_N };
static const char *const defaults[T_N] = {"UTC", "en", "USD", "", "monday"};
static const char *const fields[T_N] = {"time_zone", "locale", "currency",
                                        "display_name", "week_start"};

/* Splits a row into its T_N strings (borrowed from the row). */
static void split(const char *row, size_t len, const char *out[T_N]) {
  for (int i = 0; i < T_N; i++)
    out[i] = defaults[i];
  size_t at = 0;
  for (int i = 0; i < T_N && at < len; i++) {
    out[i] = row + at;
    at += strnlen(row + at, len - at) + 1;
  }
}

static int resolve(sb_pipeline_t *p, sb_err_t *err) {
  if (p->tf.created.type != NULL)
    return 0;
  static const char *const types[2] = {"tenant.created",
                                       "tenant.settings_changed"};
  if (sb_codec_type(p->schemas, types[0], &p->tf.created, err) != 0 ||
      sb_codec_type(p->schemas, types[1], &p->tf.changed, err) != 0)
    return err->code;
  for (int k = 0; k < 2; k++) {
    sb_field_t *f[T_N] = {&p->tf.tz[k], &p->tf.locale[k], &p->tf.currency[k],
                          &p->tf.name[k], &p->tf.week[k]};
    for (int i = 0; i < T_N; i++)
      if (sb_codec_field(p->schemas, types[k], fields[i], f[i], err) != 0)
        return err->code;
  }
  return 0;
}

/* Folds a tenant event: created sets every setting, settings_changed the
 * ones it carries. */
static int reduce(void *arg, sb_global_t *g, const sb_event_t *ev,
                  sb_err_t *err) {
  sb_pipeline_t *p = arg;
  if (resolve(p, err) != 0)
    return err->code;
  int k = sb_event_type_is(ev, p->tf.created)   ? 0
          : sb_event_type_is(ev, p->tf.changed) ? 1
                                                : -1;
  if (k < 0)
    return 0;
  const char *now[T_N];
  const void *old = NULL;
  size_t oldlen = 0;
  char copy[1024];
  if (k == 1 && sb_global_find(g, ev->tenant_id, &old, &oldlen) == 0 &&
      oldlen <= sizeof copy) {
    memcpy(copy, old, oldlen); /* the table may move under a put */
    split(copy, oldlen, now);
  } else {
    split("", 0, now);
  }
  sb_field_t f[T_N] = {p->tf.tz[k], p->tf.locale[k], p->tf.currency[k],
                       p->tf.name[k], p->tf.week[k]};
  for (int i = 0; i < T_N; i++) {
    const char *v = sb_event_has(ev, f[i]) ? sb_event_str(ev, f[i]) : NULL;
    if (v == NULL && i == T_WEEK && sb_event_has(ev, f[i]))
      v = sb_event_enum_name(ev, f[i]);
    if (v != NULL)
      now[i] = v;
  }
  char row[1024];
  size_t len = 0;
  for (int i = 0; i < T_N; i++) {
    int n = snprintf(row + len, sizeof row - len, "%s", now[i]);
    if (n < 0 || (size_t)n + 1 > sizeof row - len)
      return sb_err_set(err, SB_EINVAL, "tenant %s: settings over %zu bytes",
                        ev->tenant_id, sizeof row);
    len += (size_t)n + 1;
  }
  return sb_global_put(g, ev->tenant_id, row, len, err);
}

const sb_global_def_t sb__tenants_def = {"tenants", SB_TOPIC_TENANTS, reduce};

int sb_tenant_settings(sb_batch_t *b, const char *tenant_id, sb_tenant_t *out) {
  const char *v[T_N];
  const void *row = NULL;
  size_t len = 0;
  int rc = SB_ENOENT;
  if (b->p->tenants != NULL &&
      sb_global_find(b->p->tenants, tenant_id, &row, &len) == 0) {
    split(row, len, v);
    rc = 0;
  } else {
    split("", 0, v);
  }
  out->time_zone = v[T_TZ];
  out->locale = v[T_LOCALE];
  out->currency = v[T_CURRENCY];
  out->display_name = v[T_NAME];
  out->week_start = v[T_WEEK];
  sb_err_t err = SB_ERR_INIT;
  if (sb_tz_load(out->time_zone, &out->tz, &err) != 0 &&
      sb_tz_load("UTC", &out->tz, &err) != 0)
    out->tz = NULL; /* no zone files at all: UTC arithmetic below */
  return rc;
}

/* The tenant's zone (UTC when unknown). */
static const sb_tz_t *zone(sb_batch_t *b, const char *tenant_id) {
  sb_tenant_t t;
  sb_tenant_settings(b, tenant_id, &t);
  return t.tz;
}

int64_t sb_tenant_day(sb_batch_t *b, const char *tenant_id, int64_t utc_us) {
  const sb_tz_t *tz = zone(b, tenant_id);
  if (tz == NULL)
    return utc_us >= 0 ? utc_us / 86400000000LL
                       : -((-utc_us + 86399999999LL) / 86400000000LL);
  return sb_tz_day(tz, utc_us);
}

int64_t sb_tenant_hour_start(sb_batch_t *b, const char *tenant_id,
                             int64_t utc_us) {
  const sb_tz_t *tz = zone(b, tenant_id);
  return tz ? sb_tz_hour_start(tz, utc_us) : utc_us - utc_us % 3600000000LL;
}

int64_t sb_tenant_day_start(sb_batch_t *b, const char *tenant_id,
                            int64_t utc_us) {
  const sb_tz_t *tz = zone(b, tenant_id);
  return tz ? sb_tz_day_start(tz, utc_us)
            : sb_tenant_day(b, tenant_id, utc_us) * 86400000000LL;
}
