/* Projection migrations: a processor lists the DDL steps of its projection,
 * in order; each schema that holds that projection records which steps it
 * has (sb.projection_steps, with a SHA-256 of each step's text), and
 * sb_projection_migrate applies the missing ones, in order. A step changed
 * after it was applied, or a schema holding steps this binary does not
 * know, is refused with a message naming the processor, the schema and the
 * step: a projection is migrated or refused, never left behind silently.
 *
 * Row-level security by construction: after every step each table of the
 * schema must have a tenant_id column (a table without one is refused,
 * named) and gets row-level security through sb.protect_projection: the
 * reader role sees the rows of its login's tenant, and only the
 * application role writes.
 *
 * Both functions work inside the transaction the caller opened (they never
 * begin, commit or roll back). Steps are DDL: only the database owner
 * applies them; the application role may call sb_projection_migrate on an
 * up-to-date schema (it only reads then). */
#ifndef SB_PROJECTION_H
#define SB_PROJECTION_H

#include "sb_err.h"
#include "sb_pg.h"

typedef struct sb_proj_step_s {
  int version;     /* > 0, increasing; a released step never changes */
  const char *ddl; /* statements; "{schema}" stands for the schema's name */
} sb_proj_step_t;  /* arrays end with {0} */

/* Brings schema (created when missing) up to the steps of processor.
 * *applied (may be NULL) counts the steps this call applied. Concurrent
 * callers for one schema serialise on a transaction-level advisory lock.
 * Errors: SB_ESTATE for a changed, unknown or newer step, a table without
 * tenant_id, or a schema of another processor; the server's error (with
 * its SQLSTATE: 42501 when this login may not run DDL) otherwise. */
int sb_projection_migrate(sb_pg_t *pg, const char *processor,
                          const char *schema, const sb_proj_step_t *steps,
                          int *applied, sb_err_t *err);

/* Checks the row-level security of every table of schema: a tenant_id
 * column, row-level security enabled, a reader policy on tenant_id, no
 * write privilege for the reader; no partition, view or other relation the
 * reader may read past it (a view with security_invoker is fine: it reads
 * the tables with the reader's own rights, row-level security included). SB_ESTATE naming the first table that fails;
 * SB_ENOENT when schema does not exist. */
int sb_projection_check_rls(sb_pg_t *pg, const char *schema, sb_err_t *err);

#endif
