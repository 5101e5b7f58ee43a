/* Refusals are recorded once per key and window, the rest as one count;
 * the table of keys is bounded, with overflow entries, then only counted
 * (issue 10, item 9). */
#include "sb_rate.h"
#include "sb_refusals.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  int records;
  unsigned long long attempts;
  int without_ip;
} seen_t;

static void on_record(void *ud, const sb_refusal_t *r) {
  seen_t *s = ud;
  s->records++;
  s->attempts += r->attempts;
  s->without_ip += r->ip == NULL;
}

static sb_refusal_t refusal(const char *ip, const char *tenant) {
  return (sb_refusal_t){"security.login_failed", tenant, NULL, "bad_credentials",
                        NULL, ip, "ua/1", "POST", "/v1/events", 1, NULL, 0};
}

int test_refusals_window(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sb_err_t err = SB_ERR_INIT;
  seen_t seen = {0};
  sb_refusals_t *t = NULL;
  CHECK_OK(sb_refusals_new(&loop, 60000, 8, on_record, &seen, &t, &err), &err);

  /* one source: the first now, 9,999 counted */
  sb_refusal_t r = refusal("10.0.0.1", NULL);
  CHECK_INT(sb_refusals_note(t, &r), 1);
  for (int i = 1; i < 10000; i++)
    CHECK_INT(sb_refusals_note(t, &r), 0);
  /* another reason of the same source is another key */
  sb_refusal_t other = r;
  other.reason = "other";
  CHECK_INT(sb_refusals_note(t, &other), 1);
  sb_refusals_flush(t);
  CHECK_INT(seen.records, 1); /* only the first key had a count left */
  CHECK_INT((long long)seen.attempts, 9999);
  /* a new window: the first is recorded at once again */
  CHECK_INT(sb_refusals_note(t, &r), 1);
  CHECK_INT(sb_refusals_note(t, &r), 0);

  /* many sources: 7 more keys fill the table (8), the rest of one tenant
   * share an overflow entry, without their address */
  memset(&seen, 0, sizeof seen);
  int now = 0, total = 1; /* r's second, counted */
  char ip[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(ip, sizeof ip, "10.1.%d.%d", i / 256, i % 256);
    sb_refusal_t x = refusal(ip, NULL);
    now += sb_refusals_note(t, &x);
    total++;
  }
  CHECK_INT(now, 7 + 1); /* 7 keys, then the overflow entry's first */
  /* past the overflow entries (64 tenants), only counted */
  int tenants_now = 0;
  for (int i = 0; i < 100; i++) {
    snprintf(ip, sizeof ip, "tenant-%d", i);
    sb_refusal_t x = refusal("10.9.9.9", ip);
    tenants_now += sb_refusals_note(t, &x);
  }
  CHECK_INT(tenants_now, 63); /* one overflow entry went to the first 1000 */
  CHECK_INT((long long)sb_refusals_unrecorded(t), 37);
  sb_refusals_flush(t);
  /* every refusal is in a record made at once, in a window's count, or
   * unrecorded: r's first (1) and second (counted), the 1000, the 100 */
  CHECK_INT((long long)(1 + seen.attempts + (unsigned long long)now +
                        (unsigned long long)tenants_now +
                        sb_refusals_unrecorded(t)),
            1 + (long long)total + 100);
  CHECK(seen.without_ip >= 1);

  sb_refusals_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  sb_refusals_free(t);
  CHECK_INT(uv_loop_close(&loop), 0);
  return 0;
}

/* Bounded per address and per tenant (issue 12, item 7): a flood of
 * distinct records from one address makes at most its bound of records at
 * once, the rest one summary per window with their count; a second address
 * is still recorded at once; a tenant's flood from many addresses is
 * bounded by the tenant's bound. */
