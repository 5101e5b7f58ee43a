/* Reads folded by the refusals' windows (sb_access.h): the "what" part of
 * a key keeps two reads of different filters apart, and a window's record
 * sums the amounts (rows) of the reads it counts (issue 12, item 7). */
#include "sb_refusals.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <string.h>

typedef struct {
  int records;
  unsigned long long attempts, amount;
  char what[64];
} seen_t;

static void on_record(void *ud, const sb_refusal_t *r) {
  seen_t *s = ud;
  s->records++;
  s->attempts += r->attempts;
  s->amount += r->amount;
  snprintf(s->what, sizeof s->what, "%s", r->what ? r->what : "(null)");
}

int test_refusals_what_amount(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sb_err_t err = SB_ERR_INIT;
  seen_t seen = {0};
  sb_refusals_t *t = NULL;
  CHECK_OK(sb_refusals_new(&loop, 60000, 8, on_record, &seen, &t, &err), &err);
  sb_refusal_t a = {"access.recorded", "acme", "alice", "projection", "admin",
                    "10.0.0.1", "ua/1", "GET", "/v1/projection", 1,
                    "audit.events\x1fsubject=a", 3};
  sb_refusal_t b = a;
  b.what = "audit.events\x1fsubject=b";
  CHECK_INT(sb_refusals_note(t, &a), 1);
  CHECK_INT(sb_refusals_note(t, &b), 1); /* other filters: another key */
  for (int i = 0; i < 10; i++) {
    a.amount = (uint64_t)i;
    CHECK_INT(sb_refusals_note(t, &a), 0);
  }
  sb_refusals_flush(t);
  CHECK_INT(seen.records, 1); /* b had nothing left to record */
  CHECK_INT((long long)seen.attempts, 10);
  CHECK_INT((long long)seen.amount, 45); /* 0 + 1 + ... + 9 */
  CHECK_STR(seen.what, "audit.events\x1fsubject=a");
  /* without a what (refusals), the key is as before */
  sb_refusal_t r = {"security.login_failed", NULL, NULL, "bad_credentials",
                    NULL, "10.0.0.2", "ua/1", "POST", "/v1/events", 1,
                    NULL, 0};
  CHECK_INT(sb_refusals_note(t, &r), 1);
  CHECK_INT(sb_refusals_note(t, &r), 0);
  memset(&seen, 0, sizeof seen);
  sb_refusals_flush(t);
  CHECK_INT(seen.records, 1);
  CHECK_STR(seen.what, "(null)");
  CHECK_INT((long long)seen.amount, 0);
  sb_refusals_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  sb_refusals_free(t);
  uv_loop_close(&loop);
  return 0;
}
