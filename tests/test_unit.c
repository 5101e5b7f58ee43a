/* Unit tests: errors, helpers, logging, configuration, migration lists. */
#include "sb_conf.h"
#include "sb_processor.h"
#include "sb_err.h"
#include "sb_log.h"
#include "sb_text.h"
#include "sb_migrate.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int test_err_table(void) {
  CHECK_STR(sb_err_name(SB_ECONFIG), "SB_ECONFIG");
  CHECK_STR(sb_strerror(SB_ETIMEDOUT), "timed out");
  CHECK_STR(sb_err_name(-9999), "SB_EUNKNOWN");
  sb_err_t err = SB_ERR_INIT;
  CHECK_INT(sb_err_set(&err, SB_EKAFKA, "broker %d down", 3), SB_EKAFKA);
  CHECK_STR(err.msg, "broker 3 down");
  CHECK(err.retriable); /* kafka errors are retriable by default */
  sb_err_clear(&err);
  sb_err_set(&err, SB_EVALIDATE, "bad");
  CHECK(!err.retriable);
  CHECK_INT(sb_err_set(NULL, SB_EIO, "nobody listens"), SB_EIO);
  return 0;
}

int test_err_first_wins(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_err_set(&err, SB_EPG, "root cause");
  sb_err_set(&err, SB_EIO, "symptom");
  CHECK_INT(err.code, SB_EPG);
  CHECK_STR(err.msg, "root cause");
  sb_err_prefix(&err, "migration %d: ", 7);
  CHECK_STR(err.msg, "migration 7: root cause");
  sb_err_t none = SB_ERR_INIT;
  sb_err_prefix(&none, "context: ");
  CHECK_STR(none.msg, "");
  /* a long prefix never overflows */
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  sb_err_prefix(&err, "%s", big);
  CHECK_INT(strlen(err.msg), SB_ERR_MSG_MAX - 1);
  return 0;
}

int test_util_kv_and_bytea(void) {
  char text[] = "# comment\n\n port = 5432 \nnoequals\npassword=a=b\nlast = x";
  char *cur = text, *k, *v;
  CHECK(sb_kv_next(&cur, &k, &v));
  CHECK_STR(k, "port");
  CHECK_STR(v, "5432");
  CHECK(sb_kv_next(&cur, &k, &v));
  CHECK_STR(k, "password");
  CHECK_STR(v, "a=b");
  CHECK(sb_kv_next(&cur, &k, &v));
  CHECK_STR(k, "last");
  CHECK_STR(v, "x");
  CHECK(!sb_kv_next(&cur, &k, &v));
  CHECK(!sb_kv_next(&cur, &k, &v));
  unsigned char b[4];
  CHECK_INT(sb_bytea_unhex("\\x00fFa1", b, sizeof b), 3);
  CHECK(b[0] == 0x00 && b[1] == 0xff && b[2] == 0xa1);
  CHECK_INT(sb_bytea_unhex("\\x", b, sizeof b), 0);
  CHECK_INT(sb_bytea_unhex("\\x0", b, sizeof b), -1);       /* odd */
  CHECK_INT(sb_bytea_unhex("\\x0g", b, sizeof b), -1);      /* not hex */
  CHECK_INT(sb_bytea_unhex("00ff", b, sizeof b), -1);         /* no \\x */
  CHECK_INT(sb_bytea_unhex("\\x0011223344", b, sizeof b), -1); /* > cap */
  CHECK_INT(sb_bytea_unhex(NULL, b, sizeof b), -1);
  return 0;
}

int test_util_parse_ll(void) {
  long long v = 0;
  CHECK_INT(sb_parse_ll("42", &v), 0);
  CHECK_INT(v, 42);
  CHECK_INT(sb_parse_ll("-7", &v), 0);
  CHECK_INT(v, -7);
  CHECK(sb_parse_ll("", &v) != 0);
  CHECK(sb_parse_ll("12abc", &v) != 0);
  CHECK(sb_parse_ll(" 12", &v) != 0);
  CHECK(sb_parse_ll("99999999999999999999999", &v) != 0);
  CHECK(sb_parse_ll(NULL, &v) != 0);
  CHECK_INT(sb_edit_distance("partitions", "partitons"), 1);
  CHECK_INT(sb_edit_distance("", "abc"), 3);
  char s[] = "  padded \t\n";
  CHECK_STR(sb_trim(s), "padded");
  return 0;
}

