/* Data subject requests carried out: see sb_dsar.h. */
#include "sb_dsar.h"

#include "sb_codec.h"
#include "sb_keys.h"
#include "sb_kmap.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_pii_event.h"
#include "sb_processor.h"
#include "sb_producer.h"
#include "sb_schema.h"
#include "sb_tenant.h"
#include "sb_time.h"
#include "sb_topics.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sb_dsar_s {
  const sb_conf_t *c;
  sb_pg_t *pg;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_producer_t *prod;
  sb_keys_t *keys;
};

int sb_dsar_open(const sb_conf_t *c, sb_dsar_t **out, sb_err_t *err) {
  *out = NULL;
  sb_dsar_t *d = calloc(1, sizeof *d);
  if (d == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  d->c = c;
  int rc = sb_pg_connect(c->database_url, &d->pg, err);
  if (rc == 0)
    rc = sb_schemas_load(&d->schemas, err);
  if (rc == 0)
    rc = sb_codec_new(d->schemas, &d->codec, err);
  if (rc == 0)
    rc = sb_producer_new(c, &d->prod, err);
  if (rc == 0)
    rc = sb_keys_open(c, &d->keys, err);
  if (rc != 0) {
    sb_dsar_close(d);
    return rc;
  }
  *out = d;
  return 0;
}

void sb_dsar_close(sb_dsar_t *d) {
  if (d == NULL)
    return;
  sb_keys_free(d->keys);
  sb_producer_free(d->prod);
  sb_codec_free(d->codec);
  sb_schemas_free(d->schemas);
  sb_pg_close(d->pg);
  free(d);
}

/* ---- the request ------------------------------------------------------- */

static int id_valid(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > SB_DSAR_ID_MAX)
    return 0;
  return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789._:-") == n;
}

static int check_req(const sb_dsar_req_t *q, sb_dsar_result_t *res,
                     sb_err_t *err) {
  if (!sb_tenant_valid(q->tenant) || sb_tenant_reserved(q->tenant))
    return sb_err_set(err, SB_EUSAGE,
                      "tenant '%s' is not a tenant id ([A-Za-z0-9._-]{1,64}, "
                      "not beginning with '_')",
                      q->tenant ? q->tenant : "");
  size_t n = q->subject ? strlen(q->subject) : 0;
  if (n == 0 || n > 128 || !sb_utf8_valid(q->subject, n))
    return sb_err_set(err, SB_EUSAGE,
                      "subject: 1 to 128 bytes of UTF-8 (the data subject's "
                      "id, e.g. a lead id)");
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)q->subject[i] < 0x20)
      return sb_err_set(err, SB_EUSAGE, "subject: a control character");
  if (q->actor == NULL || q->actor[0] == '\0')
    return sb_err_set(err, SB_EUSAGE, "a request needs who carries it out");
  memset(res, 0, sizeof *res);
  if (q->request_id != NULL) {
    if (!id_valid(q->request_id))
      return sb_err_set(err, SB_EUSAGE,
                        "request id '%.64s': 1 to %d of [A-Za-z0-9._:-]",
                        q->request_id, SB_DSAR_ID_MAX);
    snprintf(res->request_id, sizeof res->request_id, "%s", q->request_id);
    return 0;
  }
  return sb_ulid_new(res->request_id, err);
}

/* The time of a ULID request id in ms, or 0 for another id. */
static uint64_t ulid_ms(const char *id) {
  static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  if (!sb_ulid_valid(id, strlen(id)))
    return 0;
  uint64_t v = 0;
  for (int i = 0; i < 10; i++)
    v = v * 32 + (uint64_t)(strchr(alphabet, id[i]) - alphabet);
  return v;
}

/* The id of a request's step: the same whenever the request is carried
 * out again. */
static int step_id(const char *tenant, const char *request, const char *step,
                   char id[SB_ULID_LEN + 1], sb_err_t *err) {
  char text[512], hex[65];
  unsigned char rnd[10];
  snprintf(text, sizeof text, "sb-dsar\n%s\n%s\n%s", tenant, request, step);
  if (sb_sha256_hex(text, hex, err) != 0)
    return err->code;
  for (int i = 0; i < 10; i++)
    rnd[i] = (unsigned char)(sb_hex_nibble(hex[2 * i]) << 4 |
                             sb_hex_nibble(hex[2 * i + 1]));
  sb_ulid_make(ulid_ms(request), rnd, id);
  return 0;
}

