/* PII of projection rows revealed per caller (sb_pii_rows.h): a text
 * column opens only under the origins it declares, a JSONB column of an
 * event's data field by field, the owner column decides an agent's view,
 * an erased subject reads "sbx1.erased"; and a processor's pii_cols are
 * checked against its tables. Against the fixture's PostgreSQL (pg). */
#define _GNU_SOURCE
#include "sb_conf.h"
#include "sb_keys.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pii.h"
#include "sb_pii_event.h"
#include "sb_pii_rows.h"
#include "sb_processor.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const sb_table_def_t contacts = {
    .name = "contacts",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"lead_id", SB_COL_TEXT, 0},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
            {"phone", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"type", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"data", SB_COL_JSONB, SB_MERGE_REPLACE},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "lead_id", NULL},
};
static const sb_table_def_t *const tables[] = {&contacts, NULL};
static const sb_pii_col_t cols[] = {
    {"contacts", "phone", "lead.created:phone,lead.updated:phone"},
    {"contacts", "data", "event:type"},
    {0},
};

/* seals one event of type with data (JSON) for subject; its data's field
 * value (malloc'd), or NULL */
static char *sealed(sb_keys_t *k, const sb_schemas_t *s, const char *type,
                    const char *subject, const char *data, const char *field,
                    char **whole) {
  char ce[1024];
  snprintf(ce, sizeof ce,
           "{\"specversion\":\"1.0\",\"type\":\"%s\",\"source\":\"t://x\","
           "\"subject\":\"%s\",\"time\":\"2026-11-24T18:00:00Z\","
           "\"tenantid\":\"acme\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T0\","
           "\"data\":%s}",
           type, subject, data);
  cJSON *ev = cJSON_Parse(ce);
  char *why = NULL;
  sb_err_t err = SB_ERR_INIT;
  char *out = NULL;
  if (ev && sb_pii_seal_events(k, s, &ev, 1, &why, &err) == 0 && !why) {
    cJSON *d = cJSON_GetObjectItem(ev, "data");
    cJSON *v = cJSON_GetObjectItem(d, field);
    if (cJSON_IsString(v))
      out = strdup(v->valuestring);
    if (whole)
      *whole = cJSON_PrintUnformatted(d);
  }
  free(why);
  cJSON_Delete(ev);
  return out;
}

static const char *cell(cJSON *rows, int i, const char *col) {
  cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, i), col);
  return cJSON_IsString(v) ? v->valuestring : "(none)";
}

/* the rows for a caller: [lead-1 of agent-7 (lead.created's phone, data of
 * lead.created), lead-2 of agent-8 (lead.updated's phone), lead-3 (a
 * message's to_address: an origin the column does not list), lead-4
 * (plaintext)] */
static cJSON *rows_for(sb_keys_t *k, const sb_schemas_t *s, const char *role,
                       const char *user, const char *p1, const char *d1,
                       const char *p2, const char *p3, int *failed,
                       sb_err_t *err) {
  char *json = NULL;
  size_t n = strlen(p1) + strlen(d1) + strlen(p2) + strlen(p3) + 1024;
  json = malloc(n);
  snprintf(json, n,
           "[{\"tenant_id\":\"acme\",\"lead_id\":\"lead-1\",\"agent_id\":"
           "\"agent-7\",\"phone\":\"%s\",\"type\":\"lead.created\",\"data\":"
           "%s},"
           "{\"tenant_id\":\"acme\",\"lead_id\":\"lead-2\",\"agent_id\":"
           "\"agent-8\",\"phone\":\"%s\",\"type\":null,\"data\":null},"
           "{\"tenant_id\":\"acme\",\"lead_id\":\"lead-3\",\"agent_id\":null,"
           "\"phone\":\"%s\"},"
           "{\"tenant_id\":\"acme\",\"lead_id\":\"lead-4\",\"agent_id\":null,"
           "\"phone\":\"+14155550111\"}]",
           p1, d1, p2, p3);
  cJSON *rows = cJSON_Parse(json);
  free(json);
  sb_pii_table_t t = {"contacts", &contacts, cols};
  if (rows == NULL ||
      sb_pii_reveal_rows(k, s, &t, "acme", role, user, rows, failed, err) !=
          0) {
    cJSON_Delete(rows);
    return NULL;
  }
  return rows;
}