int test_ulid(void) {
  CHECK(sb_ulid_valid("01JDQ7ZV3K8YQ2W5N6P7R8S9T0", 26));
  CHECK(sb_ulid_valid("01jdq7zv3k8yq2w5n6p7r8s9t0", 26)); /* either case */
  CHECK(!sb_ulid_valid("81JDQ7ZV3K8YQ2W5N6P7R8S9T0", 26)); /* past 48 bits */
  CHECK(!sb_ulid_valid("01JDQ7ZV3K8YQ2W5N6P7R8S9TU", 26)); /* U: not base32 */
  CHECK(!sb_ulid_valid("01JDQ7ZV3K8YQ2W5N6P7R8S9T", 25));
  CHECK(!sb_ulid_valid("01JDQ7ZV3K8YQ2W5N6P7R8S9T\xc3", 26));
  /* past one refill of the randomness pool: valid and all different */
  static char ids[1000][SB_ULID_LEN + 1];
  sb_err_t err = SB_ERR_INIT;
  for (int i = 0; i < 1000; i++) {
    CHECK_INT(sb_ulid_new(ids[i], &err), 0);
    CHECK(sb_ulid_valid(ids[i], SB_ULID_LEN));
    for (int j = 0; j < i; j += 37)
      CHECK(strcmp(ids[i] + 10, ids[j] + 10) != 0);
  }
  return 0;
}