/* One event of the request: sealed like any producer's (its PII fields),
 * encoded and produced; delivery is waited for by flush. data is taken. */
static int emit(sb_dsar_t *d, const sb_dsar_req_t *q, const char *request,
                const char *type, const char *step, const char *subject,
                cJSON *data, sb_err_t *err) {
  char id[SB_ULID_LEN + 1], now[40];
  cJSON *ce = cJSON_CreateObject();
  if (ce == NULL || data == NULL) {
    cJSON_Delete(ce);
    cJSON_Delete(data);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  cJSON_AddItemToObject(ce, "data", data);
  if (step_id(q->tenant, request, step, id, err) != 0) {
    cJSON_Delete(ce);
    return err->code;
  }
  sb_time_format(sb_time_now_micros(), now, sizeof now);
  cJSON_AddStringToObject(ce, "specversion", "1.0");
  cJSON_AddStringToObject(ce, "id", id);
  cJSON_AddStringToObject(ce, "type", type);
  cJSON_AddStringToObject(ce, "source", "switchboard://gdpr");
  cJSON_AddStringToObject(ce, "subject", subject);
  cJSON_AddStringToObject(ce, "time", now);
  cJSON_AddStringToObject(ce, "tenantid", q->tenant);
  cJSON_AddStringToObject(ce, "correlationid", request);
  cJSON_AddStringToObject(ce, "actoruserid", q->actor);
  if (q->actor_role)
    cJSON_AddStringToObject(ce, "actorrole", q->actor_role);
  if (q->ip)
    cJSON_AddStringToObject(ce, "actorip", q->ip);
  if (q->user_agent)
    cJSON_AddStringToObject(ce, "actoruseragent", q->user_agent);
  char *why = NULL;
  sb_record_t r;
  int rc = sb_pii_seal_events(d->keys, d->schemas, (cJSON *const[]){ce}, 1,
                              &why, err);
  if (rc == 0 && why != NULL)
    rc = sb_err_set(err, SB_EVALIDATE, "%s: %s", type, why);
  free(why);
  if (rc == 0)
    rc = sb_codec_from_ce(d->codec, ce, 0, &r, err);
  cJSON_Delete(ce);
  if (rc != 0)
    return rc;
  rc = sb_producer_send_record(d->prod, &r, NULL, NULL, err);
  sb_record_clear(&r);
  return rc;
}

static int flush(sb_dsar_t *d, sb_err_t *err) {
  int rc = sb_producer_flush(d->prod, d->c->kafka_timeout_ms, err);
  if (rc != 0)
    sb_err_prefix(err, "the request's events did not all reach Kafka (carry "
                       "the request out again with the same request id): ");
  return rc;
}

/* dsar.received, unless the gdpr projection has the request's receipt. */
static int received(sb_dsar_t *d, const sb_dsar_req_t *q, const char *request,
                    const char *kind, sb_err_t *err) {
  char row[8];
  int found = 0;
  if (sb_pg_query1(d->pg,
                   "SELECT 1 FROM gdpr.requests WHERE tenant_id = $1 AND "
                   "request_id = $2 AND received_at IS NOT NULL",
                   2, (const char *const[]){q->tenant, request}, row,
                   sizeof row, &found, NULL, err) != 0) {
    if (!sb_err_sqlstate_is(err, "42P01"))
      return err->code;
    sb_err_clear(err); /* the gdpr processor has not run yet */
  }
  if (found)
    return 0;
  cJSON *data = cJSON_CreateObject();
  if (data) {
    cJSON_AddStringToObject(data, "request_id", request);
    cJSON_AddStringToObject(data, "kind", kind);
    cJSON_AddBoolToObject(data, "identity_verified", 1);
    cJSON_AddStringToObject(data, "received_via", q->via ? q->via : "cli");
  }
  return emit(d, q, request, "dsar.received", "received", q->subject, data,
              err);
}

static int completed(sb_dsar_t *d, const sb_dsar_req_t *q, const char *request,
                     const char *kind, long long records, const char *sha,
                     sb_err_t *err) {
  cJSON *data = cJSON_CreateObject();
  if (data) {
    cJSON_AddStringToObject(data, "request_id", request);
    cJSON_AddStringToObject(data, "kind", kind);
    cJSON_AddStringToObject(data, "outcome", "fulfilled");
    cJSON_AddNumberToObject(data, "records_count", (double)records);
    if (sha) {
      cJSON_AddStringToObject(data, "export_sha256", sha);
      cJSON_AddStringToObject(data, "export_format", "json");
    }
  }
  return emit(d, q, request, "dsar.completed", "completed", q->subject, data,
              err);
}

/* <data_dir>/exports/<tenant> and the file stem of a subject's request. */
static int export_paths(sb_dsar_t *d, const sb_dsar_req_t *q,
                        const char *request, char *dir, size_t dirsz,
                        char *hash, sb_err_t *err) {
  if (sb_keys_subject_hash(d->keys, q->tenant, q->subject, hash, err) != 0)
    return err->code;
  if ((size_t)snprintf(dir, dirsz, "%s/exports/%s", d->c->data_dir,
                       q->tenant) >= dirsz)
    return sb_err_set(err, SB_EINVAL, "exports: data_dir too long");
  (void)request;
  return 0;
}

/* ---- export ------------------------------------------------------------ */

typedef struct {
  sb_dsar_t *d;
  const char *subject;
  FILE *json, *nd;
  unsigned char *buf;
  size_t cap;
  long long events, unopened;
} scan_t;

/* Whether ev's data subject is subject (the rule of
 * sb_pii_data_subject: the lead it names, else the data subject it names,
 * else its subject). */
static int about(const sb_event_t *ev, const char *subject) {
  static const char *const fields[] = {"lead_id", "subject_id"};
  const char *ds = ev->subject;
  for (size_t i = 0; i < SB_ARRAY_LEN(fields); i++) {
    const char *v = sb_event_str_path(ev, fields[i]);
    if (v != NULL && v[0] != '\0') {
      ds = v;
      break;
    }
  }
  return ds != NULL && strcmp(ds, subject) == 0;
}

static int scan_row(void *ctx, const sb_pg_rows_t *r, int i, sb_err_t *err) {
  scan_t *s = ctx;
  const char *hex = sb_pg_rows_get(r, i, 0);
  size_t need = strlen(hex) / 2 + 1;
  if (need > s->cap) {
    unsigned char *b = realloc(s->buf, need);
    if (b == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    s->buf = b;
    s->cap = need;
  }
  long n = sb_bytea_unhex(hex, s->buf, s->cap);
  sb_event_t ev;
  if (n < 0 || sb_codec_decode(s->d->codec, s->buf, (size_t)n, &ev, err) != 0) {
    sb_err_prefix(err, "audit row of event %s: ", sb_pg_rows_get(r, i, 1));
    return err->code ? err->code : SB_EDECODE;
  }
  if (!about(&ev, s->subject))
    return 0;
  ev.ce_id = sb_pg_rows_get(r, i, 2); /* the producer's id, or NULL */
  cJSON *ce = NULL;
  int failed = 0;
  if (sb_codec_to_ce(s->d->codec, &ev, &ce, err) != 0 ||
      sb_pii_reveal(s->d->keys, s->d->schemas, ce, SB_PII_VIEW_CLEAR, &failed,
                    err) != 0) {
    cJSON_Delete(ce);
    sb_err_prefix(err, "audit row of event %s: ", sb_pg_rows_get(r, i, 1));
    return err->code;
  }
  s->unopened += failed;
  char *line = cJSON_PrintUnformatted(ce);
  cJSON_Delete(ce);
  if (line == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  fprintf(s->json, "%s\n  %s", s->events ? "," : "", line);
  fprintf(s->nd, "%s\n", line);
  cJSON_free(line);
  s->events++;
  return 0;
}

/* Every built-in processor's table (but the audit log's) with a tenant_id
 * and a subject_id or lead_id column: its rows naming the subject. */
static int write_rows(sb_dsar_t *d, const sb_dsar_req_t *q, FILE *out,
                      long long *rows, sb_err_t *err) {
  sb_text_t names = {0};
  sb_text_add(&names, "{");
  int k = 0;
  for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++)
    if (strcmp((*p)->name, "audit") != 0 &&
        !((*p)->flags & SB_PROCESSOR_TEST_ONLY))
      sb_text_add(&names, "%s%s", k++ ? "," : "", (*p)->name);
  sb_text_add(&names, "}");
  if (names.failed) {
    sb_text_free(&names);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  sb_pg_rows_t *t = NULL;
  int rc = sb_pg_rows(
      d->pg,
      "SELECT c.table_schema, c.table_name, min(c.column_name) FROM "
      "information_schema.columns c WHERE c.table_schema = ANY($1::text[]) "
      "AND c.column_name IN ('lead_id', 'subject_id') AND EXISTS (SELECT 1 "
      "FROM information_schema.columns t WHERE t.table_schema = "
      "c.table_schema AND t.table_name = c.table_name AND t.column_name = "
      "'tenant_id') GROUP BY 1, 2 ORDER BY 1, 2",
      1, (const char *const[]){names.s}, &t, err);
  sb_text_free(&names);
  fprintf(out, "],\n\"projections\": {");
  for (int i = 0; rc == 0 && i < sb_pg_rows_count(t); i++) {
    const char *schema = sb_pg_rows_get(t, i, 0);
    const char *table = sb_pg_rows_get(t, i, 1);
    const char *col = sb_pg_rows_get(t, i, 2);
    if (!sb_rows_name_ok(schema) || !sb_rows_name_ok(table) ||
        !sb_rows_name_ok(col))
      continue;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT row_to_json(t)::text FROM \"%s\".\"%s\" t WHERE "
             "tenant_id = $1 AND \"%s\" = $2 ORDER BY 1",
             schema, table, col);
    sb_pg_rows_t *r = NULL;
    rc = sb_pg_rows(d->pg, sql, 2, (const char *const[]){q->tenant, q->subject},
                    &r, err);
    if (rc != 0)
      break;
    fprintf(out, "%s\n  \"%s.%s\": [", i ? "," : "", schema, table);
    for (int j = 0; j < sb_pg_rows_count(r); j++)
      fprintf(out, "%s\n    %s", j ? "," : "", sb_pg_rows_get(r, j, 0));
    fprintf(out, "]");
    *rows += sb_pg_rows_count(r);
    sb_pg_rows_free(r);
  }
  sb_pg_rows_free(t);
  fprintf(out, "}\n}\n");
  return rc;
}

static int file_sha256(const char *path, char hex[65], sb_err_t *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return sb_err_set(err, SB_EIO, "%s: %s", path, strerror(errno));
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char buf[65536], h[32];
  unsigned int hl = 0;
  int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  size_t n;
  while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
    ok = EVP_DigestUpdate(md, buf, n);
  ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, h, &hl);
  EVP_MD_CTX_free(md);
  fclose(f);
  if (!ok)
    return sb_err_set(err, SB_EIO, "hashing %s failed", path);
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", h[i]);
  return 0;
}

/* A new file of mode 0600 (its directory 0700). */
static FILE *open_private(const char *path, sb_err_t *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (f == NULL) {
    sb_err_set(err, SB_EIO, "%s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
  }
  return f;
}

static int close_synced(FILE *f, const char *path, sb_err_t *err) {
  int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
  bad |= fclose(f) != 0;
  if (bad)
    return sb_err_set(err, SB_EIO, "writing %s: %s", path, strerror(errno));
  return 0;
}

int sb_dsar_export(sb_dsar_t *d, const sb_dsar_req_t *q, sb_dsar_result_t *res,
                   sb_err_t *err) {
  if (check_req(q, res, err) != 0)
    return err->code;
  const char *request = res->request_id;
  char dir[PATH_MAX - 96], hash[SB_KEYS_SUBJECT_HASH + 1], tmp[PATH_MAX],
      tmpnd[PATH_MAX], now[40];
  if (received(d, q, request, "access", err) != 0 ||
      export_paths(d, q, request, dir, sizeof dir, hash, err) != 0 ||
      sb_mkdir_p(dir, 0700, err) != 0)
    return err->code;
  if (sb_fmt(res->path, sizeof res->path, err, "%s/%s-%s.json", dir, hash,
             request) != 0 ||
      sb_fmt(res->ndjson, sizeof res->ndjson, err, "%s/%s-%s.ndjson", dir,
             hash, request) != 0 ||
      sb_fmt(tmp, sizeof tmp, err, "%s.tmp", res->path) != 0 ||
      sb_fmt(tmpnd, sizeof tmpnd, err, "%s.tmp", res->ndjson) != 0)
    return err->code;
  scan_t s = {.d = d, .subject = q->subject};
  s.json = open_private(tmp, err);
  s.nd = s.json ? open_private(tmpnd, err) : NULL;
  if (s.nd == NULL) {
    if (s.json)
      fclose(s.json);
    unlink(tmp);
    return err->code;
  }
  cJSON *head = cJSON_CreateObject();
  sb_time_format(sb_time_now_micros(), now, sizeof now);
  cJSON_AddStringToObject(head, "tenant_id", q->tenant);
  cJSON_AddStringToObject(head, "subject_id", q->subject);
  cJSON_AddStringToObject(head, "request_id", request);
  cJSON_AddStringToObject(head, "generated_at", now);
  char *h = cJSON_PrintUnformatted(head);
  cJSON_Delete(head);
  int rc = h ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0) {
    /* the header's object, left open for the events */
    fprintf(s.json, "%.*s,\n\"events\": [", (int)strlen(h) - 1, h);
    cJSON_free(h);
    rc = sb_pg_each_row(d->pg,
                        "SELECT payload, event_id, ce_id FROM audit.events "
                        "WHERE "
                        "tenant_id = $1 ORDER BY occurred_at, topic, "
                        "kafka_partition, chain_seq",
                        1, (const char *const[]){q->tenant}, scan_row, &s, err);
  }
  if (rc == 0)
    rc = write_rows(d, q, s.json, &res->rows, err);
  int c1 = close_synced(s.json, tmp, rc == 0 ? err : NULL);
  int c2 = close_synced(s.nd, tmpnd, rc == 0 ? err : NULL);
  free(s.buf);
  if (rc == 0 && (c1 != 0 || c2 != 0))
    rc = err->code;
  if (rc == 0 && (rename(tmp, res->path) != 0 || rename(tmpnd, res->ndjson)))
    rc = sb_err_set(err, SB_EIO, "exports: %s", strerror(errno));
  if (rc != 0) {
    unlink(tmp);
    unlink(tmpnd);
    return rc;
  }
  res->events = s.events;
  res->unopened = s.unopened;
  if (file_sha256(res->path, res->sha256, err) != 0)
    return err->code;
  /* the reading of the subject's data is itself on the record */
  cJSON *a = cJSON_CreateObject();
  if (a) {
    cJSON_AddStringToObject(a, "user_id", q->actor);
    cJSON_AddStringToObject(a, "action", "READ");
    cJSON_AddStringToObject(a, "resource_type", "gdpr_export");
    cJSON_AddStringToObject(a, "resource_id", request);
    cJSON_AddStringToObject(a, "subject_id", q->subject);
    cJSON_AddNumberToObject(a, "records_count",
                            (double)(res->events + res->rows));
    cJSON_AddStringToObject(a, "purpose", "data subject access request");
  }
  if (emit(d, q, request, "access.recorded", "read", q->actor, a, err) != 0 ||
      completed(d, q, request, "access", res->events + res->rows, res->sha256,
                err) != 0 ||
      flush(d, err) != 0)
    return err->code;
  sb_log(SB_LOG_INFO, "gdpr", "export written", SB_F_STR("tenant", q->tenant),
         SB_F_STR("request", request), SB_F_INT("events", res->events),
         SB_F_INT("rows", res->rows), SB_F_END);
  return 0;
}

/* ---- erase ------------------------------------------------------------- */

/* Removes the subject's export files (every request's). */
static int remove_exports(const char *dir, const char *hash, int *removed,
                          sb_err_t *err) {
  DIR *dh = opendir(dir);
  if (dh == NULL)
    return errno == ENOENT ? 0
                           : sb_err_set(err, SB_EIO, "%s: %s", dir,
                                        strerror(errno));
  size_t hl = strlen(hash);
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(dh)) != NULL) {
    if (strncmp(e->d_name, hash, hl) != 0 || e->d_name[hl] != '-')
      continue;
    char path[PATH_MAX];
    if (sb_fmt(path, sizeof path, err, "%s/%s", dir, e->d_name) != 0) {
      rc = err->code;
      break;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
      rc = sb_err_set(err, SB_EIO, "removing %s: %s", path, strerror(errno));
      break;
    }
    (*removed)++;
  }
  closedir(dh);
  return rc;
}

