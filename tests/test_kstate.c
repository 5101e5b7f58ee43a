/* Keyed state (sb_kstate.h) against the fixture's PostgreSQL, and its hash
 * map (sb_kmap.h) against a plain list. Each pg test makes its own
 * database, migrates it, and works as switchboard_app inside transactions
 * it opens itself, as the pipeline will. */
#include "sb_kmap.h"
#include "sb_kstate.h"
#include "sb_pg.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_util.h"
#include "sbt_kstore.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T "sb.calls"

/* The value of key as text, or NULL when absent (a static buffer). */
static const char *get_s(const sb_kstate_t *ks, int32_t p, const char *key) {
  static char buf[256];
  const void *v;
  size_t len;
  if (sb_kstate_get(ks, T, p, key, &v, &len) != 0)
    return NULL;
  snprintf(buf, sizeof buf, "%.*s", (int)len, (const char *)v);
  return buf;
}

static int put_s(sb_kstate_t *ks, int32_t p, const char *key,
                 const char *val, sb_err_t *err) {
  return sb_kstate_put(ks, T, p, key, val, strlen(val), err);
}

int test_kstate_pending_and_committed(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_kstate_t *ks = NULL;
  const int32_t parts[] = {0, 1, 2};
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_kstate_new("kproc", 1 << 20, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 3, &err), &err);
  CHECK_INT(sb_kstate_count(ks), 0);
  CHECK(get_s(ks, 0, "a") == NULL);

  /* a batch: puts and deletes are seen at once, pending */
  CHECK_OK(put_s(ks, 0, "a", "1", &err), &err);
  CHECK_OK(put_s(ks, 1, "a", "one", &err), &err); /* another partition */
  CHECK_OK(put_s(ks, 0, "b", "2", &err), &err);
  CHECK_OK(put_s(ks, 0, "a", "11", &err), &err); /* replaced */
  CHECK_STR(get_s(ks, 0, "a"), "11");
  CHECK_STR(get_s(ks, 1, "a"), "one");
  CHECK_OK(sb_kstate_del(ks, T, 0, "b", &err), &err);
  CHECK(get_s(ks, 0, "b") == NULL);
  CHECK_OK(sb_kstate_del(ks, T, 2, "never", &err), &err); /* no such key */
  CHECK_INT(sb_kstate_dirty(ks), 3);
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  CHECK_INT(sb_kstate_dirty(ks), 0);
  CHECK_INT(sb_kstate_count(ks), 2);
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(*) FROM sb.processor_state WHERE "
                             "schema = 'kproc'"),
            2);
  CHECK_STR(get_s(ks, 0, "a"), "11");

  /* next batch: delete a committed key, put over another, empty value */
  CHECK_OK(sb_kstate_del(ks, T, 1, "a", &err), &err);
  CHECK_OK(put_s(ks, 0, "a", "", &err), &err);
  CHECK_OK(put_s(ks, 2, "c", "3", &err), &err);
  const void *v = NULL;
  size_t len = 99;
  CHECK_INT(sb_kstate_get(ks, T, 0, "a", &v, &len), 0);
  CHECK(v != NULL);
  CHECK_INT(len, 0);
  CHECK_INT(sb_kstate_get(ks, T, 1, "a", &v, &len), SB_ENOENT);
  CHECK_INT(sb_kstate_get(ks, "sb.other", 0, "a", &v, &len), SB_ENOENT);
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  CHECK_INT(sb_kstate_count(ks), 2);

  /* a second instance loading the partitions sees what was committed */
  sb_kstate_t *ks2 = NULL;
  CHECK_OK(sb_kstate_new("kproc", 1 << 20, &ks2, &err), &err);
  CHECK_OK(sbt_kstore_load(ks2, NULL, d.pg, T, parts, 3, &err), &err);
  CHECK_INT(sb_kstate_count(ks2), 2);
  CHECK_INT(sb_kstate_get(ks2, T, 0, "a", &v, &len), 0);
  CHECK_INT(len, 0);
  CHECK(get_s(ks2, 1, "a") == NULL);
  CHECK_STR(get_s(ks2, 2, "c"), "3");
  CHECK_INT(sb_kstate_bytes(ks2), sb_kstate_bytes(ks));
  /* another schema (a replay's) has state of its own */
  sb_kstate_t *ks3 = NULL;
  CHECK_OK(sb_kstate_new("kproc_g2", 1 << 20, &ks3, &err), &err);
  CHECK_OK(sbt_kstore_load(ks3, NULL, d.pg, T, parts, 3, &err), &err);
  CHECK_INT(sb_kstate_count(ks3), 0);
  /* which replay's swap moves over */
  CHECK_OK(sbt_begin_app(d.pg, &err), &err);
  CHECK_OK(sb_kstate_rename_schema(d.pg, "kproc", "kproc_g2", &err), &err);
  CHECK_OK(sb_kstate_load(ks3, d.pg, T, parts, 3, &err), &err);
  sb_pg_rollback(d.pg);
  CHECK_STR(get_s(ks3, 2, "c"), "3");
  sb_kstate_free(ks3);
  sb_kstate_free(ks2);
  sb_kstate_free(ks);
  sbt_kdb_close(&d);
  return 0;
}

