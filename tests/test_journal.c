/* The embedded broker's journal: its checksum and the durable offsets that
 * other processes read (sb_journal.h). The journal itself, restarts and
 * torn tails are driven through the real binary in tests/cli/journal.sh. */
#include "sb_test.h"
#include "sb_tests.h"

#include "sb_conf.h"
#include "sb_journal.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <stdlib.h>
#include <unistd.h>

int test_journal_crc32c(void) {
  /* the standard check value of CRC-32C */
  CHECK_INT(sb_crc32c(0, "123456789", 9), 0xE3069283u);
  /* continuing equals one pass */
  CHECK_INT(sb_crc32c(sb_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
  CHECK_INT(sb_crc32c(0, "", 0), 0);
  CHECK_INT(sb__crc32c_table(0, "123456789", 9), 0xE3069283u);
  /* the CPU's instruction (where there is one) and the table agree at
   * every length and alignment, and when continued at any split */
  unsigned char buf[300];
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
  for (size_t off = 0; off < 9; off++)
    for (size_t n = 0; n + off <= sizeof buf; n += 7) {
      uint32_t want = sb__crc32c_table(0, buf + off, n);
      CHECK_INT(sb_crc32c(0, buf + off, n), want);
      CHECK_INT(sb_crc32c(sb_crc32c(0, buf + off, n / 3), buf + off + n / 3,
                          n - n / 3), want);
    }
  return 0;
}

int test_journal_durable_offsets(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_conf_t c;
  char dir[] = "/tmp/sb-journal-XXXXXX", kdir[64];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(kdir, sizeof kdir, "%s/kafka", dir);
  CHECK_OK(sb_mkdir_p(kdir, 0700, &err), &err);
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_conf_set(&c, "data_dir", dir, SB_CO_FLAG, NULL, &err), &err);
  CHECK_OK(sb_conf_set(&c, "brokers", "127.0.0.1:1", SB_CO_FLAG, NULL, &err),
           &err);
  sb_durable_t *r = NULL, *w = NULL;
  /* no `up` here: not attached, not an error */
  CHECK_OK(sb_durable_attach(&c, &r, &err), &err);
  CHECK(r == NULL);
  int64_t next[64] = {0};
  CHECK((size_t)2 * sb_topics_n <= 64);
  next[1] = 5; /* topic 0, partition 1 */
  CHECK_OK(sb__durable_create(kdir, "00ff", "127.0.0.1:1", 2, 1 << 20, next,
                              &w, &err),
           &err);
  /* another broker's file is not ours */
  CHECK_OK(sb_conf_set(&c, "brokers", "127.0.0.1:2", SB_CO_FLAG, NULL, &err),
           &err);
  CHECK_OK(sb_durable_attach(&c, &r, &err), &err);
  CHECK(r == NULL);
  CHECK_OK(sb_conf_set(&c, "brokers", "127.0.0.1:1", SB_CO_FLAG, NULL, &err),
           &err);
  CHECK_OK(sb_durable_attach(&c, &r, &err), &err);
  CHECK(r != NULL);
  int ti = sb_durable_topic(sb_topics[0]);
  CHECK_INT(ti, 0);
  CHECK_INT(sb_durable_topic("not.ours"), -1);
  CHECK_INT(sb_durable_check(r, ti, 1, 4, NULL), 1);
  CHECK_INT(sb_durable_check(r, ti, 1, 5, NULL), 0);
  CHECK_INT(sb_durable_check(r, -1, 0, 99, NULL), 1); /* not journaled */
  /* published by the writer, seen by the reader */
  sb__durable_publish(w, ti, 1, 9);
  CHECK_INT(sb_durable_check(r, ti, 1, 8, NULL), 1);
  CHECK_OK(sb_durable_wait(r, sb_topics[0], 1, 9, 100, &err), &err);
  sb_err_t late = SB_ERR_INIT;
  CHECK_INT(sb_durable_wait(r, sb_topics[0], 1, 10, 50, &late), SB_ETIMEDOUT);
  CHECK_HAS(late.msg, "did not make");
  /* a full partition: refused at once, naming the bound */
  sb__durable_full(w, ti, 0, 0);
  sb_err_t full = SB_ERR_INIT;
  CHECK(sb_durable_check(r, ti, 0, 0, &full) < 0);
  CHECK_HAS(full.msg, "embedded.partition_max_bytes (1048576 bytes)");
  CHECK_HAS(full.msg, "is full");
  /* a stopped journal: every wait fails with its reason */
  sb__durable_fail(w, "disk full");
  sb_err_t stopped = SB_ERR_INIT;
  CHECK(sb_durable_check(r, ti, 1, 20, &stopped) < 0);
  CHECK_HAS(stopped.msg, "disk full");
  /* the epoch of the journal's log */
  char epoch[96];
  CHECK_OK(sb_log_epoch(&c, NULL, epoch, sizeof epoch, &err), &err);
  CHECK_STR(epoch, "journal:00ff");
  sb_durable_detach(r);
  sb_durable_detach(w);
  sb_conf_free(&c);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_INT(system(cmd), 0);
  return 0;
}
