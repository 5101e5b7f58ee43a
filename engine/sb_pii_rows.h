/* PII of projection rows on the way out: the read API (GET /v1/projection)
 * reveals or masks the cells of a table's PII columns for the caller, by the
 * same rule as the WebSocket feed (sb_pii_view_for).
 *
 * A processor says which columns of its tables hold PII (vt->pii_cols,
 * sb_pii_col_t in sb_rows.h): a text column lists the origins its sealed
 * values were copied from ("lead.created:phone,lead.updated:phone"), since
 * the envelope's AAD binds tenant, event type and field and a cell does not
 * say which event it came from: each origin is tried, the GCM tag says which
 * one is right, so a value opens only under an origin the column allows. A
 * JSONB column "event:<column>" holds an event's whole data, its type in
 * <column>: revealed field by field (sb_pii_reveal). A column flagged
 * SB_COL_OWNER names the agent a row belongs to: an agent sees the
 * plaintext of its own rows only.
 *
 * A cell whose subject was erased, or that opens under none of its origins,
 * reads "sbx1.erased" (as exports show it). A plaintext value in a PII
 * column (written before sealing) is masked for who may not see it.
 * Columns without a declaration are answered as stored (ciphertext stays
 * ciphertext). */
#ifndef SB_PII_ROWS_H
#define SB_PII_ROWS_H

#include "sb_err.h"
#include "sb_keys.h"
#include "sb_rows.h"
#include "sb_schema.h"

#include <cjson/cJSON.h>

/* A table of a built-in processor, and the PII columns of its processor
 * (those of every table: sb_pii_reveal_rows picks the table's). */
typedef struct sb_pii_table_s {
  const char *name;
  const sb_table_def_t *def;
  const sb_pii_col_t *cols;
} sb_pii_table_t;

/* Finds table of the live projection schema (a built-in processor's name)
 * into *out: 1 when it is declared and has PII columns, else 0. Static
 * declarations: nothing to free. */
int sb_pii_table_find(const char *schema, const char *table,
                      sb_pii_table_t *out);

/* Checks a processor's pii_cols against its tables (sb_processor_check):
 * each names a declared table and a column of it, text with "type:field"
 * origins, or jsonb with "event:<text column>"; SB_EINVAL naming it. */
struct sb_processor_vt_s;
int sb_pii_cols_check(const struct sb_processor_vt_s *vt, sb_err_t *err);

/* Rewrites in place the PII cells of rows (a JSON array of row objects,
 * column name to value, as json_agg gives them) of tenant's table t, for
 * a caller of role (a role name: "admin", "agent", ...) and user id user:
 * per row the view is sb_pii_view_for(role, owns), owns when the row's
 * owner column holds user. *failed (may be NULL) counts the cells that
 * opened under none of their origins (they read "sbx1.erased"). 0, or an
 * error reaching the keys (SB_EPG, ...) or SB_ENOMEM: then some cells may
 * be rewritten already, and the caller answers none of them. */
int sb_pii_reveal_rows(sb_keys_t *k, const sb_schemas_t *s,
                       const sb_pii_table_t *t, const char *tenant,
                       const char *role, const char *user, cJSON *rows,
                       int *failed, sb_err_t *err);

#endif