int test_kstate_abort_and_crash(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_kstate_t *ks = NULL;
  const int32_t parts[] = {0, 1};
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_kstate_new("kproc", 1 << 20, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 2, &err), &err);
  CHECK_OK(put_s(ks, 0, "k1", "v1", &err), &err);
  CHECK_OK(put_s(ks, 1, "k2", "v2", &err), &err);
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  size_t bytes = sb_kstate_bytes(ks);

  /* a batch that fails before its flush: abort drops what it did */
  CHECK_OK(put_s(ks, 0, "k1", "changed", &err), &err);
  CHECK_OK(sb_kstate_del(ks, T, 1, "k2", &err), &err);
  CHECK_OK(put_s(ks, 1, "k3", "new", &err), &err);
  sb_kstate_abort(ks);
  CHECK_STR(get_s(ks, 0, "k1"), "v1");
  CHECK_STR(get_s(ks, 1, "k2"), "v2");
  CHECK(get_s(ks, 1, "k3") == NULL);
  CHECK_INT(sb_kstate_count(ks), 2);
  CHECK_INT(sb_kstate_bytes(ks), bytes);

  /* a crash mid-batch: flushed, never committed (the transaction rolls
   * back), then the next process loads the partitions again */
  CHECK_OK(put_s(ks, 0, "k1", "lost", &err), &err);
  CHECK_OK(sb_kstate_del(ks, T, 1, "k2", &err), &err);
  CHECK_OK(put_s(ks, 1, "k4", "lost too", &err), &err);
  CHECK_OK(sbt_begin_app(d.pg, &err), &err);
  CHECK_OK(sb_kstate_flush(ks, d.pg, &err), &err);
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(*) FROM sb.processor_state"), 2);
  sb_pg_rollback(d.pg);
  sb_kstate_free(ks); /* the process is gone */
  ks = NULL;
  CHECK_OK(sb_kstate_new("kproc", 1 << 20, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 2, &err), &err);
  CHECK_STR(get_s(ks, 0, "k1"), "v1");
  CHECK_STR(get_s(ks, 1, "k2"), "v2");
  CHECK(get_s(ks, 1, "k4") == NULL);
  CHECK_INT(sb_kstate_count(ks), 2);

  /* a flush whose COMMIT fails: abort, and memory matches the table */
  CHECK_OK(put_s(ks, 0, "k1", "v1b", &err), &err);
  CHECK_OK(sbt_begin_app(d.pg, &err), &err);
  CHECK_OK(sb_kstate_flush(ks, d.pg, &err), &err);
  CHECK(sb_pg_exec(d.pg, "SELECT 1/0", 0, NULL, &err) != 0);
  CHECK_STR(err.sqlstate, "22012");
  sb_err_clear(&err);
  sb_pg_rollback(d.pg);
  sb_kstate_abort(ks);
  CHECK_STR(get_s(ks, 0, "k1"), "v1");
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(*) FROM sb.processor_state WHERE "
                             "key = 'k1' AND value = 'v1'"),
            1);
  sb_kstate_free(ks);
  sbt_kdb_close(&d);
  return 0;
}

