#include "audit.h"
#include "audit_checkpoint.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One chain's head: committed, and as the open batch left it. */
typedef struct {
  char *tenant;
  char topic[64];
  int32_t partition;
  int64_t seq, pending_seq;
  unsigned char hash[32], pending_hash[32];
  int dirty;
  int64_t offset, pending_offset; /* Kafka offset of the head row */
  int64_t cp_seq; /* seq last published in a signed checkpoint */
  /* a signed checkpoint beyond the loaded head: the row this worker
   * appends at expect_seq must hash to expect_hash (0: none) */
  int64_t expect_seq;
  unsigned char expect_hash[32];
} chain_t;


typedef struct {
  chain_t *chains;
  size_t n, cap;
  /* chains by (tenant, topic, partition): open addressing, 1 + index into
   * chains (0 empty), at most half full; rebuilt when chains are dropped */
  uint32_t *index;
  size_t index_cap;
  EVP_MD_CTX *md;
  EVP_MD *sha256;
  int *months; /* YYYYMM of partitions known to exist */
  size_t nmonths, months_cap;
  int64_t month_lo, month_hi; /* the last month seen to exist */
  sb_sigkey_t *key;  /* signs checkpoints; loaded at the first one */
  long long cp_at;   /* when checkpoints were last published (ms) */
  int cp_interval_ms; /* audit.checkpoint_interval_ms */
  int has_default; /* events_default exists: 0 unknown, 1 yes, -1 no */
  sb_ckpt_set_t cps; /* the newest checkpoints, as read at an assignment */
  long long cps_size; /* of the checkpoint file then; -1 not read */
  char fork[512]; /* a row of the batch differs from its checkpoint: why */
} audit_t;

/* Month partitions are made for the months from AUDIT_MONTHS_BACK before
 * the wall clock's to AUDIT_MONTHS_AHEAD after it; an event of any other
 * month is stored in the default partition (events_default). Live ingest
 * accepts only times within ingest.max_past_seconds and
 * ingest.max_future_seconds; this bounds what other producers and imports
 * of history can make. */
#define AUDIT_MONTHS_BACK 12
#define AUDIT_MONTHS_AHEAD 1
#define SB_STR_(x) #x
#define SB_STR(x) SB_STR_(x)

static const char *const topics[] = {
    SB_TOPIC_LEADS,    SB_TOPIC_CALLS,      SB_TOPIC_AGENTS,
    SB_TOPIC_MESSAGES, SB_TOPIC_CAMPAIGNS,  SB_TOPIC_COMPLIANCE,
    SB_TOPIC_GAMIFICATION, SB_TOPIC_TENANTS, NULL,
};

static const char ddl[] =
    "CREATE TABLE {schema}.events (\n"
    "  tenant_id       text        NOT NULL,\n"
    "  topic           text        NOT NULL,\n"
    "  kafka_partition integer     NOT NULL,\n"
    "  kafka_offset    bigint      NOT NULL,\n"
    "  chain_seq       bigint      NOT NULL,\n"
    "  event_id        text        NOT NULL,\n"
    "  event_type      text        NOT NULL,\n"
    "  subject         text        NOT NULL,\n"
    "  occurred_at     timestamptz NOT NULL,\n"
    "  schema_id       integer     NOT NULL,\n"
    "  correlation_id  text,\n"
    "  actor_user_id   text,\n"
    "  payload         bytea       NOT NULL,\n"
    "  prev_hash       bytea       NOT NULL,\n"
    "  hash            bytea       NOT NULL,\n"
    "  recorded_at     timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (tenant_id, topic, kafka_partition, chain_seq, occurred_at)\n"
    ") PARTITION BY RANGE (occurred_at);\n"
    /* months outside the window ensure_month creates partitions for */
    "CREATE TABLE {schema}.events_default PARTITION OF {schema}.events "
    "DEFAULT;\n"
    /* every row costs each index an insert: the subject index serves
     * exports by subject (DSARs); time ranges go through a BRIN index,
     * tiny and cheap, as rows arrive roughly in time order */
    "CREATE INDEX ON {schema}.events (tenant_id, subject, occurred_at);\n"
    "CREATE INDEX ON {schema}.events USING brin (occurred_at);\n"
    "CREATE TABLE {schema}.chain_heads (\n"
    "  tenant_id       text    NOT NULL,\n"
    "  topic           text    NOT NULL,\n"
    "  kafka_partition integer NOT NULL,\n"
    "  last_seq        bigint  NOT NULL,\n"
    "  last_hash       bytea   NOT NULL,\n"
    "  PRIMARY KEY (tenant_id, topic, kafka_partition)\n"
    ");\n"
    "CREATE FUNCTION {schema}.append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RAISE EXCEPTION 'audit rows are append-only (% refused)', "
    "TG_OP; END $$;\n"
    "CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {schema}.events "
    "FOR EACH ROW EXECUTE FUNCTION {schema}.append_only();\n"
    "CREATE FUNCTION {schema}.ensure_month(p_schema text, p_month integer) "
    "RETURNS void LANGUAGE plpgsql SECURITY DEFINER "
    "SET search_path = pg_catalog, pg_temp AS $$\n"
    "DECLARE lo timestamptz := make_timestamptz(p_month / 100, p_month % 100, "
    "1, 0, 0, 0, 'UTC');\n"
    "  cur timestamptz := date_trunc('month', now(), 'UTC');\n"
    "  seen boolean;\n"
    "BEGIN\n"
    /* a partition only for the months of the window (AUDIT_MONTHS_BACK and
     * _AHEAD of audit.c), whoever calls: events of other months go to the
     * default partition, so no producer multiplies the relations */
    "  IF lo < cur - interval '" SB_STR(AUDIT_MONTHS_BACK) " months' OR "
    "lo > cur + interval '" SB_STR(AUDIT_MONTHS_AHEAD) " months' THEN "
    "RETURN; END IF;\n"
    "  PERFORM pg_advisory_xact_lock(hashtext(p_schema || '.events'));\n"
    /* rows of the month already in the default partition stay there */
    "  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.events_default WHERE "
    "occurred_at >= %L AND occurred_at < %L)', p_schema, lo, "
    "lo + interval '1 month') INTO seen;\n"
    "  IF seen THEN RETURN; END IF;\n"
    "  EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.events "
    "FOR VALUES FROM (%L) TO (%L)', p_schema, 'events_' || p_month, p_schema, "
    "lo, lo + interval '1 month');\n"
    "END $$;\n"
    "GRANT EXECUTE ON FUNCTION {schema}.ensure_month(text, integer) TO "
    "switchboard_app;\n"
    "GRANT SELECT, INSERT ON {schema}.events TO switchboard_app;\n"
    "GRANT SELECT, INSERT, UPDATE ON {schema}.chain_heads TO switchboard_app;\n";