int sb_dsar_erase(sb_dsar_t *d, const sb_dsar_req_t *q, sb_dsar_result_t *res,
                  sb_err_t *err) {
  if (check_req(q, res, err) != 0)
    return err->code;
  const char *request = res->request_id;
  char dir[PATH_MAX - 96], hash[SB_KEYS_SUBJECT_HASH + 1];
  if (received(d, q, request, "erasure", err) != 0 || flush(d, err) != 0 ||
      export_paths(d, q, request, dir, sizeof dir, hash, err) != 0 ||
      sb_keys_erase(d->keys, q->tenant, q->subject, &res->keys_erased, err) !=
          0 ||
      remove_exports(dir, hash, &res->files_removed, err) != 0)
    return err->code;
  cJSON *e = cJSON_CreateObject();
  if (e) {
    cJSON_AddStringToObject(e, "key_id", hash);
    cJSON_AddStringToObject(e, "trigger", "dsar");
    cJSON_AddStringToObject(e, "request_id", request);
  }
  if (emit(d, q, request, "subject.erased", "erased", q->subject, e, err) != 0 ||
      completed(d, q, request, "erasure", res->keys_erased, NULL, err) != 0 ||
      flush(d, err) != 0)
    return err->code;
  sb_log(SB_LOG_INFO, "gdpr", "subject erased", SB_F_STR("tenant", q->tenant),
         SB_F_STR("request", request), SB_F_INT("keys", res->keys_erased),
         SB_F_INT("files", res->files_removed), SB_F_END);
  return 0;
}

