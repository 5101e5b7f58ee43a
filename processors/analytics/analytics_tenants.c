/* analytics: tenants' settings (sb.tenants) -> tenants.
 *
 * The settings every bucket of this projection is in (the kit's tenant
 * settings: time zone, locale, currency, name, week start), as a row per
 * tenant, so that a reader (the dashboard's "today") takes the same zone
 * the rows were bucketed in. tenant.created sets every setting (the kit's
 * defaults for those it lacks), tenant.settings_changed the ones it
 * carries; a tenant's events are on one partition, in order; the merged
 * settings are kept in keyed state ("t/<tenant>"); a duplicate (same event
 * id, within analytics.dedupe_window_s) changes nothing. */
#include "analytics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT_VER 1u

enum { S_TZ, S_LOCALE, S_CURRENCY, S_NAME, S_WEEK, S_N };
static const char *const names[S_N] = {"time_zone", "locale", "currency",
                                       "display_name", "week_start"};
/* the kit's defaults (engine/sb_tenant_settings.c) */
static const char *const defaults[S_N] = {"UTC", "en", "USD", "", "monday"};

typedef struct {
  uint32_t ver, pad;
  int64_t at_us;
  char v[S_N][260]; /* display_name: sb.maxLength 256 */
} tenant_t;

typedef struct an_tenants_s {
  sb_etype_ref_t created, changed;
  sb_field_t f[2][S_N];
} an_tenants_t;

const sb_table_def_t an_tenants_table = {
    .name = "tenants",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"time_zone", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"locale", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"currency", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"display_name", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"week_start", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"updated_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {0},
        },
    .key = (const char *const[]){"tenant_id", NULL},
};

int an_tenants_new(an_t *a, an_tenants_t **out, sb_err_t *err) {
  an_tenants_t *t = calloc(1, sizeof *t);
  if (t == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  static const char *const types[2] = {"tenant.created",
                                       "tenant.settings_changed"};
  an_field_t fields[2 * S_N];
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < S_N; i++)
      fields[k * S_N + i] = (an_field_t){types[k], names[i], &t->f[k][i]};
  int rc = sb_codec_type(a->schemas, types[0], &t->created, err);
  if (rc == 0)
    rc = sb_codec_type(a->schemas, types[1], &t->changed, err);
  if (rc == 0)
    rc = an_resolve(a->schemas, fields, sizeof fields / sizeof fields[0], err);
  if (rc != 0) {
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void an_tenants_free(an_tenants_t *t) { free(t); }

int an_tenants_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                     sb_err_t *err) {
  an_tenants_t *k = a->tenants;
  int kind = sb_event_type_is(ev, k->created)   ? 0
             : sb_event_type_is(ev, k->changed) ? 1
                                                : -1;
  *mine = kind >= 0;
  if (kind < 0)
    return 0;
  int seen = 0;
  if (an_seen(a, b, ev, &seen, err) != 0)
    return err->code;
  if (seen)
    return 0;
  char key[AN_ID_MAX + 8];
  snprintf(key, sizeof key, "t/%s", ev->tenant_id);
  tenant_t t;
  const void *v;
  size_t len;
  memset(&t, 0, sizeof t);
  if (kind == 1 && sb_state_get(b, key, &v, &len) == 0 && len == sizeof t &&
      ((const tenant_t *)v)->ver == TENANT_VER) {
    memcpy(&t, v, sizeof t);
  } else {
    for (int i = 0; i < S_N; i++)
      an_copy(t.v[i], sizeof t.v[i], defaults[i]);
  }
  t.ver = TENANT_VER;
  for (int i = 0; i < S_N; i++) {
    if (!sb_event_has(ev, k->f[kind][i]))
      continue;
    const char *s = i == S_WEEK ? sb_event_enum_name(ev, k->f[kind][i])
                                : sb_event_str(ev, k->f[kind][i]);
    if (s != NULL)
      an_copy(t.v[i], sizeof t.v[i], s);
  }
  if (ev->occurred_at > t.at_us)
    t.at_us = ev->occurred_at;
  if (sb_state_put(b, key, &t, sizeof t, err) != 0 ||
      sb_rows_add(b, &an_tenants_table,
                  (const sb_val_t[]){
                      SB_V_TEXT(ev->tenant_id),
                      SB_V_TEXT(t.v[S_TZ]),
                      SB_V_TEXT(t.v[S_LOCALE]),
                      SB_V_TEXT(t.v[S_CURRENCY]),
                      SB_V_TEXT(t.v[S_NAME]),
                      SB_V_TEXT(t.v[S_WEEK]),
                      SB_V_TIMESTAMPTZ(t.at_us),
                  },
                  err) != 0)
    return err->code;
  return 0;
}
