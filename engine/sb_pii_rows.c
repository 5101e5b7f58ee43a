/* PII of projection rows on the way out (sb_pii_rows.h). */
#include "sb_pii_rows.h"

#include "sb_log.h"
#include "sb_pii.h"
#include "sb_pii_event.h"
#include "sb_processor.h"

#include <stdlib.h>
#include <string.h>

#define ORIGIN_MAX 8   /* origins of one column */
#define ORIGIN_NAME 64 /* bytes of an origin's type or field */

int sb_pii_table_find(const char *schema, const char *table,
                      sb_pii_table_t *out) {
  memset(out, 0, sizeof *out);
  const sb_processor_vt_t *vt = schema ? sb_processor_find(schema) : NULL;
  if (vt == NULL || vt->tables == NULL || vt->pii_cols == NULL ||
      table == NULL)
    return 0;
  for (const sb_table_def_t *const *t = vt->tables; *t; t++)
    if (strcmp((*t)->name, table) == 0)
      out->def = *t;
  for (const sb_pii_col_t *p = vt->pii_cols; p->table; p++)
    if (out->def && strcmp(p->table, table) == 0) {
      out->name = out->def->name;
      out->cols = vt->pii_cols;
      return 1;
    }
  out->def = NULL;
  return 0;
}

static const sb_col_t *col_of(const sb_table_def_t *def, const char *name) {
  for (const sb_col_t *c = def->cols; c->name; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

int sb_pii_cols_check(const sb_processor_vt_t *vt, sb_err_t *err) {
  for (const sb_pii_col_t *p = vt->pii_cols; p && p->table; p++) {
    const sb_table_def_t *def = NULL;
    for (const sb_table_def_t *const *t = vt->tables; t && *t; t++)
      if (strcmp((*t)->name, p->table) == 0)
        def = *t;
    const sb_col_t *c = def && p->column ? col_of(def, p->column) : NULL;
    const char *why =
        def == NULL   ? "names no declared table"
        : c == NULL   ? "names no column of the table"
        : p->pii == NULL ? "has no origins"
        : c->type == SB_COL_JSONB
            ? (strncmp(p->pii, "event:", 6) != 0 ||
                       col_of(def, p->pii + 6) == NULL ||
                       col_of(def, p->pii + 6)->type != SB_COL_TEXT
                   ? "is jsonb: its origin must be event:<text column>"
                   : NULL)
        : c->type != SB_COL_TEXT ? "is neither text nor jsonb"
        : strchr(p->pii, ':') == NULL ? "needs type:field origins"
                                       : NULL;
    if (why)
      return sb_err_set(err, SB_EINVAL, "processor %s: PII column %s.%s %s",
                        vt->name, p->table, p->column ? p->column : "(null)",
                        why);
  }
  return 0;
}

typedef struct {
  char type[ORIGIN_NAME + 1], field[ORIGIN_NAME + 1];
  sb_pii_match_t match;
} origin_t;

/* The "type:field" origins of a column into o (at most ORIGIN_MAX; the
 * declaration is the code's, so a malformed one is skipped, logged). */
static int origins_of(const sb_schemas_t *s, const sb_pii_col_t *c,
                      origin_t *o) {
  int n = 0;
  for (const char *p = c->pii; *p && n < ORIGIN_MAX;) {
    size_t len = strcspn(p, ",");
    const char *colon = memchr(p, ':', len);
    size_t tl = colon ? (size_t)(colon - p) : 0;
    size_t fl = colon ? len - tl - 1 : 0;
    if (colon && tl > 0 && tl <= ORIGIN_NAME && fl > 0 && fl <= ORIGIN_NAME) {
      memcpy(o[n].type, p, tl);
      o[n].type[tl] = '\0';
      memcpy(o[n].field, colon + 1, fl);
      o[n].field[fl] = '\0';
      const sb_evtype_t *t = sb_schemas_by_type(s, o[n].type);
      const sb_fieldattr_t *fa = t ? sb_evtype_attr(t, o[n].field) : NULL;
      o[n].match = fa ? (sb_pii_match_t)fa->match : SB_PII_MATCH_NONE;
      n++;
    } else {
      sb_log(SB_LOG_WARN, "pii", "a column's PII origin is not type:field",
             SB_F_STR("column", c->column), SB_F_STR("pii", c->pii), SB_F_END);
    }
    p += len;
    if (*p == ',')
      p++;
  }
  return n;
}

/* The value a sealed text cell v shows in view, into out (outsz at least
 * strlen(v) + sizeof SB_PII_ERASED). 0, or an error reaching the keys. */
static int reveal_text(sb_keys_t *k, const char *tenant, const origin_t *o,
                       int no, const char *v, sb_pii_view_t view, char *out,
                       size_t outsz, int *failed, const char *col,
                       sb_err_t *err) {
  if (!sb_pii_is_sealed(v)) { /* plaintext from before sealing */
    if (view == SB_PII_VIEW_MASKED)
      sb_pii_mask(no > 0 ? o[0].match : SB_PII_MATCH_NONE, v, out, outsz);
    else
      snprintf(out, outsz, "%s", v);
    return 0;
  }
  for (int i = 0; i < no; i++) {
    sb_err_t oerr = SB_ERR_INIT;
    int rc = sb_pii_open_field(k, tenant, o[i].type, o[i].field, v, out,
                               outsz, &oerr);
    if (rc == 1) /* erased: out says so */
      return 0;
    if (rc == 0) {
      if (view == SB_PII_VIEW_MASKED) {
        char m[400];
        sb_pii_mask(o[i].match, out, m, sizeof m);
        sb_pii_wipe(out, outsz);
        snprintf(out, outsz, "%s", m);
      }
      return 0;
    }
    if (rc == SB_ECRYPTO || rc == SB_EDECODE)
      continue; /* not this origin (or altered): the next one */
    sb_pii_wipe(out, outsz);
    return sb_err_set(err, oerr.code, "%s", oerr.msg);
  }
  (*failed)++;
  sb_log(SB_LOG_WARN, "pii",
         "a sealed cell opens under none of its column's origins: read as "
         "erased",
         SB_F_STR("tenant", tenant), SB_F_STR("column", col), SB_F_END);
  snprintf(out, outsz, "%s", SB_PII_ERASED);
  return 0;
}

/* A JSONB cell holding the data of an event of type: revealed in place. */
static int reveal_data(sb_keys_t *k, const sb_schemas_t *s,
                       const char *tenant, const char *type, cJSON *row,
                       const char *col, sb_pii_view_t view, int *failed,
                       sb_err_t *err) {
  cJSON *cell = cJSON_GetObjectItemCaseSensitive(row, col);
  if (!cJSON_IsObject(cell) || type == NULL)
    return 0;
  cJSON *ce = cJSON_CreateObject();
  if (ce == NULL || !cJSON_AddStringToObject(ce, "type", type) ||
      !cJSON_AddStringToObject(ce, "tenantid", tenant)) {
    cJSON_Delete(ce);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  /* the cell moves into the event and back */
  cJSON_DetachItemViaPointer(row, cell);
  cJSON_AddItemToObject(ce, "data", cell);
  int f = 0;
  int rc = sb_pii_reveal(k, s, ce, view, &f, err);
  *failed += f;
  cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(ce, "data");
  cJSON_Delete(ce);
  if (data)
    cJSON_AddItemToObject(row, col, data);
  return rc;
}

int sb_pii_reveal_rows(sb_keys_t *k, const sb_schemas_t *s,
                       const sb_pii_table_t *t, const char *tenant,
                       const char *role, const char *user, cJSON *rows,
                       int *failed, sb_err_t *err) {
  int nfail = 0, rc = 0;
  if (failed)
    *failed = 0;
  if (t == NULL || t->def == NULL || t->cols == NULL || !cJSON_IsArray(rows))
    return 0;
  const char *owner = NULL;
  for (const sb_col_t *c = t->def->cols; c->name; c++)
    if (c->flags & SB_COL_OWNER)
      owner = c->name;
  cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    if (!cJSON_IsObject(row))
      continue;
    cJSON *ow = owner ? cJSON_GetObjectItemCaseSensitive(row, owner) : NULL;
    int owns = user && cJSON_IsString(ow) && strcmp(ow->valuestring, user) == 0;
    sb_pii_view_t view = sb_pii_view_for(role, owns);
    for (const sb_pii_col_t *p = t->cols; p->table && rc == 0; p++) {
      if (strcmp(p->table, t->name) != 0)
        continue;
      const sb_col_t *c = col_of(t->def, p->column);
      if (c == NULL) /* sb_pii_cols_check refuses it */
        continue;
      if (c->type == SB_COL_JSONB) {
        cJSON *ty = cJSON_GetObjectItemCaseSensitive(row, p->pii + 6);
        rc = reveal_data(k, s, tenant,
                         cJSON_IsString(ty) ? ty->valuestring : NULL, row,
                         c->name, view, &nfail, err);
        continue;
      }
      cJSON *v = cJSON_GetObjectItemCaseSensitive(row, c->name);
      if (!cJSON_IsString(v))
        continue;
      origin_t o[ORIGIN_MAX];
      int no = origins_of(s, p, o);
      size_t cap = strlen(v->valuestring) + sizeof SB_PII_ERASED + 400;
      char *out = malloc(cap);
      if (out == NULL) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        break;
      }
      rc = reveal_text(k, tenant, o, no, v->valuestring, view, out, cap,
                       &nfail, c->name, err);
      cJSON *nv = rc == 0 ? cJSON_CreateString(out) : NULL;
      sb_pii_wipe(out, cap);
      free(out);
      if (rc == 0 && nv == NULL)
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      if (nv)
        cJSON_ReplaceItemInObjectCaseSensitive(row, c->name, nv);
    }
    if (rc != 0)
      break;
  }
  if (failed)
    *failed = nfail;
  return rc;
}
