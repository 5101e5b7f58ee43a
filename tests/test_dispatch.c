/* The dispatcher's pure parts (connectors/dispatch): templates rendered
 * from the variables object (flat dotted keys, nested paths, numbers,
 * a missing variable named, text that only looks like a placeholder), code
 * points counted for max_length, provider errors scrubbed of numbers,
 * addresses and the account's secret; the breaker, a 429's pause, Slack's
 * pace and the backoff of one account. */
#include "sb_dispatch_int.h"
#include "sb_test.h"
#include "sb_tests.h"

#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int render(const char *tmpl, const char *vars, char *out, size_t sz,
                  char *missing, size_t msz) {
  cJSON *v = cJSON_Parse(vars);
  sb_text_t t = {0};
  int rc = sb__dsp_render(tmpl, v, &t, missing, msz);
  sb_text_put(&t, "", 1);
  snprintf(out, sz, "%s", rc == 0 && t.s ? t.s : "");
  sb_text_free(&t);
  cJSON_Delete(v);
  return rc;
}

int test_dispatch_render(void) {
  char out[256], missing[64];
  const char *vars = "{\"lead.first_name\": \"Ann\", \"agent\": {\"name\": "
                     "\"Bo\"}, \"code\": 4321, \"ratio\": 0.5, \"no\": null}";
  CHECK_INT(render("Hi {{lead.first_name}}, {{ agent.name }} here: {{code}} "
                   "{{ratio}}", vars, out, sizeof out, missing, sizeof missing),
            0);
  CHECK_STR(out, "Hi Ann, Bo here: 4321 0.5");
  /* a missing or null variable blocks, naming it */
  CHECK_INT(render("Hi {{lead.last_name}}", vars, out, sizeof out, missing,
                   sizeof missing),
            SB_ENOENT);
  CHECK_STR(missing, "lead.last_name");
  CHECK_INT(render("{{no}}", vars, out, sizeof out, missing, sizeof missing),
            SB_ENOENT);
  CHECK_STR(missing, "no");
  /* an unclosed brace pair is text; no placeholders, the template as is */
  CHECK_INT(render("a {{ b", vars, out, sizeof out, missing, sizeof missing), 0);
  CHECK_STR(out, "a {{ b");
  CHECK_INT(render("plain", "{}", out, sizeof out, missing, sizeof missing), 0);
  CHECK_STR(out, "plain");
  /* values are not rendered again */
  CHECK_INT(render("{{x}}", "{\"x\": \"{{y}}\"}", out, sizeof out, missing,
                   sizeof missing),
            0);
  CHECK_STR(out, "{{y}}");
  CHECK_INT(sb__dsp_cps("h\xc3\xa9llo \xf0\x9f\x98\x80"), 7);
  return 0;
}

int test_dispatch_scrub(void) {
  char out[256];
  sb__dsp_scrub("The 'To' number +15550000400 is not valid", NULL, out,
                sizeof out);
  CHECK_STR(out, "The 'To' number *** is not valid");
  sb__dsp_scrub("mailbox ann@example.com unknown (code 550)", NULL, out,
                sizeof out);
  CHECK_STR(out, "mailbox *** unknown (code 550)");
  sb__dsp_scrub("token xoxb-secret-1 refused", "xoxb-secret-1", out,
                sizeof out);
  CHECK_STR(out, "token *** refused");
  /* bounded */
  char small[8];
  sb__dsp_scrub("abcdefghijklmnop", NULL, small, sizeof small);
  CHECK(strlen(small) < sizeof small);
  return 0;
}

/* ---- per account: breaker, 429 pause, Slack's pace; backoff ------------- */

static sb__djob_t *job(sb__dacct_t *a, const char *to, int attempts) {
  sb__djob_t *j = calloc(1, sizeof *j);
  j->acct = a;
  j->to = strdup(to);
  j->attempts = attempts;
  return j;
}

/* a finished send with outcome o */
static void finish(sb_dispatch_t *d, sb__djob_t *j, int o, int transient) {
  j->started = 1;
  j->outcome = o;
  j->transient_account = transient;
  sb__dsp_finish(d, j);
}

