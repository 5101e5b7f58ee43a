/* PII: the envelope, match HMACs, masking, card numbers (unit); the key
 * file, the data-key cache's bound, sealing and revealing events, erasure
 * and rotation against the fixture's PostgreSQL (pg). */
#define _GNU_SOURCE
#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_keys.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pii.h"
#include "sb_pii_event.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char K1[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char K2[32] = "fedcba9876543210fedcba9876543210";

int test_pii_envelope(void) {
  sb_err_t err = SB_ERR_INIT;
  char env[512], out[256];
  size_t n = 0;
  const char *plain = "+14155550123";
  CHECK_OK(sb_pii_seal(K1, "0123456789abcdef-1", "acme", "lead.created",
                       "phone", plain, strlen(plain), env, sizeof env, &err),
           &err);
  CHECK(strncmp(env, "sbx1.0123456789abcdef-1.", 24) == 0);
  CHECK(strstr(env, "4155550123") == NULL);
  CHECK_INT(strlen(env), sb_pii_sealed_len(18, strlen(plain)));
  CHECK(sb_pii_is_sealed(env));
  CHECK(!sb_pii_is_sealed(plain));
  /* base64url, no padding: only the alphabet after the key id */
  for (const char *p = env + 24; *p; p++)
    CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789-_", *p) != NULL);
  char kid[SB_PII_KEYID_MAX + 1];
  CHECK_OK(sb_pii_key_id(env, kid, &err), &err);
  CHECK_STR(kid, "0123456789abcdef-1");
  CHECK_OK(sb_pii_open(K1, env, "acme", "lead.created", "phone", out,
                       sizeof out, &n, &err),
           &err);
  CHECK_STR(out, plain);
  CHECK_INT(n, strlen(plain));
  /* two seals of one value differ (random nonce) */
  char env2[512];
  CHECK_OK(sb_pii_seal(K1, "0123456789abcdef-1", "acme", "lead.created",
                       "phone", plain, strlen(plain), env2, sizeof env2, &err),
           &err);
  CHECK(strcmp(env, env2) != 0);
  /* another key, tenant, type or field: the tag fails, with a clear error */
  const char *aad[4][3] = {{"acme", "lead.created", "phone"},
                           {"other", "lead.created", "phone"},
                           {"acme", "lead.updated", "phone"},
                           {"acme", "lead.created", "email"}};
  for (int i = 0; i < 4; i++) {
    sb_err_t e2 = SB_ERR_INIT;
    CHECK_INT(sb_pii_open(i == 0 ? K2 : K1, env, aad[i][0], aad[i][1],
                          aad[i][2], out, sizeof out, NULL, &e2),
              SB_ECRYPTO);
    CHECK_HAS(e2.msg, "authentication failed (GCM tag)");
    CHECK_STR(out, ""); /* wiped */
  }
  /* a flipped character of the ciphertext: the tag fails */
  char bad[512];
  snprintf(bad, sizeof bad, "%s", env);
  size_t at = strlen(bad) - 10;
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  sb_err_t e3 = SB_ERR_INIT;
  CHECK_INT(sb_pii_open(K1, bad, "acme", "lead.created", "phone", out,
                        sizeof out, NULL, &e3),
            SB_ECRYPTO);
  CHECK_HAS(e3.msg, "phone (key 0123456789abcdef-1): authentication failed");
  /* not envelopes */
  const char *nots[] = {"sbx1.", "sbx1.erased", "sbx1.abc", "sbx2.x.AAAA",
                        "sbx1.k.!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"};
  for (size_t i = 0; i < SB_ARRAY_LEN(nots); i++) {
    sb_err_t e4 = SB_ERR_INIT;
    CHECK_INT(sb_pii_open(K1, nots[i], "acme", "t", "f", out, sizeof out,
                          NULL, &e4),
              SB_EDECODE);
  }
  /* the bound the codec applies covers any plaintext within maxLength */
  char big[4 * 32 + 1];
  memset(big, 0, sizeof big);
  for (int i = 0; i < 32; i++)
    memcpy(big + 4 * i, "\xf0\x9f\x98\x80", 4); /* 32 code points, 128 bytes */
  char env3[512];
  CHECK_OK(sb_pii_seal(K1, "ffffffffffffffff-2147483647", "a", "t", "f", big,
                       strlen(big), env3, sizeof env3, &err),
           &err);
  CHECK((long)strlen(env3) <= sb_pii_sealed_max(32));
  /* base64url round trips of every length */
  unsigned char raw[40], back[40];
  char b64[80];
  for (size_t len = 0; len < sizeof raw; len++) {
    for (size_t i = 0; i < len; i++)
      raw[i] = (unsigned char)(i * 37 + len);
    CHECK(sb_b64url_encode(raw, len, b64, sizeof b64) >= 0);
    CHECK_INT(sb_b64url_decode(b64, strlen(b64), back, sizeof back), len);
    CHECK(memcmp(raw, back, len) == 0);
  }
  return 0;
}

