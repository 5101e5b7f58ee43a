/* sbt_seal: seals values as ingest would, for tests that write sealed
 * columns themselves (the dispatcher's, until the comms processor fills
 * comms.outbox and comms.providers from events).
 *
 *   sbt_seal DATABASE_URL KEY_FILE TENANT SUBJECT < lines
 *
 * Each input line "TYPE<TAB>FIELD<TAB>VALUE" gives one output line: the
 * envelope of VALUE under SUBJECT's data key, AAD tenant, TYPE and FIELD. */
#include "sb_conf.h"
#include "sb_keys.h"
#include "sb_pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: sbt_seal DATABASE_URL KEY_FILE TENANT SUBJECT\n");
    return 2;
  }
  sb_err_t err = SB_ERR_INIT;
  sb_conf_t c;
  sb_keys_t *k = NULL;
  int rc = 1;
  if (sb_conf_init(&c, &err) != 0 ||
      sb_conf_set(&c, "database_url", argv[1], SB_CO_FLAG, NULL, &err) != 0 ||
      sb_conf_set(&c, "pii.key_file", argv[2], SB_CO_FLAG, NULL, &err) != 0 ||
      sb_keys_open(&c, &k, &err) != 0)
    goto out;
  sb_keys_seal_t req = {.tenant = argv[3], .subject = argv[4]};
  if (sb_keys_for_seal(k, &req, 1, &err) != 0)
    goto out;
  char line[8192], out[16384];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = '\0';
    char *type = line, *field = strchr(type, '\t'), *value;
    if (field == NULL || (value = strchr(field + 1, '\t')) == NULL) {
      fprintf(stderr, "sbt_seal: want TYPE<TAB>FIELD<TAB>VALUE\n");
      goto out;
    }
    *field++ = '\0';
    *value++ = '\0';
    /* "\n" in a value stands for a newline */
    char plain[8192];
    size_t n = 0;
    for (const char *p = value; *p && n + 1 < sizeof plain; p++) {
      if (p[0] == '\\' && p[1] == 'n') {
        plain[n++] = '\n';
        p++;
      } else {
        plain[n++] = *p;
      }
    }
    if (sb_pii_seal(req.dek, req.key_id, argv[3], type, field, plain, n, out,
                    sizeof out, &err) != 0)
      goto out;
    printf("%s\n", out);
  }
  rc = 0;
out:
  if (rc != 0)
    fprintf(stderr, "sbt_seal: %s\n", err.msg);
  sb_keys_free(k);
  sb_conf_free(&c);
  return rc;
}