int test_dispatch_breaker(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_conf_t c;
  CHECK_OK(sb_conf_init(&c, &err), &err);
  sb_dispatch_t *d = calloc(1, sizeof *d);
  d->c = &c;
  pthread_mutex_init(&d->mu, NULL);
  uv_loop_init(&d->loop);
  uv_timer_init(&d->loop, &d->record_soon);
  sb__dacct_t a = {.provider = SB_DSP_TWILIO};
  int64_t now = sb_now_ms();

  /* five transient failures in a row open it */
  for (int i = 0; i < 5; i++) {
    sb__djob_t *j = job(&a, "+15550000001", 1);
    CHECK(sb__dsp_admit(d, j));
    finish(d, j, SB_DSP_O_RETRY, 1);
    CHECK_INT(j->outcome, SB_DSP_O_RETRY);
    /* backoff of a first attempt: a half to all of 1 s */
    CHECK(j->retry_at_ms >= now + 500 && j->retry_at_ms <= sb_now_ms() + 1000);
  }
  CHECK_INT(a.fails, 5);
  CHECK(a.open_until_ms >= now + 29000);
  sb__djob_t *held = job(&a, "+15550000001", 1);
  CHECK(!sb__dsp_admit(d, held));
  CHECK_INT(held->outcome, SB_DSP_O_DEFER);
  CHECK(held->retry_at_ms >= a.open_until_ms);
  sb__dsp_finish(d, held); /* not started: the breaker is left alone */
  CHECK_INT(a.fails, 5);
  /* open time over: one probe, the others wait for it */
  a.open_until_ms = sb_now_ms() - 1;
  sb__djob_t *probe = job(&a, "+15550000001", 1), *other = job(&a, "+1", 1);
  CHECK(sb__dsp_admit(d, probe));
  CHECK(probe->probe && a.probing);
  CHECK(!sb__dsp_admit(d, other));
  sb__dsp_finish(d, other);
  CHECK(a.probing);
  finish(d, probe, SB_DSP_O_SENT, 0); /* it answered: closed */
  CHECK_INT(a.fails, 0);
  CHECK(!a.probing);
  sb__djob_t *after = job(&a, "+15550000001", 1);
  CHECK(sb__dsp_admit(d, after));
  finish(d, after, SB_DSP_O_SENT, 0);

  /* a 429's Retry-After pauses the account */
  a.paused_until_ms = sb_now_ms() + 5000;
  sb__djob_t *paused = job(&a, "+15550000001", 1);
  CHECK(!sb__dsp_admit(d, paused));
  CHECK(paused->retry_at_ms >= a.paused_until_ms);
  sb__dsp_finish(d, paused);
  a.paused_until_ms = 0;

  /* backoff doubles per attempt; the last attempt fails for good */
  sb__djob_t *third = job(&a, "+15550000001", 3);
  finish(d, third, SB_DSP_O_RETRY, 0);
  CHECK(third->retry_at_ms >= now + 2000 &&
        third->retry_at_ms <= sb_now_ms() + 4000);
  sb__djob_t *last = job(&a, "+15550000001", c.dispatch_max_attempts);
  snprintf(last->error_msg, sizeof last->error_msg, "timeout");
  finish(d, last, SB_DSP_O_RETRY, 0);
  CHECK_INT(last->outcome, SB_DSP_O_FAILED);
  CHECK_HAS(last->error_msg, "attempts exhausted");

  /* Slack: a message a second per channel */
  sb__dacct_t s = {.provider = SB_DSP_SLACK};
  snprintf(s.account_id, sizeof s.account_id, "sl1");
  sb__djob_t *s1 = job(&s, "#a", 1), *s2 = job(&s, "#a", 1),
             *s3 = job(&s, "#b", 1);
  CHECK(sb__dsp_admit(d, s1));
  CHECK(!sb__dsp_admit(d, s2));
  CHECK(s2->retry_at_ms >= sb_now_ms() + 900);
  CHECK(sb__dsp_admit(d, s3));
  finish(d, s1, SB_DSP_O_SENT, 0);
  sb__dsp_finish(d, s2);
  finish(d, s3, SB_DSP_O_SENT, 0);

  sb_dispatch_stats_t st = d->st;
  CHECK_INT(st.sent, 4);
  CHECK_INT(st.retried, 6);
  CHECK_INT(st.failed, 1);
  CHECK_INT(st.deferred, 4);
  while (d->done) {
    sb__djob_t *j = d->done;
    d->done = j->next;
    sb__dsp_job_free(j);
  }
  uv_close((uv_handle_t *)&d->record_soon, NULL);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  uv_loop_close(&d->loop);
  pthread_mutex_destroy(&d->mu);
  free(d);
  sb_conf_free(&c);
  return 0;
}