int test_kstate_revoke_and_reload(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_kstate_t *ks = NULL;
  const int32_t parts[] = {3, 5, 7};
  char key[32], val[32];
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_kstate_new("kproc", 8 << 20, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 3, &err), &err);
  for (int i = 0; i < 3000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(val, sizeof val, "val-%d", i);
    CHECK_OK(put_s(ks, parts[i % 3], key, val, &err), &err);
  }
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  size_t full = sb_kstate_bytes(ks);
  /* pending changes on the partition kept and the one revoked */
  CHECK_OK(put_s(ks, 3, "key-0", "pending", &err), &err);
  CHECK_OK(put_s(ks, 5, "key-1", "pending", &err), &err);
  sb_kstate_drop(ks, T, 5);
  CHECK_INT(sb_kstate_count(ks), 2000);
  CHECK_INT(sb_kstate_dirty(ks), 1);
  CHECK(get_s(ks, 5, "key-1") == NULL);
  CHECK_STR(get_s(ks, 3, "key-0"), "pending");
  CHECK_STR(get_s(ks, 7, "key-2"), "val-2");
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  sb_kstate_drop(ks, T, 7);
  sb_kstate_drop(ks, T, 9); /* never held */
  sb_kstate_drop(ks, "sb.none", 3);
  CHECK_INT(sb_kstate_count(ks), 1000);
  for (int i = 0; i < 3000; i += 3) {
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(val, sizeof val, "val-%d", i);
    CHECK_STR(get_s(ks, 3, key), i == 0 ? "pending" : val);
  }
  /* assigned again: loaded in one query, as they were committed */
  const int32_t back[] = {5, 7};
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, back, 2, &err), &err);
  CHECK_INT(sb_kstate_count(ks), 3000);
  CHECK_INT(sb_kstate_bytes(ks), full + 2); /* "val-0" -> "pending" */
  for (int i = 0; i < 3000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(val, sizeof val, "val-%d", i);
    CHECK_STR(get_s(ks, parts[i % 3], key), i == 0 ? "pending" : val);
  }
  /* loading a partition held replaces it (its pending changes too) */
  CHECK_OK(put_s(ks, 5, "key-1", "pending", &err), &err);
  CHECK_OK(put_s(ks, 5, "fresh", "x", &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, back, 1, &err), &err);
  CHECK_STR(get_s(ks, 5, "key-1"), "val-1");
  CHECK(get_s(ks, 5, "fresh") == NULL);
  CHECK_INT(sb_kstate_dirty(ks), 0);
  sb_kstate_free(ks);
  sbt_kdb_close(&d);
  return 0;
}

/* Every row the flush writes comes from one statement: a row trigger
 * records statement_timestamp(), which a second round trip would change. */
int test_kstate_flush_one_statement(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_kstate_t *ks = NULL;
  const int32_t parts[] = {0, 1, 2, 3};
  char key[32];
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_pg_exec(d.pg,
                      "CREATE TABLE public.seen (at timestamptz, op text);"
                      "GRANT INSERT ON public.seen TO switchboard_app;"
                      "CREATE FUNCTION public.note() RETURNS trigger "
                      "LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.seen "
                      "VALUES (statement_timestamp(), TG_OP); RETURN NULL; "
                      "END $$;"
                      "CREATE TRIGGER note AFTER INSERT OR UPDATE OR DELETE "
                      "ON sb.processor_state FOR EACH ROW EXECUTE FUNCTION "
                      "public.note()",
                      0, NULL, &err),
           &err);
  CHECK_OK(sb_kstate_new("kproc", 8 << 20, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 4, &err), &err);
  for (int i = 0; i < 400; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_OK(put_s(ks, parts[i % 4], key, "v", &err), &err);
  }
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(DISTINCT at) FROM public.seen"), 1);
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(*) FROM public.seen"), 400);
  CHECK_OK(sb_pg_exec(d.pg, "TRUNCATE public.seen", 0, NULL, &err), &err);
  /* inserts, updates and deletes at once */
  for (int i = 0; i < 400; i++) {
    snprintf(key, sizeof key, "k%d", i);
    if (i % 3 == 0)
      CHECK_OK(sb_kstate_del(ks, T, parts[i % 4], key, &err), &err);
    else
      CHECK_OK(put_s(ks, parts[i % 4], key, "w", &err), &err);
    snprintf(key, sizeof key, "n%d", i);
    CHECK_OK(put_s(ks, parts[i % 4], key, "n", &err), &err);
  }
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(DISTINCT at) FROM public.seen"), 1);
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(*) FROM public.seen WHERE op = "
                             "'DELETE'"),
            134);
  CHECK_INT(sbt_scalar(d.pg, "SELECT count(*) FROM sb.processor_state"),
            400 - 134 + 400);
  /* nothing changed: no round trip at all (a broken connection shows it) */
  sb_pg_close(d.pg);
  d.pg = NULL;
  CHECK_OK(sb_kstate_flush(ks, NULL, &err), &err);
  CHECK_OK(sb_pg_connect(d.url, &d.pg, &err), &err);
  sb_kstate_free(ks);
  sbt_kdb_close(&d);
  return 0;
}