int test_util_files(void) {
  sb_err_t err = SB_ERR_INIT;
  char dir[] = "/tmp/sbt-util-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256], nested[256];
  snprintf(path, sizeof path, "%s/f.txt", dir);
  snprintf(nested, sizeof nested, "%s/a/b/c", dir);
  CHECK_OK(sb_mkdir_p(nested, 0700, &err), &err);
  CHECK_OK(sb_mkdir_p(nested, 0700, &err), &err); /* twice is fine */
  CHECK_OK(sb_write_file(path, "hello", 5, 0600, &err), &err);
  struct stat st;
  CHECK(stat(path, &st) == 0);
  CHECK_INT(st.st_mode & 0777, 0600);
  char *text = NULL;
  size_t len = 0;
  CHECK_OK(sb_read_file(path, 100, &text, &len, &err), &err);
  CHECK_STR(text, "hello");
  CHECK_INT(len, 5);
  free(text);
  CHECK_INT(sb_read_file(path, 3, &text, &len, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "larger than 3 bytes");
  sb_err_clear(&err);
  char missing[300];
  snprintf(missing, sizeof missing, "%s/none", dir);
  CHECK_INT(sb_read_file(missing, 100, &text, NULL, &err), SB_ENOENT);
  CHECK_HAS(err.msg, missing);
  char hex[49];
  sb_err_clear(&err);
  CHECK_OK(sb_random_hex(hex, sizeof hex, 24, &err), &err);
  CHECK_INT(strlen(hex), 48);
  CHECK(sb_random_hex(hex, 10, 24, &err) != 0);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return 0;
}

int test_log_redact(void) {
  char out[256];
  sb_url_redact("postgresql://sb:s3cret@127.0.0.1:5432/db", out, sizeof out);
  CHECK_STR(out, "postgresql://sb:****@127.0.0.1:5432/db");
  sb_url_redact("postgresql://sb@127.0.0.1/db", out, sizeof out);
  CHECK_STR(out, "postgresql://sb@127.0.0.1/db");
  sb_url_redact("host=x user=y password=hunter2 dbname=z", out, sizeof out);
  CHECK_STR(out, "host=x user=y password=**** dbname=z");
  sb_url_redact("postgresql://h/db?user=a&password=p&sslmode=off", out,
                sizeof out);
  CHECK_STR(out, "postgresql://h/db?user=a&password=****&sslmode=off");
  return 0;
}

/* Captures what sb_log writes to stderr. */
static int capture_log(sb_log_format_t fmt, char *buf, size_t sz) {
  char path[] = "/tmp/sbt-log-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  sb_log_setup(SB_LOG_INFO, fmt);
  sb_log(SB_LOG_DEBUG, "test", "hidden below the level", SB_F_END);
  sb_log(SB_LOG_WARN, "test", "disk \"nearly\" full", SB_F_STR("path", "/var x"),
         SB_F_INT("free_mb", 12), SB_F_END);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  sb_log_setup(SB_LOG_WARN, SB_LOG_TEXT);
  ssize_t n = pread(fd, buf, sz - 1, 0);
  close(fd);
  unlink(path);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return 0;
}

int test_log_json_line(void) {
  char buf[2048];
  CHECK(capture_log(SB_LOG_JSON, buf, sizeof buf) == 0);
  CHECK(strchr(buf, '\n') == buf + strlen(buf) - 1); /* one line */
  cJSON *o = cJSON_Parse(buf);
  CHECK(o != NULL);
  CHECK_STR(cJSON_GetObjectItem(o, "level")->valuestring, "warn");
  CHECK_STR(cJSON_GetObjectItem(o, "component")->valuestring, "test");
  CHECK_STR(cJSON_GetObjectItem(o, "msg")->valuestring, "disk \"nearly\" full");
  CHECK_STR(cJSON_GetObjectItem(o, "path")->valuestring, "/var x");
  CHECK_INT(cJSON_GetObjectItem(o, "free_mb")->valuedouble, 12);
  CHECK(cJSON_GetObjectItem(o, "ts") != NULL);
  cJSON_Delete(o);
  CHECK(capture_log(SB_LOG_TEXT, buf, sizeof buf) == 0);
  CHECK_HAS(buf, "WARN  test: disk \"nearly\" full path=\"/var x\" free_mb=12\n");
  CHECK(strstr(buf, "hidden") == NULL);
  return 0;
}

int test_conf_defaults(void) {
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_STR(c.data_dir, "./.switchboard");
  CHECK_INT(c.partitions, 12);
  CHECK(c.brokers == NULL);
  CHECK(c.database_url == NULL);
  CHECK_INT(c.log_level, SB_LOG_INFO);
  CHECK_INT(sb_conf_origin(&c, "partitions"), SB_CO_DEFAULT);
  CHECK_INT(sb_conf_origin(&c, "brokers"), SB_CO_UNSET);
  /* flag spellings find their property */
  CHECK_STR(sb_conf_find("data-dir")->name, "data_dir");
  CHECK_STR(sb_conf_find("log-level")->name, "log.level");
  CHECK(sb_conf_find("nonsense") == NULL);
  sb_conf_free(&c);
  sb_conf_free(NULL);
  return 0;
}

static int write_tmp(char *path, const char *text) {
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

int test_conf_file_good(void) {
  char path[] = "/tmp/sbt-conf-XXXXXX";
  CHECK(write_tmp(path, "# a comment\n\n"
                        "partitions = 3   # trailing comment\n"
                        "  brokers=kafka-1:9092,kafka-2:9092\n"
                        "data_dir = \"/srv/sb data\"\n"
                        "log.level = debug\n"
                        "kafka.linger.ms = 5\n") == 0);
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_conf_load_file(&c, path, SB_CO_FILE, &err), &err);
  unlink(path);
  CHECK_INT(c.partitions, 3);
  CHECK_STR(c.brokers, "kafka-1:9092,kafka-2:9092");
  CHECK_STR(c.data_dir, "/srv/sb data");
  CHECK_INT(c.log_level, SB_LOG_DEBUG);
  CHECK_INT(c.kafka_n, 1);
  CHECK_STR(c.kafka_keys[0], "linger.ms");
  CHECK_STR(c.kafka_vals[0], "5");
  CHECK_INT(sb_conf_origin(&c, "partitions"), SB_CO_FILE);
  sb_conf_free(&c);
  return 0;
}

/* Loads text as a config file and returns the error message. */
static int load_bad(const char *text, sb_err_t *err, char *path) {
  sb_conf_t c;
  if (write_tmp(path, text) != 0)
    return -1;
  sb_conf_init(&c, NULL);
  int rc = sb_conf_load_file(&c, path, SB_CO_FILE, err);
  sb_conf_free(&c);
  unlink(path);
  return rc;
}

int test_conf_file_bad(void) {
  sb_err_t err = SB_ERR_INIT;
  char path[] = "/tmp/sbt-conf-XXXXXX";
  CHECK_INT(load_bad("partitions = 3\n\npartitons = 4\n", &err, path),
            SB_ECONFIG);
  CHECK_HAS(err.msg, "line 3");
  CHECK_HAS(err.msg, "unknown configuration key 'partitons'");
  CHECK_HAS(err.msg, "did you mean 'partitions'?");
  CHECK(strchr(err.msg, '\n') == NULL);

  sb_err_clear(&err);
  char p2[] = "/tmp/sbt-conf-XXXXXX";
  CHECK_INT(load_bad("just words\n", &err, p2), SB_ECONFIG);
  CHECK_HAS(err.msg, "line 1: expected 'key = value'");

  sb_err_clear(&err);
  char p3[] = "/tmp/sbt-conf-XXXXXX";
  CHECK_INT(load_bad(" = 5\n", &err, p3), SB_ECONFIG);
  CHECK_HAS(err.msg, "missing key");

  sb_err_clear(&err);
  sb_conf_t c;
  sb_conf_init(&c, NULL);
  CHECK_INT(sb_conf_load_file(&c, "/nonexistent/sb.conf", SB_CO_FILE, &err),
            SB_ENOENT);
  CHECK_HAS(err.msg, "/nonexistent/sb.conf");
  sb_conf_free(&c);
  return 0;
}

int test_conf_values_bad(void) {
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  sb_conf_init(&c, NULL);
  CHECK_INT(sb_conf_set(&c, "partitions", "many", SB_CO_FLAG, "--partitions",
                        &err),
            SB_ECONFIG);
  CHECK_STR(err.msg,
            "--partitions: configuration key 'partitions': 'many' is not a "
            "whole number");
  sb_err_clear(&err);
  CHECK_INT(sb_conf_set(&c, "partitions", "0", SB_CO_FLAG, NULL, &err),
            SB_ECONFIG);
  CHECK_HAS(err.msg, "out of range [1, 1024]");
  sb_err_clear(&err);
  CHECK_INT(sb_conf_set(&c, "log.level", "loud", SB_CO_FLAG, NULL, &err),
            SB_ECONFIG);
  CHECK_HAS(err.msg, "'loud' is not one of debug,info,warn,error");
  sb_err_clear(&err);
  CHECK_INT(sb_conf_set(&c, "postgres.port", "70000", SB_CO_FLAG, NULL, &err),
            SB_ECONFIG);
  CHECK_HAS(err.msg, "postgres.port");
  CHECK_INT(c.partitions, 12); /* failed sets change nothing */
  CHECK_INT(c.pg_port, 0);
  sb_conf_free(&c);
  return 0;
}

int test_conf_env_and_layers(void) {
  char path[] = "/tmp/sbt-conf-XXXXXX";
  CHECK(write_tmp(path, "partitions = 3\nbrokers = file:9092\n") == 0);
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_conf_load_file(&c, path, SB_CO_FILE, &err), &err);
  unlink(path);
  setenv("SWITCHBOARD_PARTITIONS", "5", 1);
  setenv("SWITCHBOARD_HOME", "/tmp/sb-home", 1);
  CHECK_OK(sb_conf_load_env(&c, &err), &err);
  CHECK_INT(c.partitions, 5); /* environment beats file */
  CHECK_STR(c.data_dir, "/tmp/sb-home");
  CHECK_STR(c.brokers, "file:9092");
  CHECK_OK(sb_conf_set(&c, "partitions", "7", SB_CO_FLAG, "--partitions", &err),
           &err);
  CHECK_INT(c.partitions, 7); /* flags beat environment */
  CHECK_INT(sb_conf_origin(&c, "partitions"), SB_CO_FLAG);
  CHECK_INT(sb_conf_origin(&c, "data_dir"), SB_CO_ENV);
  setenv("SWITCHBOARD_PARTITIONS", "lots", 1);
  CHECK_INT(sb_conf_load_env(&c, &err), SB_ECONFIG);
  CHECK_HAS(err.msg, "environment variable SWITCHBOARD_PARTITIONS");
  unsetenv("SWITCHBOARD_PARTITIONS");
  unsetenv("SWITCHBOARD_HOME");
  sb_conf_free(&c);
  return 0;
}