int test_pii_match_norm(void) {
  sb_err_t err = SB_ERR_INIT;
  char out[400];
  const char *phones[][2] = {{"+14155550123", "+14155550123"},
                             {"+1 (415) 555-0123", "+14155550123"},
                             {"0044 20 7946 0958", "+442079460958"},
                             {" +33.1.23.45.67.89", "+33123456789"}};
  for (size_t i = 0; i < SB_ARRAY_LEN(phones); i++) {
    CHECK_OK(sb_pii_norm_phone(phones[i][0], out, sizeof out, &err), &err);
    CHECK_STR(out, phones[i][1]);
  }
  const char *bad_phones[] = {"4155550123", "+0123456789", "+123",
                              "+1234567890123456", "+1 415 CALL NOW", ""};
  for (size_t i = 0; i < SB_ARRAY_LEN(bad_phones); i++) {
    sb_err_t e = SB_ERR_INIT;
    CHECK_INT(sb_pii_norm_phone(bad_phones[i], out, sizeof out, &e),
              SB_EVALIDATE);
    CHECK_HAS(e.msg, "E.164");
  }
  CHECK_OK(sb_pii_norm_email("  Ada.Lovelace@Example.COM ", out, sizeof out,
                             &err),
           &err);
  CHECK_STR(out, "ada.lovelace@example.com");
  const char *bad_mail[] = {"ada", "@example.com", "ada@", "a@b@c",
                            "ada lovelace@example.com"};
  for (size_t i = 0; i < SB_ARRAY_LEN(bad_mail); i++) {
    sb_err_t e = SB_ERR_INIT;
    CHECK_INT(sb_pii_norm_email(bad_mail[i], out, sizeof out, &e),
              SB_EVALIDATE);
  }
  /* the kind an address takes by its channel (sb.matchBy) */
  CHECK_INT(sb_pii_match_for_channel("sms"), SB_PII_MATCH_PHONE);
  CHECK_INT(sb_pii_match_for_channel("whatsapp"), SB_PII_MATCH_PHONE);
  CHECK_INT(sb_pii_match_for_channel("email"), SB_PII_MATCH_EMAIL);
  CHECK_INT(sb_pii_match_for_channel("slack"), SB_PII_MATCH_SLACK);
  CHECK_INT(sb_pii_match_for_channel("push"), SB_PII_MATCH_PUSH);
  CHECK_INT(sb_pii_match_for_channel("fax"), SB_PII_MATCH_ADDRESS);
  CHECK_INT(sb_pii_match_for_channel(NULL), SB_PII_MATCH_ADDRESS);
  {
    char hs[65], hs2[65];
    const char *slack_ok[] = {"C0123ABCDE", " #sales-team ", "#a",
                              "https://hooks.slack.com/services/T0/B0/xyz",
                              "U01234567890123456789"};
    for (size_t i = 0; i < SB_ARRAY_LEN(slack_ok); i++)
      CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_SLACK, slack_ok[i], hs, &err),
               &err);
    CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_SLACK, "#sales-team", hs2,
                               &err),
             &err);
    CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_SLACK, " #sales-team ", hs,
                               &err),
             &err);
    CHECK_STR(hs, hs2); /* trimmed */
    const char *slack_bad[] = {"+14155550123", "ada@example.com", "c0123abcde",
                               "C0123", "#Sales", "#", "https://",
                               "https://hooks.slack.com/a b", "X0123ABCDE",
                               "U012345678901234567890"};
    for (size_t i = 0; i < SB_ARRAY_LEN(slack_bad); i++) {
      sb_err_t e = SB_ERR_INIT;
      CHECK_INT(sb_pii_match_hmac(K1, SB_PII_MATCH_SLACK, slack_bad[i], hs, &e),
                SB_EVALIDATE);
      CHECK_HAS(e.msg, "is not a Slack channel");
    }
    char tok[330];
    memset(tok, 'a', 320);
    tok[320] = '\0';
    CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_PUSH, tok, hs, &err), &err);
    CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_PUSH,
                               "dQw4w9WgXcQ:APA91bH-x_y.z0123456789", hs, &err),
             &err);
    tok[320] = 'a';
    tok[321] = '\0';
    const char *push_bad[] = {tok, "short:token", "+14155550123",
                              "dQw4w9WgXcQ APA91bH-x_y.z0123456789",
                              "dQw4w9WgXcQ/APA91bH-x_y.z0123456789"};
    for (size_t i = 0; i < SB_ARRAY_LEN(push_bad); i++) {
      sb_err_t e = SB_ERR_INIT;
      CHECK_INT(sb_pii_match_hmac(K1, SB_PII_MATCH_PUSH, push_bad[i], hs, &e),
                SB_EVALIDATE);
      CHECK_HAS(e.msg, "is not a push device token");
    }
  }
  /* one HMAC whatever the spelling; another key, another HMAC */
  char h1[65], h2[65], h3[65], h4[65];
  CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_PHONE, "+1 (415) 555-0123", h1,
                             &err),
           &err);
  CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_ADDRESS, "+14155550123", h2,
                             &err),
           &err);
  CHECK_OK(sb_pii_match_hmac(K2, SB_PII_MATCH_PHONE, "+14155550123", h3, &err),
           &err);
  CHECK_STR(h1, h2);
  CHECK(strcmp(h1, h3) != 0);
  CHECK_INT(strlen(h1), 64);
  for (int i = 0; i < 64; i++)
    CHECK(strchr("0123456789abcdef", h1[i]) != NULL);
  CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_EMAIL, "ADA@example.com ", h3,
                             &err),
           &err);
  CHECK_OK(sb_pii_match_hmac(K1, SB_PII_MATCH_ADDRESS, "ada@EXAMPLE.com", h4,
                             &err),
           &err);
  CHECK_STR(h3, h4);
  /* our HMAC-SHA256 is OpenSSL's */
  const char *msgs[] = {"", "+14155550123", "a much longer message than one "
                        "SHA-256 block of sixty-four bytes, to be sure"};
  for (size_t i = 0; i < SB_ARRAY_LEN(msgs); i++) {
    unsigned char a[32], b[EVP_MAX_MD_SIZE];
    unsigned int bl = 0;
    CHECK(sb_pii_hmac_sha256(K1, msgs[i], strlen(msgs[i]), a) == 0);
    CHECK(HMAC(EVP_sha256(), K1, 32, (const unsigned char *)msgs[i],
               strlen(msgs[i]), b, &bl) != NULL);
    CHECK_INT(bl, 32);
    CHECK(memcmp(a, b, 32) == 0);
  }
  /* masks */
  sb_pii_mask(SB_PII_MATCH_PHONE, "+14155554567", out, sizeof out);
  CHECK_STR(out, "+1******4567");
  sb_pii_mask(SB_PII_MATCH_EMAIL, "ada@example.com", out, sizeof out);
  CHECK_STR(out, "a***@example.com");
  sb_pii_mask(SB_PII_MATCH_NONE, "Ada", out, sizeof out);
  CHECK_STR(out, "***");
  sb_pii_mask(SB_PII_MATCH_ADDRESS, "ada@example.com", out, sizeof out);
  CHECK_STR(out, "a***@example.com");
  /* card numbers: 13 to 19 digits passing Luhn, spaces or dashes between */
  CHECK(sb_pii_has_card_number("4111111111111111"));
  CHECK(sb_pii_has_card_number("card 4111 1111 1111 1111 exp 12/29"));
  CHECK(sb_pii_has_card_number("5500-0000-0000-0004"));
  CHECK(!sb_pii_has_card_number("4111111111111112")); /* Luhn fails */
  CHECK(!sb_pii_has_card_number("+14155550123"));
  CHECK(!sb_pii_has_card_number("411111111111")); /* 12 digits */
  CHECK(!sb_pii_has_card_number("lead-42"));
  return 0;
}