/* A copy of each chain's newest signed checkpoint, for readers (the
 * dashboard): the checkpoint itself is the signed line in the file and on
 * sb.audit.checkpoints, which `audit verify` checks; this copy is as
 * writable as any table, so it proves nothing. chain_status is what the
 * projection says of each chain, cheaply (primary-key lookups only): its
 * head, whether the head row is there with the head's hash, and whether
 * the row the checkpoint copy names still holds the hash it was signed
 * with. Whether every row links to the one before, matches the Kafka log
 * and the signed checkpoints only `switchboard audit verify` knows. */
static const char checkpoints_ddl[] =
    "CREATE TABLE {schema}.checkpoints (\n"
    "  tenant_id       text        NOT NULL,\n"
    "  topic           text        NOT NULL,\n"
    "  kafka_partition integer     NOT NULL,\n"
    "  seq             bigint      NOT NULL,\n"
    "  kafka_offset    bigint      NOT NULL,\n"
    "  head_hash       bytea       NOT NULL,\n"
    "  signed_at       timestamptz NOT NULL,\n"
    "  key_id          text,\n"
    "  PRIMARY KEY (tenant_id, topic, kafka_partition)\n"
    ");\n"
    "GRANT SELECT, INSERT, UPDATE ON {schema}.checkpoints TO "
    "switchboard_app;\n"
    "CREATE VIEW {schema}.chain_status WITH (security_invoker = true) AS "
    "SELECT h.tenant_id, h.topic, h.kafka_partition, h.last_seq, "
    "encode(h.last_hash, 'hex') AS head_hash, e.kafka_offset AS head_offset, "
    "e.occurred_at AS head_occurred_at, e.recorded_at AS head_recorded_at, "
    "(e.hash IS NOT NULL AND e.hash = h.last_hash) AS head_matches, "
    "c.seq AS checkpoint_seq, c.kafka_offset AS checkpoint_offset, "
    "c.signed_at AS checkpoint_at, c.key_id AS checkpoint_key, "
    "CASE WHEN c.seq IS NULL THEN NULL ELSE (k.hash IS NOT NULL AND k.hash = "
    "c.head_hash) END AS checkpoint_matches, "
    "h.last_seq - coalesce(c.seq, 0) AS rows_since_checkpoint "
    "FROM {schema}.chain_heads h "
    "LEFT JOIN LATERAL (SELECT x.kafka_offset, x.occurred_at, x.recorded_at, "
    "x.hash FROM {schema}.events x WHERE x.tenant_id = h.tenant_id AND "
    "x.topic = h.topic AND x.kafka_partition = h.kafka_partition AND "
    "x.chain_seq = h.last_seq LIMIT 1) e ON true "
    "LEFT JOIN {schema}.checkpoints c ON c.tenant_id = h.tenant_id AND "
    "c.topic = h.topic AND c.kafka_partition = h.kafka_partition "
    "LEFT JOIN LATERAL (SELECT y.hash FROM {schema}.events y WHERE "
    "y.tenant_id = c.tenant_id AND y.topic = c.topic AND y.kafka_partition = "
    "c.kafka_partition AND y.chain_seq = c.seq LIMIT 1) k ON true;\n"
    "GRANT SELECT ON {schema}.chain_status TO switchboard_app;\n";