int test_conf_kafka_passthrough(void) {
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  sb_conf_init(&c, NULL);
  CHECK_OK(sb_conf_set(&c, "kafka.compression.codec", "lz4", SB_CO_FLAG, NULL,
                       &err),
           &err);
  CHECK_OK(sb_conf_set(&c, "kafka.compression.codec", "zstd", SB_CO_FLAG, NULL,
                       &err),
           &err);
  CHECK_INT(c.kafka_n, 1); /* set twice, kept once, last wins */
  CHECK_STR(c.kafka_vals[0], "zstd");
  CHECK_INT(sb_conf_set(&c, "kafka.no.such.thing", "1", SB_CO_FLAG, NULL, &err),
            SB_ECONFIG);
  CHECK_HAS(err.msg, "'kafka.no.such.thing'");
  CHECK_HAS(err.msg, "No such configuration property");
  sb_err_clear(&err);
  CHECK_INT(sb_conf_set(&c, "kafka.compression.codec", "gzipp", SB_CO_FLAG,
                        NULL, &err),
            SB_ECONFIG);
  CHECK_HAS(err.msg, "kafka.compression.codec");
  sb_err_clear(&err);
  CHECK_INT(sb_conf_set(&c, "kafka.bootstrap.servers", "x:1", SB_CO_FLAG, NULL,
                        &err),
            SB_ECONFIG);
  CHECK_HAS(err.msg, "set 'brokers' instead");
  sb_conf_free(&c);
  return 0;
}

