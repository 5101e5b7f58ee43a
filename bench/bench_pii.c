/* bench_pii: what sealing PII costs on the ingest path, outside the HTTP
 * server, against a PostgreSQL server for the data keys.
 *
 *   bench_pii --data-dir DIR [--events N]   the private server of DIR
 *                                           (switchboard postgres start)
 *   bench_pii --url URL [--events N]        any migrated database
 *
 * Stages:
 *   primitives  µs per envelope sealed and opened (a 20-byte value), per
 *               match HMAC (phone)
 *   encode      events/s of sb_codec_from_ce alone for lead.created with a
 *               name, an e-mail and a phone (the work ingest did before)
 *   seal new    events/s of sb_pii_seal_events then the codec, 1,000
 *               events a batch, every event a new subject: a data key made,
 *               wrapped and stored per event (one round trip a batch)
 *   seal warm   the same subjects again: every key from the cache */
#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_keys.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pgserver.h"
#include "sb_pii.h"
#include "sb_pii_event.h"
#include "sb_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, const sb_err_t *err) {
  fprintf(stderr, "bench_pii: %s: %s\n", what, err->msg);
  return 1;
}

static cJSON *event(const char *run, long i) {
  char text[1024];
  snprintf(text, sizeof text,
           "{\"specversion\":\"1.0\",\"type\":\"lead.created\",\"source\":"
           "\"crm://bench\",\"subject\":\"lead-%s-%ld\",\"time\":"
           "\"2026-12-01T10:00:00Z\",\"tenantid\":\"bench\",\"id\":"
           "\"01JDQ7ZV3K8YQ2W5N6P7R8S9T0\",\"data\":{\"lead_source\":"
           "\"web_form\",\"first_name\":\"Ada\",\"email\":\"lead-%ld@example."
           "com\",\"phone\":\"+1415555%04ld\"}}",
           run, i, i, i % 10000);
  return cJSON_Parse(text);
}

/* n events through sealing (when keys) and the codec, BATCH at a time:
 * events/s. */
static double run(sb_codec_t *codec, sb_keys_t *keys, const sb_schemas_t *s,
                  const char *tag, long n, sb_err_t *err) {
  cJSON *evs[BATCH];
  char *why[BATCH];
  double spent = 0;
  for (long at = 0; at < n; at += BATCH) {
    int m = (int)(n - at < BATCH ? n - at : BATCH);
    for (int i = 0; i < m; i++)
      evs[i] = event(tag, at + i);
    double t0 = now_s();
    if (keys && sb_pii_seal_events(keys, s, evs, (size_t)m, why, err) != 0)
      return -1;
    for (int i = 0; i < m; i++) {
      sb_record_t r;
      if (keys && why[i] != NULL) {
        sb_err_set(err, SB_EVALIDATE, "%s", why[i]);
        return -1;
      }
      if (sb_codec_from_ce(codec, evs[i], 0, &r, err) != 0)
        return -1;
      sb_record_clear(&r);
    }
    spent += now_s() - t0;
    for (int i = 0; i < m; i++)
      cJSON_Delete(evs[i]);
  }
  return (double)n / spent;
}