/* The projection's steps: step 1 is the DDL the audit log was born with;
 * a change is a new step, never an edit of a released one. */
static const sb_proj_step_t migrations[] = {
    {1, ddl},
    /* the producer's CloudEvents id when it is not event_id (the record's
     * ce_id header): NULL on every row before it and for ULID ids */
    {2, "ALTER TABLE {schema}.events ADD COLUMN ce_id text;\n"},
    {3, checkpoints_ddl},
    {0, NULL},
};

/* What the kit writes: the log's rows, appended (binary COPY, streamed to
 * the server while the batch fills), and the chains' heads, upserted. */
static const sb_table_def_t events_table = {
    .name = "events",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"topic", SB_COL_TEXT, 0},
            {"kafka_partition", SB_COL_INT4, 0},
            {"kafka_offset", SB_COL_INT8, 0},
            {"chain_seq", SB_COL_INT8, 0},
            {"event_id", SB_COL_TEXT, 0},
            {"event_type", SB_COL_TEXT, 0},
            {"subject", SB_COL_TEXT, 0},
            {"occurred_at", SB_COL_TIMESTAMPTZ, 0},
            {"schema_id", SB_COL_INT4, 0},
            {"correlation_id", SB_COL_TEXT, 0},
            {"actor_user_id", SB_COL_TEXT, 0},
            {"payload", SB_COL_BYTEA, 0},
            {"prev_hash", SB_COL_BYTEA, 0},
            {"hash", SB_COL_BYTEA, 0},
            {"ce_id", SB_COL_TEXT, 0},
            {0},
        },
};

static const sb_table_def_t heads_table = {
    .name = "chain_heads",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"topic", SB_COL_TEXT, 0},
            {"kafka_partition", SB_COL_INT4, 0},
            {"last_seq", SB_COL_INT8, SB_MERGE_REPLACE},
            {"last_hash", SB_COL_BYTEA, SB_MERGE_REPLACE},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "topic", "kafka_partition",
                                 NULL},
};

static const sb_table_def_t *const tables[] = {&events_table, &heads_table,
                                               NULL};

/* ---- hashing ---------------------------------------------------------- */

/* The canonical encoding goes through one digest update from a buffer
 * (on the stack for the usual sizes), with a context the caller keeps. */
static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--)
    *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint8_t *put_lp(uint8_t *p, const void *s, size_t n) {
  p = put_be(p, n, 4);
  memcpy(p, s, n);
  return p + n;
}

static int hash_row(EVP_MD_CTX *md, const EVP_MD *sha, const sb_audit_row_t *r,
                    unsigned char out[32]) {
  size_t lt = strlen(r->tenant_id), lp = strlen(r->topic),
         le = strlen(r->event_id), ly = strlen(r->type),
         ls = strlen(r->subject);
  size_t lc = r->ce_id ? strlen(r->ce_id) : 0;
  size_t need = 32 + 8 * 5 + 4 * 7 + lt + lp + le + ly + ls + r->payload_len +
                lc;
  uint8_t stack[2048], *buf = need <= sizeof stack ? stack : malloc(need);
  if (buf == NULL)
    return -1;
  uint8_t *p = buf;
  memcpy(p, r->prev_hash, 32);
  p = put_be(p + 32, (uint64_t)r->seq, 8);
  p = put_lp(p, r->tenant_id, lt);
  p = put_lp(p, r->topic, lp);
  p = put_be(p, (uint64_t)(uint32_t)r->partition, 8);
  p = put_be(p, (uint64_t)r->offset, 8);
  p = put_lp(p, r->event_id, le);
  p = put_lp(p, r->type, ly);
  p = put_lp(p, r->subject, ls);
  p = put_be(p, (uint64_t)r->occurred_at, 8);
  p = put_lp(p, r->payload, r->payload_len);
  /* last, and only when there is one: a row without it hashes as every
   * row did before the column (the encoding stays unambiguous: the bytes
   * after the payload are the producer's id or nothing) */
  if (r->ce_id != NULL)
    p = put_lp(p, r->ce_id, lc);
  unsigned int len = 32;
  int ok = EVP_DigestInit_ex(md, sha, NULL) == 1 &&
           EVP_DigestUpdate(md, buf, (size_t)(p - buf)) == 1 &&
           EVP_DigestFinal_ex(md, out, &len) == 1;
  if (buf != stack)
    free(buf);
  return ok ? 0 : -1;
}

void sb_audit_hash(const sb_audit_row_t *r, unsigned char out[32]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md == NULL || hash_row(md, EVP_sha256(), r, out) != 0)
    memset(out, 0, 32); /* never matches a stored hash: verify reports it */
  EVP_MD_CTX_free(md);
}

/* ---- state ------------------------------------------------------------ */