int test_conf_reference(void) {
  char path[] = "/tmp/sbt-ref-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w+");
  sb_conf_print_reference(f);
  fflush(f);
  rewind(f);
  static char text[1 << 17]; /* it grows with every processor's keys */
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  unlink(path);
  int processors = 0;
  for (size_t i = 0; i < sb_conf_count(); i++) {
    const sb_conf_prop_t *p = sb_conf_prop(i);
    char row[128];
    snprintf(row, sizeof row, "| `%s` |", p->name);
    CHECK_HAS(text, row);
    CHECK(p->desc != NULL && p->desc[0] != '\0');
    processors += sb_conf_is_processors(p);
  }
  CHECK(sb_conf_prop(sb_conf_count()) == NULL);
  /* the processors' own keys are rows of the same table */
  CHECK(processors >= 1);
  CHECK_HAS(text, "| `audit.checkpoint_interval_ms` |");
  CHECK_HAS(text, "SWITCHBOARD_HOME");
  return 0;
}

/* A processor's keys are rows of the one table: set by every layer,
 * checked like the engine's, refused when they clash or were added after
 * the configuration was read. */
int test_conf_processor_rows(void) {
  static const sb_conf_prop_t rows[] = {
      {"zz.window_ms", SB_CT_INT, 0, 10, 1000, "100", "SB_TEST_ZZ_WINDOW_MS",
       "MS", NULL, 0, "A test processor's window."},
      {"zz.mode", SB_CT_ENUM, 0, 0, 0, "fast", NULL, "MODE", "fast,exact", 0,
       "A test processor's mode."},
      {"zz.label", SB_CT_STR, 0, 0, 0, NULL, NULL, "TEXT", NULL, 0,
       "A test processor's label."},
      {0},
  };
  static const sb_conf_prop_t clash[] = {
      {"partitions", SB_CT_INT, 0, 1, 2, "1", NULL, "N", NULL, 0, "x"},
      {0},
  };
  static const sb_processor_vt_t vt = {
      .abi = SB_PROCESSOR_ABI, .name = "zz", .conf = rows};
  sb_err_t err = SB_ERR_INIT;
  sb_conf_t before, c;
  CHECK_OK(sb_conf_init(&before, &err), &err);
  size_t n0 = sb_conf_count();
  CHECK_OK(sb_conf_add_rows(rows, &err), &err);
  CHECK_OK(sb_conf_add_rows(rows, &err), &err); /* the same rows: once */
  CHECK_INT((int)sb_conf_count(), (int)n0 + 3);
  CHECK(sb_conf_add_rows(clash, &err) == SB_EINVAL);
  CHECK_HAS(err.msg, "'partitions' is declared twice");
  sb_err_clear(&err);
  /* read before the rows were added: the pipeline refuses to start it */
  CHECK(sb_processor_conf_check(&vt, &before, &err) == SB_EINVAL);
  CHECK_HAS(err.msg, "processor zz: its configuration key 'zz.window_ms'");
  sb_err_clear(&err);
  sb_conf_free(&before);

  setenv("SB_TEST_ZZ_WINDOW_MS", "250", 1);
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_processor_conf_check(&vt, &c, &err), &err);
  int v = 0;
  const char *s = "x";
  CHECK_OK(sb_conf_int(&c, "zz.window_ms", &v, &err), &err);
  CHECK_INT(v, 100);
  CHECK_OK(sb_conf_load_env(&c, &err), &err);
  CHECK_OK(sb_conf_int(&c, "zz.window_ms", &v, &err), &err);
  CHECK_INT(v, 250);
  CHECK_INT(sb_conf_origin(&c, "zz.window_ms"), SB_CO_ENV);
  CHECK(sb_conf_set(&c, "zz.window_ms", "5", SB_CO_FLAG, "--zz-window-ms",
                    &err) == SB_ECONFIG);
  CHECK_HAS(err.msg, "5 is out of range [10, 1000]");
  sb_err_clear(&err);
  CHECK(sb_conf_set(&c, "zz.mod", "exact", SB_CO_FILE, NULL, &err) ==
        SB_ECONFIG);
  CHECK_HAS(err.msg, "did you mean 'zz.mode'?");
  sb_err_clear(&err);
  CHECK_OK(sb_conf_set(&c, "zz.mode", "exact", SB_CO_FILE, NULL, &err), &err);
  CHECK_OK(sb_conf_int(&c, "zz.mode", &v, &err), &err);
  CHECK_INT(v, 1);
  CHECK_OK(sb_conf_str(&c, "zz.label", &s, &err), &err);
  CHECK(s == NULL);
  CHECK_OK(sb_conf_set(&c, "zz.label", "blue", SB_CO_FLAG, NULL, &err), &err);
  CHECK_OK(sb_conf_str(&c, "zz.label", &s, &err), &err);
  CHECK_STR(s, "blue");
  /* the wrong kind, or a key no table has, is an error naming it */
  CHECK(sb_conf_str(&c, "zz.window_ms", &s, &err) == SB_EINVAL);
  CHECK_HAS(err.msg, "'zz.window_ms' is not a string");
  sb_err_clear(&err);
  CHECK(sb_conf_int(&c, "zz.nope", &v, &err) == SB_EINVAL);
  sb_err_clear(&err);
  CHECK(sb_conf_find("zz-window-ms") == &rows[0]);
  sb_conf_free(&c); /* frees zz.label's value (ASan: no leak) */
  unsetenv("SB_TEST_ZZ_WINDOW_MS");
  return 0;
}