int main(int argc, char **argv) {
  const char *url = NULL, *dir = NULL;
  long n = 50000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--url") == 0)
      url = argv[i + 1];
    else if (strcmp(argv[i], "--data-dir") == 0)
      dir = argv[i + 1];
    else if (strcmp(argv[i], "--events") == 0)
      n = strtol(argv[i + 1], NULL, 10);
  }
  if ((url == NULL) == (dir == NULL) || n <= 0) {
    fprintf(stderr, "usage: bench_pii (--url URL | --data-dir DIR) "
                    "[--events N]\n");
    return 2;
  }
  sb_err_t err = SB_ERR_INIT;
  char owner[512], kdir[] = "/tmp/bench_pii_XXXXXX";
  sb_conf_t c;
  sb_conf_init(&c, NULL);
  if (dir != NULL) {
    sb_conf_set(&c, "data_dir", dir, SB_CO_FLAG, NULL, NULL);
    if (sb_pgserver_owner_url(&c, owner, sizeof owner, &err) != 0)
      return fail("the private server", &err);
    url = owner;
  }
  sb_pg_t *pg = NULL;
  if (sb_pg_connect(url, &pg, &err) != 0 ||
      sb_migrate(pg, sb_migrations, sb_migrations_n, NULL, &err) != 0)
    return fail("migrate", &err);
  /* a key file of its own, removed at the end */
  if (mkdtemp(kdir) == NULL)
    return 1;
  char kfile[64];
  snprintf(kfile, sizeof kfile, "%s/tenant.keys", kdir);
  sb_conf_set(&c, "pii.key_file", kfile, SB_CO_FLAG, NULL, NULL);
  sb_conf_set(&c, "database_url", url, SB_CO_FLAG, NULL, NULL);
  sb_schemas_t *s = NULL;
  sb_codec_t *codec = NULL;
  sb_keys_t *keys = NULL;
  if (sb_schemas_load(&s, &err) != 0 || sb_codec_new(s, &codec, &err) != 0 ||
      sb_keys_open(&c, &keys, &err) != 0)
    return fail("set-up", &err);

  /* primitives */
  unsigned char key[SB_PII_KEY_LEN] = {1, 2, 3};
  char env[256], out[256], h[65];
  const int reps = 200000;
  double t0 = now_s();
  for (int i = 0; i < reps; i++)
    sb_pii_seal(key, "0123456789abcdef-1", "bench", "lead.created", "email",
                "ada.lovelace@example.com", 24, env, sizeof env, &err);
  double seal_us = (now_s() - t0) * 1e6 / reps;
  t0 = now_s();
  for (int i = 0; i < reps; i++)
    sb_pii_open(key, env, "bench", "lead.created", "email", out, sizeof out,
                NULL, &err);
  double open_us = (now_s() - t0) * 1e6 / reps;
  t0 = now_s();
  for (int i = 0; i < reps; i++)
    sb_pii_match_hmac(key, SB_PII_MATCH_PHONE, "+1 415 555 0123", h, &err);
  double hmac_us = (now_s() - t0) * 1e6 / reps;
  printf("primitives: seal %.2f us, open %.2f us, match HMAC %.2f us\n",
         seal_us, open_us, hmac_us);

  char tag[32];
  snprintf(tag, sizeof tag, "%d", (int)getpid());
  double enc = run(codec, NULL, s, tag, n, &err);
  double t_new = now_s();
  double fresh = enc < 0 ? -1 : run(codec, keys, s, tag, n, &err);
  t_new = now_s() - t_new;
  sb_keys_stats_t st;
  sb_keys_stats(keys, &st);
  double warm = fresh < 0 ? -1 : run(codec, keys, s, tag, n, &err);
  if (warm < 0)
    return fail("run", &err);
  printf("encode only (codec)     %8.0f events/s\n", enc);
  printf("seal new + encode       %8.0f events/s (a new data key per event; "
         "%llu round trips, %.1f ms each on average)\n",
         fresh, st.round_trips, t_new * 1000 / (double)(st.round_trips ? st.round_trips : 1));
  printf("seal warm + encode      %8.0f events/s (every key cached)\n", warm);
  printf("per event: %.1f us new, %.1f us warm, against %.1f us encoding\n",
         1e6 / fresh - 1e6 / enc, 1e6 / warm - 1e6 / enc, 1e6 / enc);
  sb_keys_free(keys);
  sb_codec_free(codec);
  sb_schemas_free(s);
  snprintf(out, sizeof out, "DELETE FROM sb.data_keys WHERE tenant_id = "
                            "'bench'; DELETE FROM sb.kek_versions WHERE "
                            "tenant_id = 'bench'");
  sb_pg_exec(pg, out, 0, NULL, NULL);
  sb_pg_close(pg);
  unlink(kfile);
  snprintf(out, sizeof out, "%s.lock", kfile);
  unlink(out);
  rmdir(kdir);
  sb_conf_free(&c);
  return 0;
}