static uint64_t chain_key(const char *tenant, const char *topic,
                          int32_t partition) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *p = tenant; *p; p++)
    h = (h ^ (uint8_t)*p) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *p = topic; *p; p++)
    h = (h ^ (uint8_t)*p) * 1099511628211ull;
  return (h ^ (uint32_t)partition) * 1099511628211ull;
}

/* Puts chains[i] in the index, at the first free slot from its key's. */
static void index_put(audit_t *a, uint64_t key, size_t i) {
  size_t k = key & (a->index_cap - 1);
  while (a->index[k] != 0)
    k = (k + 1) & (a->index_cap - 1);
  a->index[k] = (uint32_t)(i + 1);
}

/* Indexes every chain again, in place (no allocation: revoke cannot fail). */
static void index_fill(audit_t *a) {
  memset(a->index, 0, a->index_cap * sizeof *a->index);
  for (size_t i = 0; i < a->n; i++) {
    chain_t *c = &a->chains[i];
    index_put(a, chain_key(c->tenant, c->topic, c->partition), i);
  }
}

static chain_t *find_chain(audit_t *a, const char *tenant, const char *topic,
                           int32_t partition, int create) {
  uint64_t key = chain_key(tenant, topic, partition);
  size_t k = a->index_cap ? key & (a->index_cap - 1) : 0;
  for (; a->index_cap && a->index[k] != 0; k = (k + 1) & (a->index_cap - 1)) {
    chain_t *c = &a->chains[a->index[k] - 1];
    if (c->partition == partition && strcmp(c->tenant, tenant) == 0 &&
        strcmp(c->topic, topic) == 0)
      return c;
  }
  if (!create)
    return NULL;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    chain_t *c = realloc(a->chains, cap * sizeof *c);
    if (c == NULL)
      return NULL;
    a->chains = c;
    a->cap = cap;
  }
  chain_t *c = &a->chains[a->n];
  memset(c, 0, sizeof *c);
  if ((c->tenant = strdup(tenant)) == NULL)
    return NULL;
  snprintf(c->topic, sizeof c->topic, "%s", topic);
  c->partition = partition;
  a->n++;
  if (2 * a->n > a->index_cap) { /* grow: twice the slots, all again */
    size_t cap = a->index_cap ? 2 * a->index_cap : 128;
    uint32_t *ix = realloc(a->index, cap * sizeof *ix);
    if (ix == NULL) {
      free(c->tenant);
      a->n--;
      return NULL;
    }
    a->index = ix;
    a->index_cap = cap;
    index_fill(a);
  } else {
    index_put(a, key, a->n - 1);
  }
  return c;
}