int test_refusals_per_address(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sb_err_t err = SB_ERR_INIT;
  seen_t seen = {0};
  sb_refusals_t *t = NULL;
  CHECK_OK(sb_refusals_new(&loop, 60000, 1024, on_record, &seen, &t, &err),
           &err);
  sb_refusals_set_limits(t, 5, 20);
  char user[32], ip[32];
  int now = 0;
  for (int i = 0; i < 1000; i++) { /* 1000 users tried from one address */
    snprintf(user, sizeof user, "user-%d", i);
    sb_refusal_t r = refusal("10.0.0.1", "acme");
    r.user = user;
    now += sb_refusals_note(t, &r);
  }
  CHECK_INT(now, 5);
  CHECK_INT((long long)sb_refusals_suppressed(t), 995);
  /* another address of the tenant: recorded at once */
  sb_refusal_t other = refusal("10.0.0.2", "acme");
  other.user = "user-1";
  CHECK_INT(sb_refusals_note(t, &other), 1);
  sb_refusals_flush(t);
  /* one summary: the 995 folded, with the address, without a user */
  CHECK_INT(seen.records, 1);
  CHECK_INT((long long)seen.attempts, 995);
  CHECK_INT(seen.without_ip, 0);
  CHECK_INT((long long)sb_refusals_unrecorded(t), 0);
  /* the next window: the address is recorded at once again */
  sb_refusal_t again = refusal("10.0.0.1", "acme");
  CHECK_INT(sb_refusals_note(t, &again), 1);
  sb_refusals_flush(t);

  /* a tenant's records from many addresses: 20 at once, the rest shared */
  memset(&seen, 0, sizeof seen);
  now = 0;
  for (int i = 0; i < 300; i++) {
    snprintf(ip, sizeof ip, "10.2.%d.%d", i / 256, i % 256);
    sb_refusal_t r = refusal(ip, "globex");
    now += sb_refusals_note(t, &r);
  }
  CHECK_INT(now, 20);
  /* another tenant is not held back by globex's flood */
  sb_refusal_t acme = refusal("10.3.0.1", "acme");
  CHECK_INT(sb_refusals_note(t, &acme), 1);
  sb_refusals_flush(t);
  CHECK_INT(seen.records, 1); /* the tenant's shared entry */
  CHECK_INT((long long)seen.attempts, 280);
  CHECK_INT(seen.without_ip, 1);
  sb_refusals_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  sb_refusals_free(t);
  uv_loop_close(&loop);
  return 0;
}

/* Token buckets by key (sb_rate.h): burst tokens, refilled over the
 * period; keys apart; a full table reuses its fullest bucket. */
int test_rate_buckets(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_rate_t *r = NULL;
  CHECK_OK(sb_rate_new(64, 3, 1000000, &r, &err), &err); /* 3 a second */
  int64_t t = 1000000000;
  for (int i = 0; i < 3; i++)
    CHECK_INT(sb_rate_take(r, "10.0.0.1", t), 1);
  CHECK_INT(sb_rate_take(r, "10.0.0.1", t), 0);
  CHECK_INT(sb_rate_take(r, "10.0.0.2", t), 1); /* another key */
  CHECK_INT(sb_rate_take(r, "10.0.0.1", t + 200000), 0); /* 0.6 token */
  CHECK_INT(sb_rate_take(r, "10.0.0.1", t + 340000), 1); /* 1.02 */
  CHECK_INT(sb_rate_take(r, "10.0.0.1", t + 340000), 0);
  sb_rate_give(r, "10.0.0.1", t + 340000);
  CHECK_INT(sb_rate_take(r, "10.0.0.1", t + 340000), 1);
  /* many keys: bounded table, every new key starts full */
  char key[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_INT(sb_rate_take(r, key, t + 400000), 1);
  }
  sb_rate_free(r);
  /* burst 0: no bound */
  CHECK_OK(sb_rate_new(8, 0, 1000000, &r, &err), &err);
  for (int i = 0; i < 100; i++)
    CHECK_INT(sb_rate_take(r, "x", t), 1);
  sb_rate_free(r);
  return 0;
}
