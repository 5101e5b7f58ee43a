/* Test helper: seals a value as ingest seals an sb.pii field, for the
 * tests that need sealed rows no event writes yet (the webhooks' test
 * fills comms.providers until the comms processor's migrations land).
 *
 *   sbt_seal DATA_DIR DATABASE_URL TENANT SUBJECT EVENT_TYPE FIELD < plain
 *
 * Uses the key file of DATA_DIR and the data keys of DATABASE_URL (those
 * of a running `up`); prints the envelope sbx1.<key_id>.<...>. */
#include "sb_conf.h"
#include "sb_keys.h"
#include "sb_pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  sb_err_t err = SB_ERR_INIT;
  sb_conf_t c;
  sb_keys_t *k = NULL;
  char plain[8192], out[16384];
  if (argc != 7) {
    fprintf(stderr, "usage: sbt_seal DATA_DIR DATABASE_URL TENANT SUBJECT "
                    "EVENT_TYPE FIELD < plaintext\n");
    return 2;
  }
  size_t n = fread(plain, 1, sizeof plain - 1, stdin);
  plain[n] = '\0';
  if (sb_conf_init(&c, &err) != 0 ||
      sb_conf_set(&c, "data_dir", argv[1], SB_CO_FLAG, NULL, &err) != 0 ||
      sb_conf_set(&c, "database_url", argv[2], SB_CO_FLAG, NULL, &err) != 0 ||
      sb_keys_open(&c, &k, &err) != 0)
    goto fail;
  argv++; /* the rest as before the URL */
  sb_keys_seal_t req = {.tenant = argv[2], .subject = argv[3]};
  if (sb_keys_for_seal(k, &req, 1, &err) != 0 ||
      sb_pii_seal(req.dek, req.key_id, argv[2], argv[4], argv[5], plain, n,
                  out, sizeof out, &err) != 0)
    goto fail;
  sb_pii_wipe(req.dek, sizeof req.dek);
  printf("%s\n", out);
  sb_keys_free(k);
  sb_conf_free(&c);
  return 0;
fail:
  fprintf(stderr, "sbt_seal: %s\n", err.msg);
  sb_keys_free(k);
  return 1;
}
