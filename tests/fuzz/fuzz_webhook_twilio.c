/* Fuzz target: Twilio's form bodies (sb_whk_form_parse, the status and
 * inbound parsers) and its signature. A form that parses has named,
 * distinct, NUL-free parameters; a signature it makes verifies, and one
 * altered does not. */
#include "fuzz_webhook.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sb_err_t err = SB_ERR_INIT;
  sb_whk_form_t f;
  sb_whk_batch_t b;
  size_t i = 0;
  if (sb_whk_form_parse((const char *)data, size, &f, &err) != 0) {
    if (err.msg[0] == '\0')
      WHK_FAIL("a refusal without a message");
    sb_whk_form_free(&f);
    return 0;
  }
  for (i = 0; i < f.n; i++) {
    if (f.p[i].name[0] == '\0')
      WHK_FAIL("a parameter without name");
    for (size_t k = 0; k < i; k++)
      if (strcmp(f.p[k].name, f.p[i].name) == 0)
        WHK_FAIL("a parameter twice");
  }
  const char *m = f.n > 0 ? f.p[0].value : NULL;
  sb_err_clear(&err);
  if (sb_whk_twilio_parse_status(&f, m, &b, &err) == 0)
    whk_check_batch(&b);
  sb_whk_batch_free(&b);
  sb_err_clear(&err);
  if (sb_whk_twilio_parse_inbound(&f, &b, &err) == 0)
    whk_check_batch(&b);
  sb_whk_batch_free(&b);
  char sig[64];
  const char *url = "https://example.com/v1/webhooks/twilio/t/a/status?m=1";
  sb_err_clear(&err);
  if (sb_whk_twilio_sign("token", url, &f, sig, sizeof sig, &err) != 0 ||
      sb_whk_twilio_verify("token", url, &f, sig, &err) != 0)
    WHK_FAIL("a signature made does not verify");
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  if (sb_whk_twilio_verify("token", url, &f, sig, &err) != SB_EPERM)
    WHK_FAIL("an altered signature verifies");
  sb_whk_form_free(&f);
  return 0;
}
