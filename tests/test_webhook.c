/* The providers' webhooks (connectors/webhooks): signatures against the
 * providers' published examples, and the parsers. */
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_webhook.h"

#include <stdlib.h>
#include <string.h>

#define LIT(s) s, sizeof s - 1

/* Twilio's "validating requests" example (twilio.com/docs/usage/security):
 * auth token 12345, this URL and these parameters sign as below. */
int test_webhook_twilio_signature(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_whk_form_t f;
  static const char body[] = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030"
                             "&Digits=1234&From=%2B12349013030"
                             "&To=%2B18005551212";
  const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
  CHECK_OK(sb_whk_form_parse(LIT(body), &f, &err), &err);
  CHECK_INT(f.n, 5);
  CHECK_STR(sb_whk_form_get(&f, "Caller"), "+12349013030");
  char sig[64];
  CHECK_OK(sb_whk_twilio_sign("12345", url, &f, sig, sizeof sig, &err), &err);
  CHECK_STR(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
  CHECK_OK(sb_whk_twilio_verify("12345", url, &f,
                                "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", &err),
           &err);
  /* another token, URL, parameter value, or none: refused */
  CHECK_INT(sb_whk_twilio_verify("12346", url, &f,
                                 "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", &err),
            SB_EPERM);
  CHECK_HAS(err.msg, "does not match");
  sb_err_clear(&err);
  CHECK_INT(sb_whk_twilio_verify("12345",
                                 "https://mycompany.com/myapp.php?foo=1&bar=3",
                                 &f, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", &err),
            SB_EPERM);
  sb_err_clear(&err);
  CHECK_INT(sb_whk_twilio_verify("12345", url, &f, NULL, &err), SB_EPERM);
  CHECK_HAS(err.msg, "missing");
  sb_err_clear(&err);
  ((char *)f.p[2].value)[0] = '9'; /* Digits 9234 */
  CHECK_INT(sb_whk_twilio_verify("12345", url, &f,
                                 "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", &err),
            SB_EPERM);
  sb_whk_form_free(&f);
  return 0;
}

/* Meta's X-Hub-Signature-256 (HMAC-SHA256 of the raw body under the app
 * secret, hex): the value here was computed with Python's hmac. */
int test_webhook_hub_signature(void) {
  sb_err_t err = SB_ERR_INIT;
  static const char body[] =
      "{\"object\":\"whatsapp_business_account\",\"entry\":[]}";
  const char *good = "sha256=0ca28c0f1996234eb6829e59ad3c11a18161f6eb043943d6"
                     "01e420c312432cdf";
  CHECK_OK(sb_whk_hub_verify("app-secret-1", LIT(body), good, &err), &err);
  CHECK_OK(sb_whk_hub_verify("app-secret-1", LIT(body),
                             "sha256=0CA28C0F1996234EB6829E59AD3C11A18161F6EB"
                             "043943D601E420C312432CDF",
                             &err),
           &err);
  CHECK_INT(sb_whk_hub_verify("app-secret-2", LIT(body), good, &err),
            SB_EPERM);
  sb_err_clear(&err);
  CHECK_INT(sb_whk_hub_verify("app-secret-1", body, sizeof body - 2, good,
                              &err),
            SB_EPERM);
  sb_err_clear(&err);
  CHECK_INT(sb_whk_hub_verify("app-secret-1", LIT(body), good + 7, &err),
            SB_EPERM); /* without "sha256=" */
  sb_err_clear(&err);
  CHECK_INT(sb_whk_hub_verify("app-secret-1", LIT(body), "", &err), SB_EPERM);
  /* the handshake's verify token: as computed with Python's hmac */
  char tok[33];
  CHECK_OK(sb_whk_whatsapp_verify_token("app-secret-1", "acme", "wa1", tok,
                                        &err),
           &err);
  CHECK_STR(tok, "f9991c28c447e706004ff89bd833ac63");
  return 0;
}

/* SendGrid's signed event webhook example (the test of its Node.js
 * library, @sendgrid/eventwebhook): key, signature, timestamp, payload. */
int test_webhook_sendgrid_signature(void) {
  sb_err_t err = SB_ERR_INIT;
  const char *key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC"
                    "+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1F"
                    "wCM/QmGUhA==";
  const char *pem = "-----BEGIN PUBLIC KEY-----\n"
                    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC"
                    "+u4CwrqD\nqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1"
                    "FwCM/QmGUhA==\n-----END PUBLIC KEY-----\n";
  const char *sig = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2"
                    "C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
  static const char payload[] = "{\"category\":\"example_payload\",\"event\":"
                                "\"test_event\",\"message_id\":\"message_id\"}";
  CHECK_OK(sb_whk_sendgrid_verify(key, "1588788367", LIT(payload), sig, &err),
           &err);
  CHECK_OK(sb_whk_sendgrid_verify(pem, "1588788367", LIT(payload), sig, &err),
           &err);
  CHECK_INT(sb_whk_sendgrid_verify(key, "1588788368", LIT(payload), sig, &err),
            SB_EPERM);
  CHECK_HAS(err.msg, "does not match");
  sb_err_clear(&err);
  CHECK_INT(sb_whk_sendgrid_verify(key, "1588788367", payload,
                                   sizeof payload - 2, sig, &err),
            SB_EPERM);
  sb_err_clear(&err);
  CHECK_INT(sb_whk_sendgrid_verify(key, "1588788367", LIT(payload), "abc",
                                   &err),
            SB_EPERM);
  sb_err_clear(&err);
  CHECK_INT(sb_whk_sendgrid_verify(key, NULL, LIT(payload), sig, &err),
            SB_EPERM);
  sb_err_clear(&err);
  CHECK_INT(sb_whk_sendgrid_verify("bm90IGEga2V5", "1588788367", LIT(payload),
                                   sig, &err),
            SB_EPERM);
  CHECK_HAS(err.msg, "not an EC public key");
  return 0;
}

int test_webhook_parse_twilio(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_whk_form_t f;
  sb_whk_batch_t b;
  static const char st[] =
      "MessageSid=SM0123&MessageStatus=undelivered&ErrorCode=30003"
      "&To=whatsapp%3A%2B14155550100&AccountSid=AC1";
  CHECK_OK(sb_whk_form_parse(LIT(st), &f, &err), &err);
  CHECK_OK(sb_whk_twilio_parse_status(&f, "m-1", &b, &err), &err);
  CHECK_INT(b.n, 1);
  CHECK_INT(b.items[0].kind, SB_WHK_STATUS);
  CHECK_STR(b.items[0].status, "undelivered");
  CHECK_STR(b.items[0].raw_status, "undelivered");
  CHECK_STR(b.items[0].error_code, "30003");
  CHECK_STR(b.items[0].channel, "whatsapp");
  CHECK_STR(b.items[0].message_id, "m-1");
  CHECK_STR(b.items[0].event_key, "SM0123:undelivered");
  sb_whk_batch_free(&b);
  sb_whk_form_free(&f);

  static const char in[] = "MessageSid=SM9&From=%2B14155550123&To=%2B1415555"
                           "0100&Body=+Stop+%0A&NumMedia=1&MediaUrl0=https%3A"
                           "%2F%2Fapi.twilio.com%2Fm%2F1";
  CHECK_OK(sb_whk_form_parse(LIT(in), &f, &err), &err);
  CHECK_OK(sb_whk_twilio_parse_inbound(&f, &b, &err), &err);
  CHECK_INT(b.items[0].kind, SB_WHK_INBOUND);
  CHECK_STR(b.items[0].channel, "sms");
  CHECK_STR(b.items[0].from, "+14155550123");
  CHECK_STR(b.items[0].body, " Stop \n");
  CHECK_STR(b.items[0].keyword, "STOP");
  CHECK_STR(b.items[0].method, "keyword");
  CHECK_INT(b.items[0].nmedia, 1);
  CHECK_STR(b.items[0].media[0], "https://api.twilio.com/m/1");
  sb_whk_batch_free(&b);
  sb_whk_form_free(&f);

  /* statuses and keywords */
  CHECK_STR(sb_whk_twilio_status("sending"), "submitted");
  CHECK_STR(sb_whk_twilio_status("read"), "read");
  CHECK(sb_whk_twilio_status("bogus") == NULL);
  CHECK_STR(sb_whk_stop_keyword("unsubscribe"), "UNSUBSCRIBE");
  CHECK_STR(sb_whk_stop_keyword("\tQuit "), "QUIT");
  CHECK(sb_whk_stop_keyword("stop it") == NULL);
  CHECK(sb_whk_stop_keyword("") == NULL);

  /* refusals name what is wrong */
  static const struct {
    const char *body, *want;
    int status; /* 1: a status callback, 0: inbound */
  } bad[] = {
      {"MessageStatus=sent", "MessageSid: missing", 1},
      {"MessageSid=SM1&MessageStatus=lost", "not a Twilio message status", 1},
      {"MessageSid=SM1", "MessageStatus: missing", 1},
      {"MessageSid=SM1&Body=x", "From: missing", 0},
      {"MessageSid=SM1&From=%2B1&NumMedia=2&MediaUrl0=u", "MediaUrl1: missing",
       0},
      {"MessageSid=SM1&From=%2B1&NumMedia=11", "NumMedia", 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sb_err_clear(&err);
    CHECK_OK(sb_whk_form_parse(bad[i].body, strlen(bad[i].body), &f, &err),
             &err);
    int rc = bad[i].status ? sb_whk_twilio_parse_status(&f, NULL, &b, &err)
                           : sb_whk_twilio_parse_inbound(&f, &b, &err);
    CHECK_INT(rc, SB_EVALIDATE);
    CHECK_HAS(err.msg, bad[i].want);
    sb_whk_batch_free(&b);
    sb_whk_form_free(&f);
  }
  static const struct {
    const char *body, *want;
  } badform[] = {
      {"a=%4", "two hex digits"},
      {"a=%00", "NUL"},
      {"a=1&a=2", "given twice"},
      {"=1", "no name"},
      {"a=%ff", "not UTF-8"},
  };
  for (size_t i = 0; i < sizeof badform / sizeof *badform; i++) {
    sb_err_clear(&err);
    CHECK_INT(sb_whk_form_parse(badform[i].body, strlen(badform[i].body), &f,
                                &err),
              SB_EVALIDATE);
    CHECK_HAS(err.msg, badform[i].want);
    sb_whk_form_free(&f);
  }
  char *many = malloc(SB_WHK_FORM_PARAMS * 8 + 16);
  size_t n = 0;
  for (int i = 0; i <= SB_WHK_FORM_PARAMS; i++)
    n += (size_t)sprintf(many + n, "p%d=&", i);
  sb_err_clear(&err);
  CHECK_INT(sb_whk_form_parse(many, n, &f, &err), SB_EVALIDATE);
  CHECK_HAS(err.msg, "more than 128 parameters");
  sb_whk_form_free(&f);
  free(many);
  return 0;
}

/* The shape of Meta's documented examples (a status with an error and a
 * text message). */
int test_webhook_parse_whatsapp(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_whk_batch_t b;
  static const char body[] =
      "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"WABA1\","
      "\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\","
      "\"metadata\":{\"display_phone_number\":\"15550001111\","
      "\"phone_number_id\":\"PN1\"},"
      "\"statuses\":[{\"id\":\"wamid.A\",\"status\":\"failed\","
      "\"timestamp\":\"1700000000\",\"recipient_id\":\"16315551234\","
      "\"biz_opaque_callback_data\":\"msg-7\",\"errors\":[{\"code\":131026,"
      "\"title\":\"Message undeliverable\"}]},{\"id\":\"wamid.A\","
      "\"status\":\"read\",\"timestamp\":\"1700000005\"}],"
      "\"contacts\":[{\"wa_id\":\"16315551234\"}],"
      "\"messages\":[{\"from\":\"16315551234\",\"id\":\"wamid.B\","
      "\"timestamp\":\"1700000010\",\"type\":\"text\",\"text\":{\"body\":"
      "\"STOP\"}}]},\"field\":\"messages\"},{\"value\":{},\"field\":"
      "\"account_update\"}]}]}";
  CHECK_OK(sb_whk_whatsapp_parse(LIT(body), &b, &err), &err);
  CHECK_INT(b.n, 3);
  CHECK_INT(b.ignored, 1);
  CHECK_STR(b.items[0].status, "failed");
  CHECK_STR(b.items[0].message_id, "msg-7");
  CHECK_STR(b.items[0].error_code, "131026");
  CHECK_STR(b.items[0].error_message, "Message undeliverable");
  CHECK_INT(b.items[0].reported_at_us, 1700000000000000LL);
  CHECK_STR(b.items[1].status, "read");
  CHECK(b.items[1].message_id == NULL);
  CHECK_STR(b.items[1].provider_message_id, "wamid.A");
  CHECK_INT(b.items[2].kind, SB_WHK_INBOUND);
  CHECK_STR(b.items[2].from, "+16315551234");
  CHECK_STR(b.items[2].to, "15550001111");
  CHECK_STR(b.items[2].keyword, "STOP");
  sb_whk_batch_free(&b);
  /* a status Meta adds later is ignored, the others kept; an id not ours
   * gives way to the provider's */
  static const char later[] =
      "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
      "\"field\":\"messages\",\"value\":{\"statuses\":[{\"id\":\"w1\","
      "\"status\":\"deleted\"},{\"id\":\"w2\",\"status\":\"sent\","
      "\"biz_opaque_callback_data\":\"has space\"}]}}]}]}";
  CHECK_OK(sb_whk_whatsapp_parse(LIT(later), &b, &err), &err);
  CHECK_INT(b.n, 1);
  CHECK_INT(b.ignored, 1);
  CHECK(b.items[0].message_id == NULL);
  CHECK_STR(b.items[0].provider_message_id, "w2");
  sb_whk_batch_free(&b);
  static const struct {
    const char *body, *want;
  } bad[] = {
      {"[]", "object"},
      {"{\"object\":\"page\"}", "object"},
      {"{\"object\":\"whatsapp_business_account\"}", "entry"},
      {"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
       "\"field\":\"messages\",\"value\":{\"statuses\":[{\"id\":\"w\"}]}}"
       "]}]}",
       "status missing"},
      {"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
       "\"field\":\"messages\",\"value\":{\"messages\":[{\"id\":\"w\"}]}}]}]}",
       "from missing"},
      {"{\"object\":", "JSON"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sb_err_clear(&err);
    CHECK(sb_whk_whatsapp_parse(bad[i].body, strlen(bad[i].body), &b, &err) !=
          0);
    CHECK_HAS(err.msg, bad[i].want);
    sb_whk_batch_free(&b);
  }
  return 0;
}

/* The shape of SendGrid's event webhook documentation. */
int test_webhook_parse_sendgrid(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_whk_batch_t b;
  static const char body[] =
      "[{\"email\":\"a@example.com\",\"timestamp\":1700000000,\"event\":"
      "\"processed\",\"sg_event_id\":\"e1\",\"sg_message_id\":\"sg1.f\","
      "\"sb_message_id\":\"msg-1\"},"
      "{\"email\":\"a@example.com\",\"timestamp\":1700000001,\"event\":"
      "\"bounce\",\"sg_event_id\":\"e2\",\"sg_message_id\":\"sg1.f\","
      "\"sb_message_id\":\"msg-1\",\"status\":\"5.1.1\",\"reason\":\"no such "
      "user\",\"type\":\"bounce\"},"
      "{\"email\":\"a@example.com\",\"timestamp\":1700000002,\"event\":"
      "\"click\",\"sg_event_id\":\"e3\",\"url\":\"https://x\"},"
      "{\"email\":\"a@example.com\",\"timestamp\":1700000003,\"event\":"
      "\"unsubscribe\",\"sg_event_id\":\"e4\",\"sg_message_id\":\"sg1.f\"},"
      "{\"email\":\"b@example.com\",\"timestamp\":1700000004,\"event\":"
      "\"open\",\"sg_event_id\":\"e5\",\"sg_message_id\":\"sg2.f\"}]";
  CHECK_OK(sb_whk_sendgrid_parse(LIT(body), &b, &err), &err);
  CHECK_INT(b.n, 4);
  CHECK_INT(b.ignored, 1);
  CHECK_STR(b.items[0].status, "submitted");
  CHECK_STR(b.items[0].message_id, "msg-1");
  CHECK_STR(b.items[1].status, "undelivered");
  CHECK_STR(b.items[1].error_code, "5.1.1");
  CHECK_STR(b.items[1].error_message, "no such user");
  CHECK_INT(b.items[2].kind, SB_WHK_OPT_OUT);
  CHECK_STR(b.items[2].method, "unsubscribe_link");
  CHECK_STR(b.items[2].address, "a@example.com");
  CHECK_STR(b.items[3].status, "read");
  CHECK(b.items[3].message_id == NULL);
  CHECK_STR(b.items[3].provider_message_id, "sg2.f");
  CHECK_STR(b.items[3].event_key, "e5");
  sb_whk_batch_free(&b);
  static const struct {
    const char *body, *want;
  } bad[] = {
      {"{}", "JSON array"},
      {"[1]", "expected an object"},
      {"[{\"event\":\"delivered\"}]", "sg_event_id"},
      {"[{\"event\":\"delivered\",\"sg_event_id\":\"e\"}]",
       "neither sb_message_id nor sg_message_id"},
      {"[{\"sg_event_id\":\"e\"}]", "event missing"},
      {"[{\"event\":\"spamreport\",\"sg_event_id\":\"e\","
       "\"sg_message_id\":\"m\"}]",
       "without email"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sb_err_clear(&err);
    CHECK(sb_whk_sendgrid_parse(bad[i].body, strlen(bad[i].body), &b, &err) !=
          0);
    CHECK_HAS(err.msg, bad[i].want);
    sb_whk_batch_free(&b);
  }
  /* bounded: more than SB_WHK_MAX_ITEMS events */
  size_t cap = (SB_WHK_MAX_ITEMS + 1) * 4 + 8, n = 0;
  char *many = malloc(cap);
  many[n++] = '[';
  for (int i = 0; i <= SB_WHK_MAX_ITEMS; i++)
    n += (size_t)snprintf(many + n, cap - n, "%s{}", i ? "," : "");
  many[n++] = ']';
  sb_err_clear(&err);
  CHECK(sb_whk_sendgrid_parse(many, n, &b, &err) != 0);
  CHECK_HAS(err.msg, "more than 1000 events");
  sb_whk_batch_free(&b);
  free(many);
  return 0;
}
