/* Fuzz target: SendGrid's event webhook bodies (sb_whk_sendgrid_parse) and
 * its ECDSA check: a batch that parses is bounded and complete
 * (fuzz_webhook.h); the input as a signature (and as a key) never
 * verifies. */
#include "fuzz_webhook.h"

#include <stdint.h>

static const char key[] =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjc"
    "MMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sb_err_t err = SB_ERR_INIT;
  sb_whk_batch_t b;
  size_t i = 0;
  if (sb_whk_sendgrid_parse((const char *)data, size, &b, &err) == 0)
    whk_check_batch(&b);
  else if (err.msg[0] == '\0')
    WHK_FAIL("a refusal without a message");
  sb_whk_batch_free(&b);
  char s[256];
  size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
  memcpy(s, data, n);
  s[n] = '\0';
  sb_err_clear(&err);
  if (sb_whk_sendgrid_verify(key, "1588788367", (const char *)data, size, s,
                             &err) == 0)
    WHK_FAIL("a forged signature verifies");
  sb_err_clear(&err);
  if (sb_whk_sendgrid_verify(s, "1588788367", "x", 1, "AAAA", &err) == 0)
    WHK_FAIL("a forged key verifies");
  return 0;
}