int test_migrations_compiled(void) {
  sb_err_t err = SB_ERR_INIT;
  CHECK(sb_migrations_n >= 1);
  CHECK_OK(sb_migrations_check(sb_migrations, sb_migrations_n, &err), &err);
  CHECK_INT(sb_migrations[0].version, 1);
  CHECK_STR(sb_migrations[0].name, "0001_foundation");
  CHECK_HAS(sb_migrations[0].sql, "sb.consumer_offsets");
  return 0;
}

int test_migrations_order_check(void) {
  sb_err_t err = SB_ERR_INIT;
  const sb_migration_t bad[] = {{2, "0002_b", "SELECT 1"},
                                {2, "0002_c", "SELECT 1"}};
  CHECK_INT(sb_migrations_check(bad, 2, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "0002_c");
  sb_err_clear(&err);
  const sb_migration_t zero[] = {{0, "0000_z", "SELECT 1"}};
  CHECK_INT(sb_migrations_check(zero, 1, &err), SB_EINVAL);
  return 0;
}

int test_text_builder(void) {
  sb_text_t t = {0};
  sb_text_int(&t, 0);
  sb_text_put(&t, " ", 1);
  sb_text_int(&t, -9223372036854775807LL - 1);
  sb_text_put(&t, " ", 1);
  sb_text_int(&t, 1234567);
  sb_text_put(&t, " ", 1);
  sb_text_json_str(&t, "a\"b\\c\nd\te\r\x01" "f\xc3\xa9");
  CHECK_STR(t.s, "0 -9223372036854775808 1234567 "
                 "\"a\\\"b\\\\c\\nd\\te\\r\\u0001f\xc3\xa9\"");
  /* what it writes is JSON that reads back as the string */
  sb_text_free(&t);
  sb_text_json_str(&t, "x\x1fy\"z");
  cJSON *j = cJSON_Parse(t.s);
  CHECK(cJSON_IsString(j));
  CHECK_STR(j->valuestring, "x\x1fy\"z");
  cJSON_Delete(j);
  sb_text_free(&t);
  sb_text_pg_elem(&t, "{");
  CHECK(!t.failed);
  sb_text_free(&t);
  return 0;
}