/* Keys and values that PostgreSQL's array literals and bytea must carry
 * untouched, and the inputs refused. */
int test_kstate_bytes_and_bounds(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_kstate_t *ks = NULL;
  const int32_t parts[] = {0};
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_kstate_new("kproc", 8 << 20, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 1, &err), &err);
  static const char *const keys[] = {
      "quote\"d", "back\\slash", "{brace},comma", "NULL", " spaced ",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e", "'single'", "x"};
  unsigned char all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (unsigned char)i;
  for (size_t i = 0; i < SB_ARRAY_LEN(keys); i++)
    CHECK_OK(sb_kstate_put(ks, T, 0, keys[i], all, 256 - i, &err), &err);
  unsigned char *big = malloc(SB_KSTATE_VALUE_MAX);
  CHECK(big != NULL);
  for (size_t i = 0; i < SB_KSTATE_VALUE_MAX; i++)
    big[i] = (unsigned char)(i * 7);
  CHECK_OK(sb_kstate_put(ks, T, 0, "big", big, SB_KSTATE_VALUE_MAX, &err),
           &err);
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  sb_kstate_t *ks2 = NULL;
  CHECK_OK(sb_kstate_new("kproc", 8 << 20, &ks2, &err), &err);
  CHECK_OK(sbt_kstore_load(ks2, NULL, d.pg, T, parts, 1, &err), &err);
  CHECK_INT(sb_kstate_count(ks2), SB_ARRAY_LEN(keys) + 1);
  for (size_t i = 0; i < SB_ARRAY_LEN(keys); i++) {
    const void *v;
    size_t len;
    CHECK_INT(sb_kstate_get(ks2, T, 0, keys[i], &v, &len), 0);
    CHECK_INT(len, 256 - i);
    CHECK(memcmp(v, all, len) == 0);
  }
  const void *v;
  size_t len;
  CHECK_INT(sb_kstate_get(ks2, T, 0, "big", &v, &len), 0);
  CHECK_INT(len, SB_KSTATE_VALUE_MAX);
  CHECK(memcmp(v, big, len) == 0);

  /* refused, precisely, and nothing changes */
  char longkey[SB_KSTATE_KEY_MAX + 2];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  CHECK_INT(sb_kstate_put(ks2, T, 0, longkey, "v", 1, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "1 to 1024 bytes");
  sb_err_clear(&err);
  longkey[SB_KSTATE_KEY_MAX] = '\0'; /* exactly the bound: taken */
  CHECK_OK(sb_kstate_put(ks2, T, 0, longkey, "v", 1, &err), &err);
  CHECK_INT(sb_kstate_put(ks2, T, 0, "", "v", 1, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "an empty key");
  sb_err_clear(&err);
  CHECK_INT(sb_kstate_put(ks2, T, 0, "bad\xc3(", "v", 1, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "UTF-8");
  sb_err_clear(&err);
  CHECK_INT(sb_kstate_put(ks2, T, 0, "bad\xed\xa0\x80", "v", 1, &err),
            SB_EINVAL); /* a surrogate */
  sb_err_clear(&err);
  CHECK_INT(sb_kstate_put(ks2, T, -1, "k", "v", 1, &err), SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(sb_kstate_put(ks2, T, 0, "k", big, SB_KSTATE_VALUE_MAX + 1, &err),
            SB_EINVAL);
  CHECK_HAS(err.msg, "at most 1048576 bytes");
  sb_err_clear(&err);
  CHECK_INT(sb_kstate_put(ks2, "", 0, "k", "v", 1, &err), SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(sb_kstate_dirty(ks2), 1);
  sb_kstate_free(ks);
  CHECK_INT(sb_kstate_new("Bad-Schema", 1024, &ks, &err), SB_EINVAL);
  CHECK(ks == NULL);
  sb_err_clear(&err);
  free(big);
  sb_kstate_free(ks2);
  sbt_kdb_close(&d);
  return 0;
}

int test_kstate_budget(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_kstate_t *ks = NULL;
  const int32_t parts[] = {0, 1};
  char key[32];
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_kstate_new("kbudget", 64 * 1024, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 2, &err), &err);
  int i = 0, rc = 0;
  char val[200];
  memset(val, 'v', sizeof val);
  for (; i < 10000 && rc == 0; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    rc = sb_kstate_put(ks, T, i % 2, key, val, sizeof val, &err);
  }
  CHECK_INT(rc, SB_ENOMEM);
  CHECK_HAS(err.msg, "kbudget");
  CHECK_HAS(err.msg, "processor.state_max_bytes");
  CHECK_HAS(err.msg, "65536");
  CHECK_HAS(err.msg, key); /* the key it was at */
  sb_err_clear(&err);
  CHECK(i > 100); /* about 290 bytes a key */
  CHECK(sb_kstate_bytes(ks) <= 64 * 1024);
  size_t n = sb_kstate_count(ks), bytes = sb_kstate_bytes(ks);
  CHECK(get_s(ks, (i - 1) % 2, key) == NULL); /* the refused put left none */
  /* a smaller value for an existing key still fits; a larger one not */
  CHECK_OK(sb_kstate_put(ks, T, 0, "key-0", "v", 1, &err), &err);
  CHECK_INT(sb_kstate_bytes(ks), bytes - 199);
  static char huge[65536];
  CHECK_INT(sb_kstate_put(ks, T, 0, "key-0", huge, sizeof huge, &err),
            SB_ENOMEM);
  sb_err_clear(&err);
  CHECK_STR(get_s(ks, 0, "key-0"), "v");
  CHECK_INT(sb_kstate_bytes(ks), bytes - 199);
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  CHECK_INT(sb_kstate_count(ks), n);

  /* a load past the budget: refused the same way, the partitions empty */
  sb_kstate_t *small = NULL;
  CHECK_OK(sb_kstate_new("kbudget", 16 * 1024, &small, &err), &err);
  CHECK_INT(sbt_kstore_load(small, NULL, d.pg, T, parts, 2, &err), SB_ENOMEM);
  CHECK_HAS(err.msg, "processor.state_max_bytes");
  CHECK_HAS(err.msg, "kbudget");
  sb_err_clear(&err);
  CHECK_INT(sb_kstate_count(small), 0);
  CHECK_INT(sb_kstate_bytes(small), 0);
  sb_kstate_free(small);
  sb_kstate_free(ks);
  sbt_kdb_close(&d);
  return 0;
}

/* The map against a plain list, through inserts and removals in a
 * pseudo-random order (the removals' backward shifts and moved items). */
int test_kmap_matches_list(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_kmap_t m;
  typedef struct {
    sb_kmap_hdr_t h;
    int value;
  } item_t;
  enum { KEYS = 5000 };
  static int present[KEYS]; /* value + 1, or 0 */
  memset(present, 0, sizeof present);
  CHECK_OK(sb_kmap_init(&m, sizeof(item_t), &err), &err);
  int t0 = sb_kmap_topic(&m, "sb.calls", &err);
  int t1 = sb_kmap_topic(&m, "sb.leads", &err);
  CHECK(t0 == 0 && t1 == 1);
  CHECK_INT(sb_kmap_topic(&m, "sb.calls", &err), 0);
  uint64_t x = 88172645463325252ULL;
  size_t live = 0;
  char key[32];
  for (int step = 0; step < 60000; step++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int k = (int)(x % KEYS);
    snprintf(key, sizeof key, "key-%d", k / 2);
    int topic = k % 2 ? t1 : t0;
    int32_t part = (int32_t)(k % 7);
    long at = sb_kmap_find(&m, topic, part, key, strlen(key));
    CHECK_INT(at >= 0, present[k] != 0);
    if (at >= 0) {
      item_t *it = sb_kmap_at(&m, (size_t)at);
      CHECK_INT(it->value + 1, present[k]);
      CHECK_STR(it->h.key, key);
    }
    if (present[k] && (x >> 20) % 3 == 0) {
      sb_kmap_remove(&m, (size_t)at);
      present[k] = 0;
      live--;
    } else if (!present[k]) {
      size_t idx;
      int created;
      CHECK_OK(sb_kmap_insert(&m, topic, part, key, strlen(key), &idx,
                              &created, &err),
               &err);
      CHECK(created);
      ((item_t *)sb_kmap_at(&m, idx))->value = step;
      present[k] = step + 1;
      live++;
    }
    CHECK_INT(m.n, live);
  }
  for (int k = 0; k < KEYS; k++) {
    snprintf(key, sizeof key, "key-%d", k / 2);
    long at = sb_kmap_find(&m, k % 2 ? t1 : t0, (int32_t)(k % 7), key,
                           strlen(key));
    CHECK_INT(at >= 0, present[k] != 0);
  }
  CHECK_INT(sb_kmap_find(&m, -1, 0, "key-1", 5), -1);
  CHECK_INT(sb_kmap_topic(&m, "", &err), SB_EINVAL);
  sb_err_clear(&err);
  CHECK(sb_utf8_valid("plain", 5));
  CHECK(sb_utf8_valid("\xc3\xa9\xf0\x9f\x93\x9e", 6));
  CHECK(!sb_utf8_valid("\xc3", 1));
  CHECK(!sb_utf8_valid("\xc0\x80", 2)); /* overlong NUL */
  CHECK(!sb_utf8_valid("a\0b", 3));
  CHECK(!sb_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
  sb_kmap_free(&m);
  return 0;
}

/* ---- scan ---------------------------------------------------------------- */

typedef struct {
  char seen[512];
  int stop_after; /* 0: never */
  int calls;
} scan_t;

static int on_key(void *arg, const char *key, const void *val, size_t len,
                  sb_err_t *err) {
  (void)err;
  scan_t *s = arg;
  char one[96];
  snprintf(one, sizeof one, "%s=%.*s;", key, (int)len, (const char *)val);
  strncat(s->seen, one, sizeof s->seen - strlen(s->seen) - 1);
  return ++s->calls == s->stop_after ? 7 : 0;
}

int test_kstate_scan(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_kstate_t *ks = NULL;
  const int32_t parts[] = {0, 1};
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_kstate_new("kproc", 1 << 20, &ks, &err), &err);
  CHECK_OK(sbt_kstore_load(ks, NULL, d.pg, T, parts, 2, &err), &err);
  const char *const keys[] = {"a/3", "a/1", "b/1", "a/2", "a"};
  for (size_t i = 0; i < 5; i++)
    CHECK_OK(put_s(ks, 0, keys[i], keys[i], &err), &err);
  CHECK_OK(put_s(ks, 1, "a/0", "other partition", &err), &err);
  CHECK_OK(sbt_kstore_commit(ks, NULL, d.pg, &err), &err);
  /* the batch's view: a deletion and a pending put and replacement */
  CHECK_OK(sb_kstate_del(ks, T, 0, "a/2", &err), &err);
  CHECK_OK(put_s(ks, 0, "a/4", "new", &err), &err);
  CHECK_OK(put_s(ks, 0, "a/1", "changed", &err), &err);
  scan_t s = {0};
  CHECK_OK(sb_kstate_scan(ks, T, 0, "a/", on_key, &s, &err), &err);
  CHECK_STR(s.seen, "a/1=changed;a/3=a/3;a/4=new;");
  s = (scan_t){0};
  CHECK_OK(sb_kstate_scan(ks, T, 0, "", on_key, &s, &err), &err);
  CHECK_STR(s.seen, "a=a;a/1=changed;a/3=a/3;a/4=new;b/1=b/1;");
  s = (scan_t){.stop_after = 2};
  CHECK_INT(sb_kstate_scan(ks, T, 0, "", on_key, &s, &err), 7);
  CHECK_STR(s.seen, "a=a;a/1=changed;");
  s = (scan_t){0};
  CHECK_OK(sb_kstate_scan(ks, "sb.unknown", 0, "", on_key, &s, &err), &err);
  CHECK_INT(s.calls, 0);
  /* the aborted batch's changes are gone from the scan too */
  sb_kstate_abort(ks);
  s = (scan_t){0};
  CHECK_OK(sb_kstate_scan(ks, T, 0, "a/", on_key, &s, &err), &err);
  CHECK_STR(s.seen, "a/1=a/1;a/2=a/2;a/3=a/3;");
  sb_kstate_free(ks);
  sbt_kdb_close(&d);
  return 0;
}