/* A configuration over a fresh data directory. */
static int conf_in(sb_conf_t *c, char *dir, size_t dirsz, const char *url) {
  sb_err_t err = SB_ERR_INIT;
  snprintf(dir, dirsz, "/tmp/sbt_pii_XXXXXX");
  if (mkdtemp(dir) == NULL || sb_conf_init(c, &err) != 0 ||
      sb_conf_set(c, "data_dir", dir, SB_CO_FLAG, NULL, &err) != 0 ||
      (url && sb_conf_set(c, "database_url", url, SB_CO_FLAG, NULL, &err) != 0))
    return -1;
  return 0;
}

static void rm_dir(const char *dir) {
  char p[512];
  const char *names[] = {"tenant.keys", "tenant.keys.lock"};
  for (size_t i = 0; i < SB_ARRAY_LEN(names); i++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

int test_pii_key_file(void) {
  sb_conf_t c;
  char dir[64], path[128];
  sb_err_t err = SB_ERR_INIT;
  CHECK(conf_in(&c, dir, sizeof dir, NULL) == 0);
  snprintf(path, sizeof path, "%s/tenant.keys", dir);
  /* made 0600 when missing */
  CHECK_OK(sb_keys_file_ensure(&c, &err), &err);
  struct stat st;
  CHECK(stat(path, &st) == 0);
  CHECK_INT(st.st_mode & 0777, 0600);
  /* a tenant's first use appends its keys; the HMAC key is stable */
  sb_keys_t *k = NULL;
  unsigned char m1[32], m2[32], m3[32];
  CHECK_OK(sb_keys_open(&c, &k, &err), &err);
  CHECK_OK(sb_keys_match_key(k, "acme", m1, &err), &err);
  sb_keys_free(k);
  CHECK_OK(sb_keys_open(&c, &k, &err), &err);
  CHECK_OK(sb_keys_match_key(k, "acme", m2, &err), &err);
  CHECK_OK(sb_keys_match_key(k, "other", m3, &err), &err);
  CHECK(memcmp(m1, m2, 32) == 0);
  CHECK(memcmp(m1, m3, 32) != 0);
  char h1[17], h2[17];
  CHECK_OK(sb_keys_subject_hash(k, "acme", "lead-42", h1, &err), &err);
  CHECK_OK(sb_keys_subject_hash(k, "other", "lead-42", h2, &err), &err);
  CHECK_INT(strlen(h1), 16);
  CHECK(strcmp(h1, h2) != 0);
  sb_keys_free(k);
  char *text = NULL;
  CHECK_OK(sb_read_file(path, 1 << 20, &text, NULL, &err), &err);
  CHECK_HAS(text, "kek acme 1 ");
  CHECK_HAS(text, "hmac other ");
  free(text);
  /* readable by others: refused, naming the file and the mode */
  CHECK(chmod(path, 0644) == 0);
  sb_err_t e2 = SB_ERR_INIT;
  CHECK_INT(sb_keys_open(&c, &k, &e2), SB_EPERM);
  CHECK(k == NULL);
  CHECK_HAS(e2.msg, "is mode 0644");
  CHECK_HAS(e2.msg, "tenant.keys");
  sb_err_t e3 = SB_ERR_INIT;
  CHECK_INT(sb_keys_file_ensure(&c, &e3), SB_EPERM);
  /* a damaged line: refused, naming the line, without the key */
  CHECK(chmod(path, 0600) == 0);
  CHECK_OK(sb_write_file(path, "kek acme 1 c2VjcmV0\n", 20, 0600, &err), &err);
  sb_err_t e4 = SB_ERR_INIT;
  CHECK_INT(sb_keys_open(&c, &k, &e4), SB_ECONFIG);
  CHECK_HAS(e4.msg, "line 1");
  CHECK(strstr(e4.msg, "c2VjcmV0") == NULL);
  /* pii.key_command instead of the file */
  sb_conf_t c2;
  char dir2[64];
  CHECK(conf_in(&c2, dir2, sizeof dir2, NULL) == 0);
  CHECK_OK(sb_conf_set(&c2, "pii.key_command",
                       "echo \"kek $1 3 "
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"; echo "
                       "\"hmac $1 BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA\"",
                       SB_CO_FLAG, NULL, &err),
           &err);
  CHECK_OK(sb_keys_open(&c2, &k, &err), &err);
  CHECK_OK(sb_keys_match_key(k, "acme", m1, &err), &err);
  sb_keys_status_t ks;
  sb_err_t e5 = SB_ERR_INIT;
  int v = 0;
  CHECK_INT(sb_keys_rotate(k, "acme", &v, NULL, &e5), SB_EUSAGE);
  CHECK_HAS(e5.msg, "pii.key_command");
  sb_keys_free(k);
  (void)ks;
  sb_conf_free(&c2);
  rmdir(dir2);
  sb_conf_free(&c);
  rm_dir(dir);
  return 0;
}

/* A migrated database and a key store over it. */
typedef struct {
  char url[512], db[64], dir[64];
  sb_conf_t c;
  sb_pg_t *pg;
} fx_t;

static int fx_open(fx_t *f) {
  sb_err_t err = SB_ERR_INIT;
  if (sbt_pg_create_db(f->url, sizeof f->url, f->db, sizeof f->db) != 0 ||
      sb_pg_connect(f->url, &f->pg, &err) != 0 ||
      sb_migrate(f->pg, sb_migrations, sb_migrations_n, NULL, &err) != 0 ||
      conf_in(&f->c, f->dir, sizeof f->dir, f->url) != 0) {
    fprintf(stderr, "fixture: %s\n", err.msg);
    return -1;
  }
  return 0;
}

static void fx_close(fx_t *f) {
  sb_pg_close(f->pg);
  sbt_pg_drop_db(f->db);
  sb_conf_free(&f->c);
  rm_dir(f->dir);
}

static long count(sb_pg_t *pg, const char *sql) {
  char v[32];
  int found = 0;
  if (sb_pg_query1(pg, sql, 0, NULL, v, sizeof v, &found, NULL, NULL) != 0 ||
      !found)
    return -1;
  return strtol(v, NULL, 10);
}

int test_pii_data_keys(void) {
  fx_t f;
  sb_err_t err = SB_ERR_INIT;
  CHECK(fx_open(&f) == 0);
  sb_keys_t *k = NULL, *k2 = NULL;
  CHECK_OK(sb_keys_open(&f.c, &k, &err), &err);
  CHECK_OK(sb_keys_open(&f.c, &k2, &err), &err);
  /* a batch: three subjects, one twice: one round trip, three keys */
  sb_keys_seal_t r[4] = {{.tenant = "acme", .subject = "lead-1"},
                         {.tenant = "acme", .subject = "lead-2"},
                         {.tenant = "acme", .subject = "lead-1"},
                         {.tenant = "beta", .subject = "lead-1"}};
  CHECK_OK(sb_keys_for_seal(k, r, 4, &err), &err);
  sb_keys_stats_t st;
  sb_keys_stats(k, &st);
  CHECK_INT(st.round_trips, 1);
  CHECK_INT(count(f.pg, "SELECT count(*) FROM sb.data_keys"), 3);
  CHECK_STR(r[0].key_id, r[2].key_id);
  CHECK(memcmp(r[0].dek, r[2].dek, 32) == 0);
  CHECK(strcmp(r[0].key_id, r[1].key_id) != 0);
  CHECK(strcmp(r[0].key_id, r[3].key_id) != 0);
  CHECK(strstr(r[0].key_id, "-1") != NULL);
  /* no subject id in the table */
  CHECK_INT(count(f.pg, "SELECT count(*) FROM sb.data_keys WHERE subject_hash "
                        "LIKE '%lead%'"),
            0);
  /* cached: no round trip the second time */
  CHECK_OK(sb_keys_for_seal(k, r, 2, &err), &err);
  sb_keys_stats(k, &st);
  CHECK_INT(st.round_trips, 1);
  /* another process gets the same key for the subject (ON CONFLICT) */
  sb_keys_seal_t o = {.tenant = "acme", .subject = "lead-1"};
  CHECK_OK(sb_keys_for_seal(k2, &o, 1, &err), &err);
  CHECK_STR(o.key_id, r[0].key_id);
  CHECK(memcmp(o.dek, r[0].dek, 32) == 0);
  unsigned char dek[32];
  CHECK_INT(sb_keys_for_open(k2, "acme", r[1].key_id, dek, &err), 0);
  CHECK(memcmp(dek, r[1].dek, 32) == 0);
  /* erasure: the keys of the subject are gone, for good */
  long erased = 0;
  CHECK_OK(sb_keys_erase(k, "acme", "lead-1", &erased, &err), &err);
  CHECK_INT(erased, 1);
  CHECK_INT(count(f.pg, "SELECT count(*) FROM sb.data_keys WHERE erased_at IS "
                        "NOT NULL AND wrapped IS NULL"),
            1);
  CHECK_INT(sb_keys_for_open(k, "acme", r[0].key_id, dek, &err), 1);
  /* a new event of the subject: a new generation, never the old key */
  sb_keys_seal_t n1 = {.tenant = "acme", .subject = "lead-1"};
  CHECK_OK(sb_keys_for_seal(k, &n1, 1, &err), &err);
  CHECK(strcmp(n1.key_id, r[0].key_id) != 0);
  CHECK(strstr(n1.key_id, "-2") != NULL);
  CHECK(memcmp(n1.dek, r[0].dek, 32) != 0);
  CHECK_INT(sb_keys_for_open(k, "acme", r[0].key_id, dek, &err), 1);
  /* an unknown key id */
  sb_err_t e2 = SB_ERR_INIT;
  CHECK_INT(sb_keys_for_open(k, "acme", "00000000000000aa-1", dek, &e2),
            SB_ENOENT);
  /* rotation: every key re-wrapped under version 2, old version retired
   * from the file, the keys unchanged */
  int v = 0;
  long rew = 0;
  CHECK_OK(sb_keys_rotate(k, "acme", &v, &rew, &err), &err);
  CHECK_INT(v, 2);
  CHECK_INT(rew, 2); /* lead-2 and lead-1 gen 2 */
  CHECK_INT(count(f.pg, "SELECT count(*) FROM sb.data_keys WHERE tenant_id = "
                        "'acme' AND wrapped IS NOT NULL AND kek_version <> 2"),
            0);
  char path[128], *text = NULL;
  snprintf(path, sizeof path, "%s/tenant.keys", f.dir);
  CHECK_OK(sb_read_file(path, 1 << 20, &text, NULL, &err), &err);
  CHECK(strstr(text, "kek acme 1 ") == NULL);
  CHECK_HAS(text, "kek acme 2 ");
  CHECK_HAS(text, "kek beta 1 ");
  free(text);
  sb_keys_t *k3 = NULL; /* a process that starts now: cache empty */
  CHECK_OK(sb_keys_open(&f.c, &k3, &err), &err);
  CHECK_INT(sb_keys_for_open(k3, "acme", r[1].key_id, dek, &err), 0);
  CHECK(memcmp(dek, r[1].dek, 32) == 0);
  /* k2 still holds version 1 in memory: its new keys are refused (SBK01)
   * and made again under version 2 */
  sb_keys_seal_t n2 = {.tenant = "acme", .subject = "lead-3"};
  CHECK_OK(sb_keys_for_seal(k2, &n2, 1, &err), &err);
  CHECK_INT(count(f.pg, "SELECT count(*) FROM sb.data_keys WHERE tenant_id = "
                        "'acme' AND wrapped IS NOT NULL AND kek_version <> 2"),
            0);
  CHECK_INT(sb_keys_for_open(k3, "acme", n2.key_id, dek, &err), 0);
  CHECK(memcmp(dek, n2.dek, 32) == 0);
  sb_keys_status_t ks;
  CHECK_OK(sb_keys_status(k3, "acme", &ks, &err), &err);
  CHECK_INT(ks.nkek, 1);
  CHECK_INT(ks.kek_versions[0], 2);
  CHECK_INT(ks.live, 3);
  CHECK_INT(ks.erased, 1);
  CHECK_INT(ks.stale, 0);
  /* many tenants made in one batch (their keys move in memory meanwhile) */
  enum { NT = 40 };
  sb_keys_seal_t mt[NT];
  char tn[NT][16];
  for (int i = 0; i < NT; i++) {
    snprintf(tn[i], sizeof tn[i], "t-%d", i);
    mt[i] = (sb_keys_seal_t){.tenant = tn[i], .subject = "s"};
  }
  CHECK_OK(sb_keys_for_seal(k3, mt, NT, &err), &err);
  CHECK_INT(count(f.pg, "SELECT count(DISTINCT tenant_id) FROM sb.data_keys "
                        "WHERE tenant_id LIKE 't-%' AND kek_version = 1"),
            NT);
  for (int i = 0; i < NT; i++) {
    CHECK_INT(sb_keys_for_open(k, tn[i], mt[i].key_id, dek, &err), 0);
    CHECK(memcmp(dek, mt[i].dek, 32) == 0);
  }
  sb_keys_free(k);
  sb_keys_free(k2);
  sb_keys_free(k3);
  fx_close(&f);
  return 0;
}

int test_pii_cache_bound(void) {
  fx_t f;
  sb_err_t err = SB_ERR_INIT;
  CHECK(fx_open(&f) == 0);
  CHECK_OK(sb_conf_set(&f.c, "pii.dek_cache_bytes", "8192", SB_CO_FLAG, NULL,
                       &err),
           &err);
  sb_keys_t *k = NULL;
  CHECK_OK(sb_keys_open(&f.c, &k, &err), &err);
  enum { N = 200 };
  sb_keys_seal_t r[N];
  char subj[N][32];
  for (int i = 0; i < N; i++) {
    snprintf(subj[i], sizeof subj[i], "lead-%d", i);
    r[i] = (sb_keys_seal_t){.tenant = "acme", .subject = subj[i]};
  }
  CHECK_OK(sb_keys_for_seal(k, r, N, &err), &err);
  sb_keys_stats_t st;
  sb_keys_stats(k, &st);
  CHECK(st.cache_bytes <= 8192);
  CHECK(st.evictions > 0);
  CHECK(st.cache_entries < 2 * N);
  CHECK_INT(st.round_trips, 1);
  /* the newest are cached, the oldest were evicted and come back from
   * PostgreSQL, the same keys */
  sb_keys_seal_t again[2] = {r[N - 1], r[0]};
  CHECK_OK(sb_keys_for_seal(k, &again[0], 1, &err), &err);
  sb_keys_stats(k, &st);
  CHECK_INT(st.round_trips, 1);
  CHECK_OK(sb_keys_for_seal(k, &again[1], 1, &err), &err);
  sb_keys_stats(k, &st);
  CHECK_INT(st.round_trips, 2);
  CHECK_STR(again[1].key_id, r[0].key_id);
  CHECK(memcmp(again[1].dek, r[0].dek, 32) == 0);
  CHECK(st.cache_bytes <= 8192);
  sb_keys_free(k);
  fx_close(&f);
  return 0;
}

static cJSON *ev(const char *json) { return cJSON_Parse(json); }

/* 1 when no string of o (at any depth) holds one of plains in clear: an
 * envelope (sbx1.) or an HMAC (*_hmac, hex) is not in clear, and may hold
 * any short run of characters by chance. */
static int no_plain_left(const cJSON *o, const char *const *plains, size_t n) {
  const cJSON *f;
  cJSON_ArrayForEach(f, o) {
    size_t kl = f->string ? strlen(f->string) : 0;
    if (cJSON_IsObject(f) || cJSON_IsArray(f)) {
      if (!no_plain_left(f, plains, n))
        return 0;
      continue;
    }
    if (!cJSON_IsString(f) || strncmp(f->valuestring, "sbx1.", 5) == 0 ||
        (kl > 5 && strcmp(f->string + kl - 5, "_hmac") == 0))
      continue;
    for (size_t i = 0; i < n; i++)
      if (strstr(f->valuestring, plains[i]) != NULL) {
        fprintf(stderr, "%s holds %s in clear\n", f->string ? f->string : "?",
                plains[i]);
        return 0;
      }
  }
  return 1;
}

int test_pii_seal_events(void) {
  fx_t f;
  sb_err_t err = SB_ERR_INIT;
  CHECK(fx_open(&f) == 0);
  sb_schemas_t *s = NULL;
  sb_codec_t *codec = NULL;
  sb_keys_t *k = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &codec, &err), &err);
  CHECK_OK(sb_keys_open(&f.c, &k, &err), &err);
#define CE(type, subj, data)                                                  \
  "{\"specversion\":\"1.0\",\"type\":\"" type "\",\"source\":\"t://x\","     \
  "\"subject\":\"" subj "\",\"time\":\"2026-11-24T18:00:00Z\","              \
  "\"tenantid\":\"acme\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T0\",\"data\":"    \
  data "}"
  cJSON *evs[9] = {
      ev(CE("lead.created", "lead-42",
            "{\"lead_source\":\"web_form\",\"email\":\"Ada@Example.com\","
            "\"phone\":\"+1 415 555 4567\",\"first_name\":\"Ada\","
            "\"address\":{\"city\":\"London\",\"country\":\"GB\"},"
            "\"national_id\":\"123-45-6789\",\"card_last4\":\"4242\"}")),
      ev(CE("lead.created", "lead-43", "{\"phone\":\"4155550123\"}")),
      ev(CE("lead.created", "lead-44",
            "{\"phone\":\"sbx1.0123456789abcdef-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}")),
      ev(CE("lead.created", "lead-45", "{\"phone_hmac\":\"00\"}")),
      ev(CE("lead.created", "lead-46",
            "{\"custom_fields_json\":\"{\\\"cc\\\":\\\"4111 1111 1111 1111\\\"}\"}")),
      ev(CE("lead.created", "lead-47",
            "{\"card_last4\":\"42424\"}")),
      ev(CE("message.requested", "msg-1",
            "{\"lead_id\":\"lead-42\",\"channel\":\"sms\","
            "\"to_address\":\"+14155554567\",\"body\":\"hi\"}")),
      ev(CE("lead.status_changed", "lead-42", "{\"status\":\"contacted\"}")),
      ev(CE("provider.configured", "twilio-main",
            "{\"account_id\":\"twilio-main\",\"provider\":\"twilio\","
            "\"secret\":\"auth-token-1\",\"channels\":[\"sms\"]}"))};
  char *why[9] = {0};
  CHECK_OK(sb_pii_seal_events(k, s, evs, 9, why, &err), &err);
  CHECK(why[0] == NULL);
  CHECK_HAS(why[1], "data.phone: is not an E.164 phone number");
  CHECK_HAS(why[2], "data.phone: holds an sbx1. value");
  CHECK_HAS(why[3], "data.phone_hmac: is computed by the server");
  CHECK_HAS(why[4], "data.custom_fields_json: looks like a payment card");
  CHECK_HAS(why[5], "data.card_last4: longer than 4 characters (5)");
  CHECK(why[6] == NULL);
  CHECK(why[7] == NULL);
  CHECK(why[8] == NULL);
  for (int i = 0; i < 9; i++)
    free(why[i]);
  /* refused events are left as they were */
  CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(evs[1], "data"), "phone")
                ->valuestring,
            "4155550123");
  /* sealed: no plaintext left; the HMACs beside */
  char *t0 = cJSON_PrintUnformatted(evs[0]);
  const char *plains[] = {"Ada", "ada", "4567", "London", "6789", "4242"};
  CHECK(no_plain_left(evs[0], plains, SB_ARRAY_LEN(plains)));
  CHECK_HAS(t0, "\"country\":\"sbx1.");
  CHECK_HAS(t0, "\"email_hmac\":\"");
  CHECK_HAS(t0, "\"phone_hmac\":\"");
  free(t0);
  unsigned char mk[32];
  char want[65];
  CHECK_OK(sb_keys_match_key(k, "acme", mk, &err), &err);
  CHECK_OK(sb_pii_match_hmac(mk, SB_PII_MATCH_PHONE, "+14155554567", want,
                             &err),
           &err);
  CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(evs[0], "data"),
                                "phone_hmac")->valuestring,
            want);
  /* the phone's area's zone beside it, not PII (sb_phone_tz): 415 */
  CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(evs[0], "data"),
                                "phone_tz")->valuestring,
            "America/Los_Angeles");
  /* and the message's recipient's, an address that is a phone (v3) */
  CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(evs[6], "data"),
                                "to_address_tz")->valuestring,
            "America/Los_Angeles");
  /* the message's recipient matches the lead's phone */
  CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(evs[6], "data"),
                                "to_address_hmac")->valuestring,
            want);
  /* a provider account's secret: sealed under provider:<account_id>
   * (sb.dataSubjectPrefix), not under a person's key */
  char ph16[SB_KEYS_SUBJECT_HASH + 1], kid[64];
  CHECK_OK(sb_keys_subject_hash(k, "acme", "provider:twilio-main", ph16, &err),
           &err);
  snprintf(kid, sizeof kid, "sbx1.%s-", ph16);
  CHECK(strncmp(cJSON_GetObjectItem(cJSON_GetObjectItem(evs[8], "data"),
                                    "secret")->valuestring,
                kid, strlen(kid)) == 0);
  /* the codec takes the sealed event (country: maxLength 2, sealed) */
  sb_record_t rec;
  CHECK_OK(sb_codec_from_ce(codec, evs[0], 0, &rec, &err), &err);
  CHECK(memmem(rec.value, rec.value_len, "London", 6) == NULL);
  sb_event_t de;
  cJSON *back = NULL;
  CHECK_OK(sb_codec_decode(codec, rec.value, rec.value_len, &de, &err), &err);
  CHECK_OK(sb_codec_to_ce(codec, &de, &back, &err), &err);
  sb_record_clear(&rec);
  cJSON *masked = cJSON_Duplicate(back, 1);
  int failed = -1;
  CHECK_OK(sb_pii_reveal(k, s, back, SB_PII_VIEW_CLEAR, &failed, &err), &err);
  CHECK_INT(failed, 0);
  cJSON *d = cJSON_GetObjectItem(back, "data");
  CHECK_STR(cJSON_GetObjectItem(d, "phone")->valuestring, "+1 415 555 4567");
  CHECK_STR(cJSON_GetObjectItem(d, "email")->valuestring, "Ada@Example.com");
  CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "address"), "city")
                ->valuestring,
            "London");
  CHECK_STR(cJSON_GetObjectItem(d, "national_id")->valuestring, "123-45-6789");
  CHECK_OK(sb_pii_reveal(k, s, masked, SB_PII_VIEW_MASKED, &failed, &err),
           &err);
  d = cJSON_GetObjectItem(masked, "data");
  CHECK_STR(cJSON_GetObjectItem(d, "phone")->valuestring, "+1******4567");
  CHECK_STR(cJSON_GetObjectItem(d, "email")->valuestring, "A***@Example.com");
  CHECK_STR(cJSON_GetObjectItem(d, "first_name")->valuestring, "***");
  /* a value written before sealing (plaintext) is masked all the same */
  cJSON *legacy = ev(CE("lead.created", "lead-99",
                        "{\"phone\":\"+14155559876\",\"last_name\":\"Old\"}"));
  CHECK_OK(sb_pii_reveal(k, s, legacy, SB_PII_VIEW_MASKED, &failed, &err),
           &err);
  d = cJSON_GetObjectItem(legacy, "data");
  CHECK_STR(cJSON_GetObjectItem(d, "phone")->valuestring, "+1******9876");
  CHECK_STR(cJSON_GetObjectItem(d, "last_name")->valuestring, "***");
  cJSON_Delete(legacy);
  /* a value altered in the log reads as erased, counted */
  cJSON *tampered = cJSON_Duplicate(evs[0], 1);
  cJSON *ph = cJSON_GetObjectItem(cJSON_GetObjectItem(tampered, "data"),
                                  "phone");
  ph->valuestring[strlen(ph->valuestring) - 3] ^= 1;
  CHECK_OK(sb_pii_reveal(k, s, tampered, SB_PII_VIEW_CLEAR, &failed, &err),
           &err);
  CHECK_INT(failed, 1);
  CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(tampered, "data"),
                                "phone")->valuestring,
            SB_PII_ERASED);
  /* one field at a time, for processors */
  char one[512];
  const char *sv = cJSON_GetObjectItem(cJSON_GetObjectItem(evs[0], "data"),
                                       "phone")->valuestring;
  CHECK_INT(sb_pii_open_field(k, "acme", "lead.created", "phone", sv, one,
                              sizeof one, &err), 0);
  CHECK_STR(one, "+1 415 555 4567");
  sb_err_t ferr = SB_ERR_INIT;
  CHECK_INT(sb_pii_open_field(k, "acme", "lead.created", "email", sv, one,
                              sizeof one, &ferr), SB_ECRYPTO);
  CHECK_HAS(ferr.msg, "authentication failed");
  CHECK_INT(sb_pii_open_field(k, "acme", "lead.created", "phone", "plain", one,
                              sizeof one, &err), 2);
  CHECK_STR(one, "plain");
  /* erased: every field of the subject reads sbx1.erased; the HMAC stays */
  long n = 0;
  CHECK_OK(sb_keys_erase(k, "acme", "lead-42", &n, &err), &err);
  CHECK_INT(n, 1);
  cJSON *gone = cJSON_Duplicate(evs[0], 1);
  CHECK_OK(sb_pii_reveal(k, s, gone, SB_PII_VIEW_CLEAR, &failed, &err), &err);
  CHECK_INT(failed, 0);
  d = cJSON_GetObjectItem(gone, "data");
  CHECK_STR(cJSON_GetObjectItem(d, "phone")->valuestring, SB_PII_ERASED);
  CHECK_STR(cJSON_GetObjectItem(d, "national_id")->valuestring, SB_PII_ERASED);
  CHECK_STR(cJSON_GetObjectItem(d, "phone_hmac")->valuestring, want);
  CHECK_INT(sb_pii_open_field(k, "acme", "lead.created", "phone", sv, one,
                              sizeof one, &err), 1);
  CHECK_STR(one, SB_PII_ERASED);
  cJSON_Delete(gone);
  cJSON_Delete(tampered);
  cJSON_Delete(masked);
  cJSON_Delete(back);
  for (int i = 0; i < 9; i++)
    cJSON_Delete(evs[i]);
  sb_keys_free(k);
  sb_codec_free(codec);
  sb_schemas_free(s);
  fx_close(&f);
  return 0;
}