/* Drops chain i; the caller indexes the chains again. */
static void drop_chain(audit_t *a, size_t i) {
  free(a->chains[i].tenant);
  a->chains[i] = a->chains[--a->n];
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  audit_t *a = calloc(1, sizeof *a);
  if (a == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  if (sb_conf_int(kit->conf, "audit.checkpoint_interval_ms",
                  &a->cp_interval_ms, err) != 0) {
    free(a);
    return err->code;
  }
  a->md = EVP_MD_CTX_new();
  a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  a->cps_size = -1;
  *state = a;
  if (a->md == NULL || a->sha256 == NULL)
    return sb_err_set(err, SB_EINTERNAL, "audit: OpenSSL has no SHA-256");
  return 0;
}

static void destroy(void *state) {
  audit_t *a = state;
  while (a->n > 0)
    drop_chain(a, a->n - 1);
  free(a->chains);
  free(a->index);
  EVP_MD_CTX_free(a->md);
  EVP_MD_free(a->sha256);
  free(a->months);
  sb_sigkey_free(a->key);
  sb_ckpt_set_clear(&a->cps);
  free(a);
}

/* Bytes of the checkpoint file's end read at an assignment: the newest
 * checkpoint of a chain in use is there. */
#define CKPT_TAIL (16 * 1024 * 1024)

static int cut_or_rewritten(sb_err_t *err, const chain_t *c,
                            const sb_ckpt_entry_t *e, const char *what) {
  return sb_err_set(err, SB_ESTATE,
                    "audit: chain tenant=%s topic=%s partition=%d %s its "
                    "signed checkpoint at seq %lld (%s, %s): the audit log "
                    "was tampered with in PostgreSQL; nothing is appended to "
                    "it. Run 'switchboard audit verify'",
                    c->tenant, c->topic, c->partition, what,
                    (long long)e->c.seq, e->time, e->src);
}

/* Each chain of the partition, as loaded from PostgreSQL, still holds what
 * its newest signed checkpoint covers: a chain cut below it or rewritten
 * is not appended to (the worker stops, saying which). The live
 * projection only; checkpoints from the file's last CKPT_TAIL bytes, read
 * again when the file changed. */
static int check_loaded(audit_t *a, sb_batch_t *b, const char *topic,
                        int32_t partition, sb_err_t *err) {
  const sb_conf_t *conf = sb_batch_conf(b);
  char path[PATH_MAX];
  struct stat st;
  if (strcmp(sb_batch_schema(b), sb_batch_processor(b)) != 0 ||
      snprintf(path, sizeof path, "%s/%s", conf->data_dir, SB_CKPT_FILE) >=
          (int)sizeof path ||
      stat(path, &st) != 0)
    return 0; /* a rebuild, or no checkpoint yet */
  if (a->key == NULL) {
    sb_err_t kerr = SB_ERR_INIT;
    if (sb_sigkey_load_private(conf->data_dir, 0, &a->key, &kerr) != 0) {
      sb_log(SB_LOG_WARN, "audit", "chain heads not checked against the "
                                   "signed checkpoints",
             SB_F_STR("error", kerr.msg), SB_F_END);
      return 0;
    }
  }
  if (a->cps_size != (long long)st.st_size) {
    int torn;
    sb_ckpt_set_clear(&a->cps);
    a->cps.key = a->key;
    a->cps_size = -1;
    if (sb_ckpt_set_read_file(&a->cps, conf->data_dir, CKPT_TAIL, &torn,
                              err) != 0)
      return err->code;
    a->cps_size = (long long)st.st_size;
  }
  for (size_t i = 0; i < a->n; i++) {
    const chain_t *c = &a->chains[i];
    if (c->partition != partition || strcmp(c->topic, topic) != 0)
      continue;
    const sb_ckpt_entry_t *e =
        sb_ckpt_set_find(&a->cps, c->tenant, topic, partition);
    if (e == NULL)
      continue;
    if (c->seq < e->c.seq) {
      /* behind its checkpoint: legitimate only if the worker reads again
       * the records up to it (a replay swapped in a projection that had
       * not caught up), and then it must append the same rows */
      char part[16], off[32];
      int found = 0;
      snprintf(part, sizeof part, "%d", partition);
      if (sb_pg_query1(sb_batch_pg(b),
                       "SELECT o.next_offset FROM sb.consumer_offsets o JOIN "
                       "sb.processors p ON p.consumer_group = o.consumer_group "
                       "WHERE p.name = $1 AND o.topic = $2 AND o.partition = $3",
                       3, (const char *const[]){sb_batch_processor(b), topic,
                                                part},
                       off, sizeof off, &found, NULL, err) != 0)
        return err->code;
      if (found && atoll(off) > e->c.offset)
        return cut_or_rewritten(err, c, e, "ends in PostgreSQL below");
      a->chains[i].expect_seq = e->c.seq;
      memcpy(a->chains[i].expect_hash, e->c.hash, 32);
      continue;
    }
    if (c->seq == e->c.seq) {
      if (memcmp(c->hash, e->c.hash, 32) != 0)
        return cut_or_rewritten(err, c, e, "differs from");
      continue;
    }
    char sql[256], part[16], seq[32], hash[80];
    int found = 0;
    snprintf(sql, sizeof sql,
             "SELECT hash FROM %s.events WHERE tenant_id = $1 AND topic = $2 "
             "AND kafka_partition = $3 AND chain_seq = $4 LIMIT 1",
             sb_batch_schema(b));
    snprintf(part, sizeof part, "%d", partition);
    snprintf(seq, sizeof seq, "%lld", (long long)e->c.seq);
    if (sb_pg_query1(sb_batch_pg(b), sql, 4,
                     (const char *const[]){c->tenant, topic, part, seq}, hash,
                     sizeof hash, &found, NULL, err) != 0)
      return err->code;
    unsigned char h[32];
    if (!found)
      return cut_or_rewritten(err, c, e, "lacks the row covered by");
    if (sb_bytea_unhex(hash, h, 32) != 32 || memcmp(h, e->c.hash, 32) != 0)
      return cut_or_rewritten(err, c, e, "differs from");
  }
  return 0;
}

/* Loads the chain heads of one partition. */
static int assign(void *state, sb_batch_t *b, const char *topic,
                  int32_t partition, sb_err_t *err) {
  audit_t *a = state;
  char sql[256], part[16];
  snprintf(sql, sizeof sql,
           "SELECT tenant_id, last_seq, last_hash FROM %s.chain_heads WHERE "
           "topic = $1 AND kafka_partition = $2",
           sb_batch_schema(b));
  snprintf(part, sizeof part, "%d", partition);
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(sb_batch_pg(b), sql, 2, (const char *const[]){topic, part},
                      &rows, err);
  for (int i = 0; rc == 0 && i < sb_pg_rows_count(rows); i++) {
    chain_t *c = find_chain(a, sb_pg_rows_get(rows, i, 0), topic, partition, 1);
    if (c == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      break;
    }
    c->seq = c->pending_seq = atoll(sb_pg_rows_get(rows, i, 1));
    c->cp_seq = c->seq; /* only what this worker appends is signed */
    if (sb_bytea_unhex(sb_pg_rows_get(rows, i, 2), c->hash, 32) != 32)
      rc = sb_err_set(err, SB_ESTATE, "audit: damaged chain head for %s %s[%d]",
                      sb_pg_rows_get(rows, i, 0), topic, partition);
    memcpy(c->pending_hash, c->hash, 32);
  }
  sb_pg_rows_free(rows);
  if (rc == 0)
    rc = check_loaded(a, b, topic, partition, err);
  return rc;
}

static void revoke(void *state, const char *topic, int32_t partition) {
  audit_t *a = state;
  size_t before = a->n;
  for (size_t i = a->n; i-- > 0;)
    if (a->chains[i].partition == partition &&
        strcmp(a->chains[i].topic, topic) == 0)
      drop_chain(a, i);
  if (a->n != before)
    index_fill(a);
}

/* ---- the batch -------------------------------------------------------- */

/* Adds month to a set kept as an array; 0, or -1 out of memory. */
static int add_month(int **set, size_t *n, size_t *cap, int month) {
  for (size_t i = 0; i < *n; i++)
    if ((*set)[i] == month)
      return 0;
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    int *ns = realloc(*set, nc * sizeof *ns);
    if (ns == NULL)
      return -1;
    *set = ns;
    *cap = nc;
  }
  (*set)[(*n)++] = month;
  return 0;
}

