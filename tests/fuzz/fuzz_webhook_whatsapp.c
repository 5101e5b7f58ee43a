/* Fuzz target: WhatsApp Cloud API callback bodies (sb_whk_whatsapp_parse)
 * and X-Hub-Signature-256: a batch that parses is bounded and complete
 * (fuzz_webhook.h); the input as a signature header never verifies. */
#include "fuzz_webhook.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sb_err_t err = SB_ERR_INIT;
  sb_whk_batch_t b;
  size_t i = 0;
  if (sb_whk_whatsapp_parse((const char *)data, size, &b, &err) == 0)
    whk_check_batch(&b);
  else if (err.msg[0] == '\0')
    WHK_FAIL("a refusal without a message");
  sb_whk_batch_free(&b);
  char hdr[128];
  size_t n = size < sizeof hdr - 1 ? size : sizeof hdr - 1;
  memcpy(hdr, data, n);
  hdr[n] = '\0';
  sb_err_clear(&err);
  if (sb_whk_hub_verify("secret", (const char *)data, size, hdr, &err) == 0)
    WHK_FAIL("the body verifies as its own signature");
  return 0;
}
