/* The environment of a test that runs the engine for real: a throw-away
 * database (migrated), the embedded broker (2 partitions a topic), the
 * schemas and a codec, and the configuration pointing at them. */
#ifndef SBT_ENV_H
#define SBT_ENV_H

#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_kafka.h"
#include "sb_pg.h"
#include "sb_schema.h"

typedef struct {
  sb_conf_t c;
  sb_embedded_t *broker;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_pg_t *pg;
  char db[64];
} sbt_env_t;

/* 0, or -1 with the reason on stderr. */
int sbt_env_up(sbt_env_t *x);
void sbt_env_down(sbt_env_t *x);

#endif
