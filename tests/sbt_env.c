#include "sbt_env.h"

#include "sb_migrate.h"
#include "sb_test.h"

#include <stdio.h>
#include <string.h>

int sbt_env_up(sbt_env_t *x) {
  sb_err_t err = SB_ERR_INIT;
  char url[600];
  memset(x, 0, sizeof *x);
  sb_conf_init(&x->c, NULL);
  sb_conf_set(&x->c, "partitions", "2", SB_CO_FLAG, NULL, NULL);
  sb_conf_set(&x->c, "batch.max_ms", "50", SB_CO_FLAG, NULL, NULL);
  if (sbt_pg_create_db(url, sizeof url, x->db, sizeof x->db) != 0)
    return -1;
  sb_conf_set(&x->c, "database_url", url, SB_CO_FLAG, NULL, NULL);
  if (sb_embedded_start(&x->c, &x->broker, &err) != 0 ||
      sb_conf_set(&x->c, "brokers", sb_embedded_bootstraps(x->broker),
                  SB_CO_FLAG, NULL, &err) != 0 ||
      sb_pg_connect(url, &x->pg, &err) != 0 ||
      sb_migrate(x->pg, sb_migrations, sb_migrations_n, NULL, &err) != 0 ||
      sb_schemas_load(&x->schemas, &err) != 0 ||
      sb_codec_new(x->schemas, &x->codec, &err) != 0) {
    fprintf(stderr, "env: %s\n", err.msg);
    return -1;
  }
  return 0;
}

void sbt_env_down(sbt_env_t *x) {
  sb_codec_free(x->codec);
  sb_schemas_free(x->schemas);
  sb_pg_close(x->pg);
  sb_embedded_stop(x->broker);
  sb_conf_free(&x->c);
  sbt_pg_drop_db(x->db);
}
