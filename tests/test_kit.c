/* The kit's guarantees over every processor built in. */
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pipeline.h"
#include "sb_projection.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>

/* Row-level security by construction: every projection table of every
 * processor has tenant_id, RLS on, the reader's tenant policy, and no
 * write grant for readers. */
int test_kit_rls_on_every_projection(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_migrate(pg, sb_migrations, sb_migrations_n, NULL, &err), &err);
  int n = 0;
  for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++) {
    CHECK_OK(sb_processor_ensure_live(pg, *p, &err), &err);
    if (sb_projection_check_rls(pg, (*p)->name, &err) != 0) {
      fprintf(stderr, "processor %s: %s\n", (*p)->name, err.msg);
      CHECK(0);
    }
    n++;
  }
  CHECK(n >= 2); /* audit and kittest at least */
  /* and the check can fail: a projection table opened to readers unfiltered */
  CHECK_OK(sb_pg_exec(pg, "ALTER TABLE kittest.leads DISABLE ROW LEVEL SECURITY",
                      0, NULL, &err),
           &err);
  CHECK_INT(sb_projection_check_rls(pg, "kittest", &err), SB_ESTATE);
  CHECK_HAS(err.msg, "leads");
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}
