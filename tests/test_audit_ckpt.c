/* Signed checkpoints of the audit log (issue 10, item 16): the key is made
 * once, 0600, with its public half beside it; a checkpoint verifies with
 * that public key and with no other; one changed byte, a cut signature or
 * a key readable by others is refused, each saying so. */
#include "audit_checkpoint.h"
#include "sb_sign.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int test_audit_checkpoint_signed(void) {
  sb_err_t err = SB_ERR_INIT;
  char dir[] = "/tmp/sbt-ckpt-XXXXXX", other[] = "/tmp/sbt-ckpt2-XXXXXX";
  CHECK(mkdtemp(dir) != NULL && mkdtemp(other) != NULL);
  sb_sigkey_t *priv = NULL, *pub = NULL, *priv2 = NULL, *again = NULL;
  CHECK_INT(sb_sigkey_load_private(dir, 0, &priv, &err), SB_ENOENT);
  sb_err_clear(&err);
  CHECK_OK(sb_sigkey_load_private(dir, 1, &priv, &err), &err);
  CHECK_OK(sb_sigkey_load_private(dir, 1, &again, &err), &err); /* not remade */
  CHECK_STR(sb_sigkey_id(again), sb_sigkey_id(priv));
  CHECK_OK(sb_sigkey_load_public(dir, &pub, &err), &err);
  CHECK_STR(sb_sigkey_id(pub), sb_sigkey_id(priv));
  CHECK_OK(sb_sigkey_load_private(other, 1, &priv2, &err), &err);
  CHECK(strcmp(sb_sigkey_id(priv2), sb_sigkey_id(priv)) != 0);
  char path[256];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, SB_SIGN_KEY_FILE);
  CHECK(stat(path, &st) == 0);
  CHECK_INT(st.st_mode & 0777, 0600);

  sb_ckpt_chain_t c[2];
  memset(c, 0, sizeof c);
  snprintf(c[0].tenant, sizeof c[0].tenant, "acme");
  snprintf(c[0].topic, sizeof c[0].topic, "sb.leads");
  c[0].partition = 3;
  c[0].seq = 42;
  c[0].offset = 1234;
  memset(c[0].hash, 0xab, 32);
  c[1] = c[0];
  snprintf(c[1].tenant, sizeof c[1].tenant, "globex \"quoted\"");
  c[1].seq = 1;
  char *line = NULL;
  size_t len = 0, n = 0;
  char time[40];
  sb_ckpt_chain_t *got = NULL;
  CHECK_OK(sb_ckpt_encode(priv, c, 2, &line, &len, &err), &err);
  CHECK_INT(strlen(line), len);
  CHECK(strchr(line, '\n') == NULL);
  CHECK_OK(sb_ckpt_decode(pub, line, len, &got, &n, time, &err), &err);
  CHECK_INT(n, 2);
  CHECK_STR(got[1].tenant, "globex \"quoted\"");
  CHECK_INT(got[0].seq, 42);
  CHECK_INT(got[0].offset, 1234);
  CHECK_INT(got[0].partition, 3);
  CHECK(memcmp(got[0].hash, c[0].hash, 32) == 0);
  CHECK(time[0] == '2');
  free(got);
  got = NULL;

  /* another data directory's key does not verify it */
  sb_err_clear(&err);
  CHECK_INT(sb_ckpt_decode(priv2, line, len, &got, &n, time, &err), SB_ECRYPTO);
  CHECK_HAS(err.msg, "bad signature");
  /* one changed byte anywhere in the body, or in the signature */
  char *seq = strstr(line, "\"seq\":42");
  CHECK(seq != NULL);
  seq[6] = '5';
  sb_err_clear(&err);
  CHECK_INT(sb_ckpt_decode(pub, line, len, &got, &n, time, &err), SB_ECRYPTO);
  seq[6] = '4';
  line[len - 1] = line[len - 1] == '0' ? '1' : '0';
  sb_err_clear(&err);
  CHECK_INT(sb_ckpt_decode(pub, line, len, &got, &n, time, &err), SB_ECRYPTO);
  /* a cut line is not a checkpoint */
  sb_err_clear(&err);
  CHECK_INT(sb_ckpt_decode(pub, line, len - 10, &got, &n, time, &err),
            SB_EDECODE);
  CHECK(got == NULL);

  /* appended whole, one line each */
  sb_err_clear(&err);
  CHECK_OK(sb_ckpt_append(dir, "a\tb", 3, &err), &err);
  CHECK_OK(sb_ckpt_append(dir, "c\td", 3, &err), &err);
  char *text = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, SB_CKPT_FILE);
  CHECK_OK(sb_read_file(path, 100, &text, NULL, &err), &err);
  CHECK_STR(text, "a\tb\nc\td\n");
  free(text);

  /* a key others may read is refused, and the error says what to do */
  snprintf(path, sizeof path, "%s/%s", dir, SB_SIGN_KEY_FILE);
  CHECK(chmod(path, 0644) == 0);
  sb_sigkey_free(again);
  again = NULL;
  CHECK_INT(sb_sigkey_load_private(dir, 1, &again, &err), SB_EPERM);
  CHECK_HAS(err.msg, "chmod 600");

  free(line);
  sb_sigkey_free(priv);
  sb_sigkey_free(priv2);
  sb_sigkey_free(pub);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, other);
  CHECK(system(cmd) == 0);
  return 0;
}