/* ---- other reads of personal data ---------------------------------------- */

int sb_dsar_record_read(sb_dsar_t *d, const sb_dsar_read_t *r, sb_err_t *err) {
  if (!sb_tenant_valid(r->tenant) || r->actor == NULL || r->actor[0] == '\0' ||
      r->resource_type == NULL)
    return sb_err_set(err, SB_EINVAL,
                      "a read is recorded with its tenant, who read and what");
  char request[SB_ULID_LEN + 1];
  if (sb_ulid_new(request, err) != 0)
    return err->code;
  sb_dsar_req_t q = {.tenant = r->tenant,
                     .subject = r->subject,
                     .actor = r->actor,
                     .actor_role = r->actor_role,
                     .via = "cli"};
  cJSON *a = cJSON_CreateObject();
  if (a) {
    cJSON_AddStringToObject(a, "user_id", r->actor);
    cJSON_AddStringToObject(a, "action", "READ");
    cJSON_AddStringToObject(a, "resource_type", r->resource_type);
    if (r->resource_id)
      cJSON_AddStringToObject(a, "resource_id", r->resource_id);
    if (r->subject)
      cJSON_AddStringToObject(a, "subject_id", r->subject);
    if (r->purpose)
      cJSON_AddStringToObject(a, "purpose", r->purpose);
  }
  if (emit(d, &q, request, "access.recorded", "read", r->actor, a, err) != 0 ||
      flush(d, err) != 0) {
    sb_err_prefix(err, "the read could not be recorded, so nothing is read: ");
    return err->code;
  }
  return 0;
}