/* Two processes making the key of one subject at once: the one whose
 * INSERT waited on the other's (uncommitted) row gets that row back, never
 * a key of its own. */
typedef struct {
  sb_pg_t *pg;
} commit_later_t;

static void *commit_later(void *arg) {
  commit_later_t *c = arg;
  usleep(300 * 1000); /* the other call is waiting on our row by now */
  sb_pg_exec(c->pg, "COMMIT", 0, NULL, NULL);
  return NULL;
}

int test_pii_data_keys_race(void) {
  fx_t f;
  sb_err_t err = SB_ERR_INIT;
  CHECK(fx_open(&f) == 0);
  sb_pg_t *x = NULL;
  CHECK_OK(sb_pg_connect(f.url, &x, &err), &err);
  char wx[121], wy[121];
  memset(wx, 'a', 120);
  memset(wy, 'b', 120);
  wx[120] = wy[120] = '\0';
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM sb.data_keys_take(ARRAY['acme'], "
           "ARRAY['00000000000000aa'], ARRAY[1], ARRAY['%s'])", wx);
  CHECK_OK(sb_pg_exec(x, "BEGIN", 0, NULL, &err), &err);
  CHECK_OK(sb_pg_exec(x, sql, 0, NULL, &err), &err);
  commit_later_t cl = {x};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, commit_later, &cl) == 0);
  snprintf(sql, sizeof sql,
           "SELECT ix, gen, encode(wrapped, 'hex') FROM sb.data_keys_take("
           "ARRAY['acme'], ARRAY['00000000000000aa'], ARRAY[1], "
           "ARRAY['%s'])", wy);
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(f.pg, sql, 0, NULL, &rows, &err);
  pthread_join(th, NULL);
  CHECK_OK(rc, &err);
  CHECK_INT(sb_pg_rows_count(rows), 1);
  CHECK_STR(sb_pg_rows_get(rows, 0, 0), "0");
  CHECK_STR(sb_pg_rows_get(rows, 0, 1), "1");
  CHECK_STR(sb_pg_rows_get(rows, 0, 2), wx);
  sb_pg_rows_free(rows);
  CHECK_INT(count(f.pg, "SELECT count(*) FROM sb.data_keys"), 1);
  sb_pg_close(x);
  fx_close(&f);
  return 0;
}
