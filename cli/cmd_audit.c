/* switchboard audit verify|export: proving the audit log unbroken, and
 * reading it back as CloudEvents. */
#include "audit.h"
#include "audit_proof.h"
#include "sb_logread.h"
#include "sb_cmds.h"
#include "sb_codec.h"
#include "sb_dsar.h"
#include "sb_keys.h"
#include "sb_pg.h"
#include "sb_pii_event.h"
#include "sb_schema.h"
#include "sb_time.h"
#include "sb_util.h"

#include <pwd.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>


/* PostgreSQL's bytea text form, \x then hex, into bytes. Returns the length,
 * or -1. */
/* Makes *buf hold at least need bytes. */
static int grow(unsigned char **buf, size_t *cap, size_t need, sb_err_t *err) {
  if (need <= *cap)
    return 0;
  unsigned char *b = realloc(*buf, need);
  if (b == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  *buf = b;
  *cap = need;
  return 0;
}

/* ---- verify ------------------------------------------------------------ */

typedef struct {
  sb_pg_t *pg;
  char tenant[128], topic[64];
  int32_t partition;
  int64_t seq; /* last sequence seen in the chain; 0 before its first row */
  int64_t offset; /* Kafka offset of that row; -1 before the first */
  unsigned char hash[32];
  long long rows, chains;
  unsigned char *buf;
  size_t cap;
  int broken;
} verify_t;

static int check_head(verify_t *v, sb_err_t *err) {
  if (v->seq == 0)
    return 0;
  char part[16], row[128];
  int found = 0, isnull = 0;
  snprintf(part, sizeof part, "%d", v->partition);
  if (sb_pg_query1(v->pg,
                   "SELECT last_seq || ' ' || encode(last_hash, 'hex') FROM "
                   "audit.chain_heads WHERE tenant_id = $1 AND topic = $2 AND "
                   "kafka_partition = $3",
                   3, (const char *const[]){v->tenant, v->topic, part}, row,
                   sizeof row, &found, &isnull, err) != 0)
    return err->code;
  char want[128], hex[65];
  for (int k = 0; k < 32; k++)
    snprintf(hex + 2 * k, 3, "%02x", v->hash[k]);
  snprintf(want, sizeof want, "%lld %s", (long long)v->seq, hex);
  if (!found || strcmp(row, want) != 0) {
    printf("audit verify: FAILED: chain tenant=%s topic=%s partition=%d ends "
           "at seq %lld, but its recorded head is %s: rows were removed from "
           "its end\n",
           v->tenant, v->topic, v->partition, (long long)v->seq,
           found ? row : "missing");
    v->broken = 1;
    return SB_EVALIDATE;
  }
  return 0;
}

static int verify_row(void *ctx, const sb_pg_rows_t *r, int i, sb_err_t *err) {
  verify_t *v = ctx;
  const char *tenant = sb_pg_rows_get(r, i, 0), *topic = sb_pg_rows_get(r, i, 1);
  int32_t partition = atoi(sb_pg_rows_get(r, i, 2));
  if (strcmp(tenant, v->tenant) != 0 || strcmp(topic, v->topic) != 0 ||
      partition != v->partition) {
    if (check_head(v, err) != 0)
      return SB_EVALIDATE;
    snprintf(v->tenant, sizeof v->tenant, "%s", tenant);
    snprintf(v->topic, sizeof v->topic, "%s", topic);
    v->partition = partition;
    v->seq = 0;
    v->offset = -1;
    memset(v->hash, 0, 32);
    v->chains++;
  }
  const char *payload_hex = sb_pg_rows_get(r, i, 9);
  if (grow(&v->buf, &v->cap, strlen(payload_hex) / 2 + 1, err) != 0)
    return err->code;
  unsigned char prev[32], stored[32], computed[32];
  long plen = sb_bytea_unhex(payload_hex, v->buf, v->cap);
  sb_audit_row_t row = {
      .prev_hash = v->hash,
      .seq = atoll(sb_pg_rows_get(r, i, 4)),
      .tenant_id = tenant,
      .topic = topic,
      .partition = partition,
      .offset = atoll(sb_pg_rows_get(r, i, 3)),
      .event_id = sb_pg_rows_get(r, i, 5),
      .type = sb_pg_rows_get(r, i, 6),
      .subject = sb_pg_rows_get(r, i, 7),
      .occurred_at = atoll(sb_pg_rows_get(r, i, 8)),
      .payload = v->buf,
      .payload_len = plen < 0 ? 0 : (size_t)plen,
      .ce_id = sb_pg_rows_get(r, i, 12),
  };
  const char *why = NULL;
  if (plen < 0 || sb_bytea_unhex(sb_pg_rows_get(r, i, 10), prev, 32) != 32 ||
      sb_bytea_unhex(sb_pg_rows_get(r, i, 11), stored, 32) != 32)
    why = "its payload or hashes are not readable";
  else if (row.seq != v->seq + 1)
    why = row.seq > v->seq + 1 ? "rows before it are missing (sequence gap)"
                               : "it repeats a sequence number";
  else if (memcmp(prev, v->hash, 32) != 0)
    why = "its previous hash is not the hash of the row before it";
  else if (row.offset <= v->offset)
    why = "its Kafka offset is not past the previous row's (not in the log's "
          "order)";
  else {
    sb_audit_hash(&row, computed);
    if (memcmp(computed, stored, 32) != 0)
      why = "its stored hash does not match its content (the row was changed)";
  }
  if (why != NULL) {
    printf("audit verify: FAILED at tenant=%s topic=%s partition=%d seq=%lld "
           "offset=%lld event_id=%s: %s\n",
           tenant, topic, partition, (long long)row.seq, (long long)row.offset,
           row.event_id, why);
    v->broken = 1;
    return SB_EVALIDATE;
  }
  v->seq = row.seq;
  v->offset = row.offset;
  memcpy(v->hash, stored, 32);
  v->rows++;
  return 0;
}

/* The chains are intact: now against what PostgreSQL's users cannot
 * change, the signed checkpoints and the Kafka log. 0 all checked and
 * intact, 1 tampering found, 3 intact as far as could be checked but the
 * Kafka cross-check (or the checkpoints) could not be done. */
static int verify_outside(sb_cli_t *cli, sb_pg_t *pg, long long rows,
                          long long chains, sb_err_t *err) {
  const char *tenant = sb_cli_opt(cli, "tenant");
  int offline = sb_cli_opt(cli, "offline") != NULL;
  sb_audit_proof_t p = {.pg = pg, .conf = &cli->conf, .tenant = tenant};
  char skipped[SB_ERR_MSG_MAX + 128] = "";
  if (offline) {
    snprintf(skipped, sizeof skipped, "--offline");
  } else if (cli->conf.brokers == NULL) {
    snprintf(skipped, sizeof skipped, "no brokers configured and no running "
                                      "switchboard up in %s",
             cli->conf.data_dir);
  } else {
    sb_err_t kerr = SB_ERR_INIT;
    if (sb_logread_open(&cli->conf, &p.log, &kerr) != 0)
      snprintf(skipped, sizeof skipped, "%s", kerr.msg);
  }
  int rc = sb_audit_check_checkpoints(&p, err);
  if (rc == 0 && p.log != NULL)
    rc = sb_audit_crosscheck(&p, err);
  sb_logread_close(p.log);
  if (rc != 0)
    return rc;
  if (p.findings > SB_AUDIT_FINDINGS_SHOWN)
    printf("audit verify: FAILED ... and %lld more findings not shown\n",
           p.findings - SB_AUDIT_FINDINGS_SHOWN);
  if (p.broken) {
    printf("audit verify: FAILED: %lld rows in %lld chains hash correctly, but "
           "%lld findings above show the log was changed\n",
           rows, chains, p.findings);
    return 1;
  }
  if (!offline && (skipped[0] || p.incomplete)) {
    printf("audit verify: INCOMPLETE: %lld rows in %lld chains%s%s are intact "
           "as far as checked, but %s%s (exit 3; --offline accepts a check "
           "without Kafka)\n",
           rows, chains, tenant ? " of tenant " : "", tenant ? tenant : "",
           skipped[0] ? "the cross-check against Kafka was skipped: " : "",
           skipped[0] ? skipped : "some checks could not be done (above)");
    return 3;
  }
  if (offline)
    printf("audit verify: cross-check against Kafka: skipped (--offline)\n");
  printf("audit verify: OK: %lld rows in %lld chains%s%s\n", rows, chains,
         tenant ? " of tenant " : "", tenant ? tenant : "");
  return 0;
}

static int audit_verify(sb_cli_t *cli, sb_pg_t *pg, sb_err_t *err) {
  const char *tenant = sb_cli_opt(cli, "tenant");
  verify_t v;
  memset(&v, 0, sizeof v);
  v.pg = pg;
  v.partition = -1;
  const char *q =
      tenant ? "SELECT tenant_id, topic, kafka_partition, kafka_offset, "
               "chain_seq, event_id, event_type, subject, (extract(epoch FROM "
               "occurred_at) * 1000000)::bigint, payload, prev_hash, hash, ce_id "
               "FROM audit.events WHERE tenant_id = $1 ORDER BY tenant_id, topic, "
               "kafka_partition, chain_seq"
             : "SELECT tenant_id, topic, kafka_partition, kafka_offset, "
               "chain_seq, event_id, event_type, subject, (extract(epoch FROM "
               "occurred_at) * 1000000)::bigint, payload, prev_hash, hash, ce_id "
               "FROM audit.events ORDER BY tenant_id, topic, kafka_partition, "
               "chain_seq";
  int rc = sb_pg_each_row(pg, q, tenant ? 1 : 0, tenant ? &tenant : NULL, verify_row,
                    &v, err);
  if (rc == 0)
    rc = check_head(&v, err);
  /* a head whose chain has no rows at all: every row of it was removed */
  if (rc == 0 && !v.broken) {
    char row[256];
    int found = 0;
    rc = sb_pg_query1(pg,
                      "SELECT h.tenant_id || ' ' || h.topic || ' ' || "
                      "h.kafka_partition FROM audit.chain_heads h WHERE ($1::text "
                      "IS NULL OR h.tenant_id = $1) AND NOT EXISTS (SELECT 1 "
                      "FROM audit.events e WHERE e.tenant_id = h.tenant_id AND "
                      "e.topic = h.topic AND e.kafka_partition = "
                      "h.kafka_partition) LIMIT 1",
                      1, (const char *const[]){tenant}, row, sizeof row, &found,
                      NULL, err);
    if (rc == 0 && found) {
      printf("audit verify: FAILED: chain %s has a recorded head but no rows: "
             "they were removed\n", row);
      v.broken = 1;
    }
  }
  free(v.buf);
  if (v.broken) {
    sb_err_clear(err);
    return 1;
  }
  if (rc != 0)
    return rc;
  return verify_outside(cli, pg, v.rows, v.chains, err);
}

/* ---- export ------------------------------------------------------------ */

typedef struct {
  sb_codec_t *codec;
  const sb_schemas_t *schemas;
  sb_keys_t *keys;      /* NULL: --pii sealed */
  sb_pii_view_t view;
  long long unopened;   /* sealed values that did not open (altered) */
  unsigned char *buf;
  size_t cap;
  long long rows;
} export_t;

static int export_row(void *ctx, const sb_pg_rows_t *r, int i, sb_err_t *err) {
  export_t *x = ctx;
  const char *hex = sb_pg_rows_get(r, i, 0);
  if (grow(&x->buf, &x->cap, strlen(hex) / 2 + 1, err) != 0)
    return err->code;
  long n = sb_bytea_unhex(hex, x->buf, x->cap);
  sb_event_t ev;
  cJSON *ce = NULL;
  int ok = n >= 0 && sb_codec_decode(x->codec, x->buf, (size_t)n, &ev, err) == 0;
  if (ok)
    ev.ce_id = sb_pg_rows_get(r, i, 2); /* the producer's id, or NULL */
  if (!ok || sb_codec_to_ce(x->codec, &ev, &ce, err) != 0) {
    sb_err_prefix(err, "audit row of event %s: ", sb_pg_rows_get(r, i, 1));
    return err->code ? err->code : SB_EDECODE;
  }
  int failed = 0;
  if (x->keys != NULL &&
      sb_pii_reveal(x->keys, x->schemas, ce, x->view, &failed, err) != 0) {
    cJSON_Delete(ce);
    sb_err_prefix(err, "audit row of event %s: ", sb_pg_rows_get(r, i, 1));
    return err->code;
  }
  x->unopened += failed;
  char *line = cJSON_PrintUnformatted(ce);
  cJSON_Delete(ce);
  if (line == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  fputs(line, stdout);
  fputc('\n', stdout);
  cJSON_free(line);
  x->rows++;
  return 0;
}

static int audit_export(sb_cli_t *cli, sb_pg_t *pg, sb_err_t *err) {
  const char *tenant = sb_cli_opt(cli, "tenant");
  const char *subject = sb_cli_opt(cli, "subject");
  const char *from = sb_cli_opt(cli, "from");
  const char *to = sb_cli_opt(cli, "to");
  if (tenant == NULL)
    return sb_err_set(err, SB_EUSAGE, "export needs --tenant");
  int64_t us;
  char why[160];
  if (from && sb_time_parse(from, &us, why, sizeof why) != 0)
    return sb_err_set(err, SB_EUSAGE, "--from: %s", why);
  if (to && sb_time_parse(to, &us, why, sizeof why) != 0)
    return sb_err_set(err, SB_EUSAGE, "--to: %s", why);
  const char *pii = sb_cli_opt(cli, "pii");
  sb_schemas_t *schemas = NULL;
  export_t x;
  memset(&x, 0, sizeof x);
  if (pii == NULL || strcmp(pii, "clear") == 0)
    x.view = SB_PII_VIEW_CLEAR;
  else if (strcmp(pii, "masked") == 0)
    x.view = SB_PII_VIEW_MASKED;
  else if (strcmp(pii, "sealed") == 0)
    x.view = SB_PII_VIEW_SEALED;
  else
    return sb_err_set(err, SB_EUSAGE, "--pii: '%s' is not clear, masked or "
                      "sealed", pii);
  int rc = 0;
  if (x.view != SB_PII_VIEW_SEALED) {
    /* personal data read in clear or masked: on the record first */
    char who[160];
    struct passwd *pw = getpwuid(getuid());
    snprintf(who, sizeof who, "cli:%s",
             pw && pw->pw_name ? pw->pw_name : "unknown");
    sb_dsar_t *d = NULL;
    sb_dsar_read_t rd = {.tenant = tenant,
                         .actor = who,
                         .actor_role = "admin",
                         .resource_type = "audit_export",
                         .resource_id = tenant,
                         .subject = subject,
                         .purpose = pii ? pii : "clear"};
    rc = sb_cli_need_instance(cli, 1, err);
    if (rc == 0)
      rc = sb_dsar_open(&cli->conf, &d, err);
    if (rc == 0)
      rc = sb_dsar_record_read(d, &rd, err);
    sb_dsar_close(d);
    if (rc != 0)
      return rc;
  }
  rc = sb_schemas_load(&schemas, err);
  x.schemas = schemas;
  if (rc == 0)
    rc = sb_codec_new(schemas, &x.codec, err);
  if (rc == 0 && x.view != SB_PII_VIEW_SEALED)
    rc = sb_keys_open(&cli->conf, &x.keys, err);
  if (rc == 0)
    rc = sb_pg_each_row(pg,
                  "SELECT payload, event_id, ce_id FROM audit.events WHERE "
                  "tenant_id = $1 AND ($2::text IS NULL OR subject = $2) AND "
                  "($3::timestamptz IS NULL OR occurred_at >= $3) AND "
                  "($4::timestamptz IS NULL OR occurred_at < $4) ORDER BY "
                  "occurred_at, topic, kafka_partition, chain_seq",
                  4, (const char *const[]){tenant, subject, from, to},
                  export_row, &x, err);
  fflush(stdout);
  if (rc == 0)
    fprintf(stderr, "audit export: %lld events\n", x.rows);
  if (rc == 0 && x.unopened > 0)
    fprintf(stderr, "audit export: %lld sealed values did not open (their "
            "GCM tag failed: altered) and read sbx1.erased\n", x.unopened);
  sb_keys_free(x.keys);
  free(x.buf);
  sb_codec_free(x.codec);
  sb_schemas_free(schemas);
  return rc;
}

static int run_audit(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *action = cli->argv[0];
  sb_pg_t *pg = NULL;
  int rc;
  if (strcmp(action, "verify") != 0 && strcmp(action, "export") != 0) {
    sb_err_set(&err, SB_EUSAGE, "unknown action '%s': use verify or export",
               action);
    return sb_cli_fail(cli, &err);
  }
  if ((rc = sb_cli_database_url(cli, &err)) != 0 ||
      (rc = sb_pg_connect(cli->conf.database_url, &pg, &err)) != 0)
    return sb_cli_fail(cli, &err);
  rc = strcmp(action, "verify") == 0 ? audit_verify(cli, pg, &err)
                                     : audit_export(cli, pg, &err);
  sb_pg_close(pg);
  if ((rc == 1 || rc == 3) && err.code == 0)
    return rc; /* verify found a break (1), or could not check all (3) */
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const audit_keys[] = {"database_url", "brokers",
                                         "kafka_timeout_ms", "pii.key_file",
                                         "pii.key_command", NULL};

const sb_cmd_t sb_cmd_audit = {
    .name = "audit",
    .summary = "Verify the audit log's hash chains, or export events",
    .usage = "audit verify [--tenant T] [--offline] | audit export --tenant T "
             "[--subject S] [--from TIME] [--to TIME] [--pii MODE]",
    .about = "verify walks every hash chain of the audit log (or a tenant's), "
             "checks each chain\nagainst its newest signed checkpoint (kept "
             "outside PostgreSQL: audit-checkpoints.log\nin the data directory "
             "and the topic sb.audit.checkpoints) and cross-checks the\nrows "
             "against the Kafka log, from each partition's start to the offset "
             "the audit\nprocessor committed (ranges the log no longer holds "
             "are listed as unchecked).\nExit 0: intact; 1: changed, removed, "
             "reordered, cut or forged rows, each named;\n3: intact as far as "
             "checked, but Kafka was not reachable (--offline accepts\nthat).\n"
             "export writes a tenant's events (optionally one subject's, in "
             "[--from, --to)) as\nCloudEvents NDJSON on stdout, in time order, "
             "PII decrypted (--pii clear, the\ndefault), masked or sealed as "
             "stored; a shredded subject's fields read sbx1.erased.\nA "
             "clear or masked export is recorded first (access.recorded READ, "
             "acknowledged by\nKafka): when it cannot be, nothing is "
             "exported.",
    .conf_keys = audit_keys,
    .opts = (const sb_opt_t[]){{"tenant", "T", "Only this tenant"},
                               {"offline", NULL,
                                "verify: without the cross-check against "
                                "Kafka (exit 0, not 3, when intact)"},
                               {"subject", "S", "export: only this subject"},
                               {"from", "TIME", "export: from this time on"},
                               {"to", "TIME", "export: before this time"},
                               {"pii", "MODE",
                                "export: PII clear (default), masked or "
                                "sealed"},
                               {NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_audit,
};