/* ---- status ------------------------------------------------------------ */

static int rows_json(sb_dsar_t *d, const char *sql, const char *tenant,
                     const char *subject, cJSON *out, const char *name,
                     sb_err_t *err) {
  sb_pg_rows_t *r = NULL;
  if (sb_pg_rows(d->pg, sql, 2, (const char *const[]){tenant, subject}, &r,
                 err) != 0)
    return err->code;
  cJSON *arr = cJSON_AddArrayToObject(out, name);
  for (int i = 0; arr && i < sb_pg_rows_count(r); i++) {
    cJSON *row = cJSON_Parse(sb_pg_rows_get(r, i, 0));
    if (row)
      cJSON_AddItemToArray(arr, row);
  }
  sb_pg_rows_free(r);
  return arr ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
}

int sb_dsar_status(sb_dsar_t *d, const char *tenant, const char *subject,
                   cJSON **out, sb_err_t *err) {
  *out = cJSON_CreateObject();
  if (*out == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = rows_json(
      d,
      "SELECT row_to_json(x)::text FROM (SELECT request_id, subject_id, kind, "
      "received_at, due_at, identity_verified, completed_at, outcome, "
      "records_count, export_sha256, completed_late, (completed_at IS NULL "
      "AND due_at < now()) AS overdue FROM gdpr.requests WHERE tenant_id = $1 "
      "AND ($2::text IS NULL OR subject_id = $2) ORDER BY received_at, "
      "request_id) x",
      tenant, subject, *out, "requests", err);
  if (rc == 0)
    rc = rows_json(d,
                   "SELECT row_to_json(x)::text FROM (SELECT subject_id, "
                   "key_id, trigger, request_id, erased_at FROM gdpr.erasures "
                   "WHERE tenant_id = $1 AND ($2::text IS NULL OR subject_id = "
                   "$2) ORDER BY erased_at, event_id) x",
                   tenant, subject, *out, "erasures", err);
  if (rc != 0 && sb_err_sqlstate_is(err, "42P01"))
    sb_err_prefix(err, "the gdpr processor has not run yet (run `up` or "
                       "`switchboard run --processors gdpr`): ");
  if (rc != 0) {
    cJSON_Delete(*out);
    *out = NULL;
  }
  return rc;
}