/* Creates the month's partition of an event's time unless this process
 * knows it exists (the SECURITY DEFINER function lets the application role
 * do it); the kit ends the rows' COPY first, as the connection takes one
 * statement at a time. */
static int ensure_month(audit_t *a, sb_batch_t *b, int64_t at, sb_err_t *err) {
  if (at >= a->month_lo && at < a->month_hi)
    return 0;
  int64_t lo, hi;
  int month = sb_time_month(at, &lo, &hi), known = 0;
  for (size_t i = 0; i < a->nmonths && !known; i++)
    known = a->months[i] == month;
  int64_t clo, chi;
  int cur = sb_time_month(sb_time_now_micros(), &clo, &chi);
  int d = (month / 100 - cur / 100) * 12 + (month % 100 - cur % 100);
  if (!known && (d < -AUDIT_MONTHS_BACK || d > AUDIT_MONTHS_AHEAD)) {
    /* the default partition holds it: nothing to make; a schema made
     * before there was one keeps making a partition a month */
    if (a->has_default == 0) {
      char sql[160], row[8];
      int found = 0;
      snprintf(sql, sizeof sql,
               "SELECT to_regclass('%s.events_default') IS NOT NULL",
               sb_batch_schema(b));
      if (sb_pg_query1(sb_batch_pg(b), sql, 0, NULL, row, sizeof row, &found,
                       NULL, err) != 0)
        return err->code;
      a->has_default = found && row[0] == 't' ? 1 : -1;
    }
    known = a->has_default > 0;
  }
  if (!known) {
    char sql[256], m[16];
    const char *s = sb_batch_schema(b);
    snprintf(sql, sizeof sql, "SELECT %s.ensure_month($1, $2)", s);
    snprintf(m, sizeof m, "%d", month);
    if (sb_pg_exec(sb_batch_pg(b), sql, 2, (const char *const[]){s, m},
                   err) != 0)
      return err->code;
    if (add_month(&a->months, &a->nmonths, &a->months_cap, month) != 0)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  a->month_lo = lo;
  a->month_hi = hi;
  return 0;
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  audit_t *a = state;
  if (ensure_month(a, b, ev->occurred_at, err) != 0)
    return err->code;
  chain_t *c = find_chain(a, ev->tenant_id, ev->topic, ev->partition, 1);
  if (c == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  sb_audit_row_t row = {
      .prev_hash = c->pending_hash,
      .seq = c->pending_seq + 1,
      .tenant_id = ev->tenant_id,
      .topic = ev->topic,
      .partition = ev->partition,
      .offset = ev->offset,
      .event_id = ev->event_id,
      .type = sb_evtype_name(ev->type),
      .subject = ev->subject,
      .occurred_at = ev->occurred_at,
      .payload = ev->value,
      .payload_len = ev->value_len,
      .ce_id = ev->ce_id,
  };
  unsigned char hash[32];
  if (hash_row(a->md, a->sha256, &row, hash) != 0)
    return sb_err_set(err, SB_EINTERNAL, "audit: SHA-256 failed");

  const char *corr = sb_event_str(ev, "correlation_id");
  const char *actor = sb_event_str(ev, "actor.user_id");
  if (sb_rows_add(b, &events_table,
                  (const sb_val_t[]){
                      SB_V_TEXT(ev->tenant_id), SB_V_TEXT(ev->topic),
                      SB_V_INT4(ev->partition), SB_V_INT8(ev->offset),
                      SB_V_INT8(row.seq), SB_V_TEXT(ev->event_id),
                      SB_V_TEXT(row.type), SB_V_TEXT(ev->subject),
                      SB_V_TIMESTAMPTZ(ev->occurred_at),
                      SB_V_INT4(sb_evtype_id(ev->type)), SB_V_TEXT(corr),
                      SB_V_TEXT(actor), SB_V_BYTEA(ev->value, ev->value_len),
                      SB_V_BYTEA(c->pending_hash, 32), SB_V_BYTEA(hash, 32),
                      SB_V_TEXT(ev->ce_id)},
                  err) != 0 ||
      sb_rows_add(b, &heads_table,
                  (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                     SB_V_TEXT(ev->topic),
                                     SB_V_INT4(ev->partition),
                                     SB_V_INT8(row.seq), SB_V_BYTEA(hash, 32)},
                  err) != 0)
    return err->code;

  if (row.seq == c->expect_seq && memcmp(hash, c->expect_hash, 32) != 0 &&
      a->fork[0] == '\0')
    snprintf(a->fork, sizeof a->fork,
             "audit: chain tenant=%s topic=%s partition=%d: the row for "
             "%s[%d]@%lld at seq %lld differs from its signed checkpoint: "
             "the audit log was tampered with in PostgreSQL; nothing is "
             "appended to it. Run 'switchboard audit verify'",
             c->tenant, c->topic, c->partition, ev->topic, ev->partition,
             (long long)ev->offset, (long long)row.seq);
  c->pending_seq = row.seq;
  c->pending_offset = ev->offset;
  memcpy(c->pending_hash, hash, 32);
  c->dirty = 1;
  return 0;
}

/* The kit wrote the batch's rows and heads; a row that differs from its
 * signed checkpoint stops the worker, the batch rolled back. */
static int commit(void *state, sb_batch_t *b, sb_err_t *err) {
  audit_t *a = state;
  (void)b;
  if (a->fork[0] != '\0')
    return sb_err_set(err, SB_ESTATE, "%s", a->fork);
  return 0;
}

static void committed(void *state) {
  audit_t *a = state;
  for (size_t i = 0; i < a->n; i++) {
    chain_t *c = &a->chains[i];
    if (c->dirty) {
      c->seq = c->pending_seq;
      c->offset = c->pending_offset;
      if (c->seq >= c->expect_seq)
        c->expect_seq = 0; /* reached, with the checkpointed hash */
      memcpy(c->hash, c->pending_hash, 32);
      c->dirty = 0;
    }
  }
}

static void abort_batch(void *state) {
  audit_t *a = state;
  for (size_t i = 0; i < a->n; i++) {
    chain_t *c = &a->chains[i];
    c->pending_seq = c->seq;
    memcpy(c->pending_hash, c->hash, 32);
    c->dirty = 0;
  }
  a->fork[0] = '\0'; /* the batch is replayed, and checked again */
  a->nmonths = 0; /* a rolled-back partition may not exist */
  a->month_lo = a->month_hi = 0;
}

/* ---- signed checkpoints ---------------------------------------------- */

/* Keeps a copy of a published checkpoint in audit.checkpoints (see
 * checkpoints_ddl), from the signed line's JSON. The checkpoint is
 * published whatever becomes of the copy: a copy not written is logged and
 * the table shows the previous one until the next checkpoint. */
static void record_copy(sb_batch_t *b, const char *line, size_t len) {
  const char *tab = memchr(line, '\t', len);
  size_t jlen = tab ? (size_t)(tab - line) : len;
  char *json = malloc(jlen + 1), sql[1024];
  sb_err_t err = SB_ERR_INIT;
  if (json == NULL) {
    sb_log(SB_LOG_WARN, "audit", "checkpoint copy not recorded",
           SB_F_STR("error", "out of memory"), SB_F_END);
    return;
  }
  memcpy(json, line, jlen);
  json[jlen] = '\0';
  const char *s = sb_batch_schema(b);
  snprintf(sql, sizeof sql,
           "INSERT INTO %s.checkpoints AS k (tenant_id, topic, "
           "kafka_partition, seq, kafka_offset, head_hash, signed_at, key_id) "
           "SELECT c.tenant, c.topic, c.partition, c.seq, c.\"offset\", "
           "decode(c.hash, 'hex'), (j->>'time')::timestamptz, j->>'key' FROM "
           "(SELECT $1::jsonb AS j) d, jsonb_to_recordset(d.j->'chains') AS "
           "c(tenant text, topic text, partition integer, seq bigint, "
           "\"offset\" bigint, hash text) ON CONFLICT (tenant_id, topic, "
           "kafka_partition) DO UPDATE SET seq = EXCLUDED.seq, kafka_offset = "
           "EXCLUDED.kafka_offset, head_hash = EXCLUDED.head_hash, signed_at "
           "= EXCLUDED.signed_at, key_id = EXCLUDED.key_id WHERE k.seq <= "
           "EXCLUDED.seq",
           s);
  if (sb_pg_exec(sb_batch_pg(b), sql, 1, (const char *const[]){json}, &err) !=
      0)
    sb_log(SB_LOG_WARN, "audit", "checkpoint copy not recorded",
           SB_F_STR("error", err.msg), SB_F_END);
  free(json);
}

/* Publishes one checkpoint of n chains: to the file, then to Kafka. */
static int publish_one(audit_t *a, sb_batch_t *b, const sb_ckpt_chain_t *cp,
                       size_t n, sb_err_t *err) {
  char *line = NULL;
  size_t len = 0;
  int rc = sb_ckpt_encode(a->key, cp, n, &line, &len, err);
  if (rc == 0)
    rc = sb_ckpt_append(sb_batch_conf(b)->data_dir, line, len, err);
  if (rc == 0)
    rc = sb_batch_publish_record(b, SB_TOPIC_AUDIT_CHECKPOINTS, "audit", line,
                                 len, err);
  if (rc == 0)
    record_copy(b, line, len);
  free(line);
  return rc;
}

/* Every audit.checkpoint_interval_ms (and when the partitions go or the
 * worker stops): the committed heads of the chains this worker moved since
 * their last checkpoint, signed, in checkpoints of at most
 * SB_CKPT_CHAINS_MAX chains. */
static int publish(void *state, sb_batch_t *b, int final, sb_err_t *err) {
  audit_t *a = state;
  const sb_conf_t *conf = sb_batch_conf(b);
  long long now = sb_now_ms();
  if (!final && now - a->cp_at < a->cp_interval_ms)
    return 0;
  a->cp_at = now; /* a failure is retried at the next interval */
  size_t moved = 0;
  for (size_t i = 0; i < a->n; i++)
    moved += a->chains[i].seq > a->chains[i].cp_seq;
  if (moved == 0)
    return 0;
  if (a->key == NULL &&
      sb_sigkey_load_private(conf->data_dir, 1, &a->key, err) != 0)
    return err->code;
  sb_ckpt_chain_t *cp = calloc(moved < SB_CKPT_CHAINS_MAX ? moved
                                                          : SB_CKPT_CHAINS_MAX,
                               sizeof *cp);
  if (cp == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t n = 0, from = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < a->n; i++) {
    chain_t *c = &a->chains[i];
    if (c->seq <= c->cp_seq)
      continue;
    if (strlen(c->tenant) >= sizeof cp[n].tenant) {
      sb_log(SB_LOG_WARN, "audit", "tenant id too long for a checkpoint",
             SB_F_STR("topic", c->topic), SB_F_END);
      continue;
    }
    if (n == 0)
      from = i;
    snprintf(cp[n].tenant, sizeof cp[n].tenant, "%s", c->tenant);
    snprintf(cp[n].topic, sizeof cp[n].topic, "%s", c->topic);
    cp[n].partition = c->partition;
    cp[n].seq = c->seq;
    cp[n].offset = c->offset;
    memcpy(cp[n].hash, c->hash, 32);
    if (++n < SB_CKPT_CHAINS_MAX)
      continue;
    if ((rc = publish_one(a, b, cp, n, err)) == 0)
      for (size_t j = from; j <= i; j++) /* what this checkpoint covered */
        if (a->chains[j].seq > a->chains[j].cp_seq)
          a->chains[j].cp_seq = a->chains[j].seq;
    n = 0;
  }
  if (rc == 0 && n > 0 && (rc = publish_one(a, b, cp, n, err)) == 0)
    for (size_t j = from; j < a->n; j++)
      if (a->chains[j].seq > a->chains[j].cp_seq)
        a->chains[j].cp_seq = a->chains[j].seq;
  free(cp);
  if (rc == 0)
    sb_log(SB_LOG_DEBUG, "audit", "signed checkpoint published",
           SB_F_INT("chains", (long long)moved), SB_F_END);
  return rc;
}

static const sb_conf_prop_t conf_rows[] = {
    {"audit.checkpoint_interval_ms", SB_CT_INT, 0, 100, 86400000, "10000",
     "SWITCHBOARD_AUDIT_CHECKPOINT_INTERVAL_MS", "MS", NULL, 0,
     "How often the audit worker publishes signed checkpoints of the chain "
     "heads it moved (and always when it stops cleanly)."},
    {0},
};

static const sb_view_def_t views[] = {
    {.name = "chains",
     .relation = "chain_status",
     .about = "each hash chain's head, whether the head row and the row of "
              "its newest checkpoint are there with their hashes, and that "
              "checkpoint's time (a copy: audit verify checks the signed one)",
     .order = "topic,kafka_partition",
     .filters = "topic=topic"},
    {0},
};

const sb_processor_vt_t sb_audit_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "audit",
    .topics = topics,
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .commit = commit,
    .abort = abort_batch,
    .destroy = destroy,
    .assign = assign,
    .revoke = revoke,
    .committed = committed,
    .flags = SB_PROCESSOR_FULL_REPLAY_ONLY | SB_PROCESSOR_KEEP_GENERATIONS |
             SB_PROCESSOR_EVENT_SQL,
    .publish = publish,
    .same_as_live = sb__audit_same_as_live,
    .conf = conf_rows,
    .views = views,
};