int test_pii_reveal_rows(void) {
  char url[512], db[64], dir[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_conf_t c;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_migrate(pg, sb_migrations, sb_migrations_n, NULL, &err), &err);
  snprintf(dir, sizeof dir, "/tmp/sbt_piirows_XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_conf_set(&c, "data_dir", dir, SB_CO_FLAG, NULL, &err), &err);
  CHECK_OK(sb_conf_set(&c, "database_url", url, SB_CO_FLAG, NULL, &err), &err);
  sb_schemas_t *s = NULL;
  sb_keys_t *k = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_keys_open(&c, &k, &err), &err);

  char *d1 = NULL;
  char *p1 = sealed(k, s, "lead.created", "lead-1",
                    "{\"phone\":\"+14155554567\",\"email\":\"ada@example.com\"}",
                    "phone", &d1);
  char *p2 = sealed(k, s, "lead.updated", "lead-2",
                    "{\"changed_fields\":[\"phone\"],\"phone\":\"+442071234599\"}",
                    "phone", NULL);
  char *p3 = sealed(k, s, "message.requested", "msg-3",
                    "{\"lead_id\":\"lead-3\",\"channel\":\"sms\","
                    "\"to_address\":\"+14155550188\",\"body\":\"hi\"}",
                    "to_address", NULL);
  CHECK(p1 && p2 && p3 && d1);
  CHECK(sb_pii_is_sealed(p1) && sb_pii_is_sealed(p2) && sb_pii_is_sealed(p3));
  CHECK(strstr(d1, "ada@") == NULL);

  /* a manager: clear, but what opens under no listed origin */
  int failed = 0;
  cJSON *r = rows_for(k, s, "manager", "mia", p1, d1, p2, p3, &failed, &err);
  CHECK(r != NULL);
  CHECK_STR(cell(r, 0, "phone"), "+14155554567");
  CHECK_STR(cell(r, 1, "phone"), "+442071234599");
  CHECK_STR(cell(r, 2, "phone"), SB_PII_ERASED); /* to_address: not listed */
  CHECK_STR(cell(r, 3, "phone"), "+14155550111");
  CHECK_INT(failed, 1);
  cJSON *data = cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "data");
  CHECK_STR(cJSON_GetObjectItem(data, "email")->valuestring,
            "ada@example.com");
  cJSON_Delete(r);
  /* the owning agent: its row clear, the others masked (plaintext too) */
  r = rows_for(k, s, "agent", "agent-7", p1, d1, p2, p3, &failed, &err);
  CHECK(r != NULL);
  CHECK_STR(cell(r, 0, "phone"), "+14155554567");
  CHECK_STR(cell(r, 1, "phone"), "+4*******4599");
  CHECK_STR(cell(r, 3, "phone"), "+1******0111");
  cJSON_Delete(r);
  r = rows_for(k, s, "agent", "agent-8", p1, d1, p2, p3, &failed, &err);
  CHECK(r != NULL);
  CHECK_STR(cell(r, 0, "phone"), "+1******4567");
  CHECK_STR(cell(r, 1, "phone"), "+442071234599");
  data = cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "data");
  CHECK_STR(cJSON_GetObjectItem(data, "email")->valuestring,
            "a***@example.com");
  cJSON_Delete(r);
  /* a supervisor and an unknown role: masked */
  r = rows_for(k, s, "supervisor", "sam", p1, d1, p2, p3, &failed, &err);
  CHECK(r != NULL);
  CHECK_STR(cell(r, 0, "phone"), "+1******4567");
  CHECK_STR(cell(r, 1, "phone"), "+4*******4599");
  cJSON_Delete(r);
  /* erased: the subject's cells read erased, the others' stay */
  long erased = 0;
  CHECK_OK(sb_keys_erase(k, "acme", "lead-1", &erased, &err), &err);
  CHECK(erased >= 1);
  r = rows_for(k, s, "admin", "alice", p1, d1, p2, p3, &failed, &err);
  CHECK(r != NULL);
  CHECK_STR(cell(r, 0, "phone"), SB_PII_ERASED);
  CHECK_STR(cell(r, 1, "phone"), "+442071234599");
  data = cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "data");
  CHECK_STR(cJSON_GetObjectItem(data, "email")->valuestring, SB_PII_ERASED);
  cJSON_Delete(r);

  /* declarations checked against the tables */
  sb_processor_vt_t vt = {.name = "t", .tables = tables};
  CHECK_OK(sb_pii_cols_check(&vt, &err), &err);
  const sb_pii_col_t bad1[] = {{"contacts", "nope", "lead.created:phone"},
                               {0}};
  const sb_pii_col_t bad2[] = {{"contacts", "data", "lead.created:phone"},
                               {0}};
  const sb_pii_col_t bad3[] = {{"others", "phone", "lead.created:phone"},
                               {0}};
  const sb_pii_col_t bad4[] = {{"contacts", "phone", "phone"}, {0}};
  vt.pii_cols = bad1;
  CHECK_INT(sb_pii_cols_check(&vt, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "contacts.nope names no column");
  const sb_pii_col_t *bads[] = {bad2, bad3, bad4};
  for (size_t i = 0; i < 3; i++) {
    sb_err_t e2 = SB_ERR_INIT;
    vt.pii_cols = bads[i];
    CHECK_INT(sb_pii_cols_check(&vt, &e2), SB_EINVAL);
  }
  /* the built-in declarations hold */
  sb_pii_table_t pt;
  CHECK_INT(sb_pii_table_find("compliance", "consent", &pt), 1);
  CHECK_INT(sb_pii_table_find("compliance", "suppressions", &pt), 0);
  CHECK_INT(sb_pii_table_find("nope", "consent", &pt), 0);
  for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++)
    CHECK_OK(sb_pii_cols_check(*p, &err), &err);

  free(p1);
  free(p2);
  free(p3);
  free(d1);
  sb_keys_free(k);
  sb_schemas_free(s);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  sb_conf_free(&c);
  char p[128];
  snprintf(p, sizeof p, "%s/tenant.keys", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/tenant.keys.lock", dir);
  unlink(p);
  rmdir(dir);
  return 0;
}
