/* sb_tests NAME runs one test (CTest runs each in its own process, with a
 * timeout); sb_tests --list prints the names; sb_tests alone runs all. */
#include "sb_tests.h"

#include "sb_log.h"
#include "sb_processor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *name;
  int (*fn)(void);
} test_t;

static const test_t tests[] = {
#define X(name, labels) {#name, test_##name},
    SB_TEST_LIST(X)
#undef X
};

int main(int argc, char **argv) {
  size_t n = sizeof tests / sizeof tests[0];
  /* SB_TEST_DEBUG=1 shows every log line, librdkafka's debug included */
  const char *dbg = getenv("SB_TEST_DEBUG");
  sb_log_setup(dbg && *dbg == '1' ? SB_LOG_DEBUG : SB_LOG_WARN, SB_LOG_TEXT);
  sb_err_t cerr = SB_ERR_INIT;
  if (sb_processors_add_conf(&cerr) != 0) {
    fprintf(stderr, "processors' configuration: %s\n", cerr.msg);
    return 1;
  }
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < n; i++)
      printf("%s\n", tests[i].name);
    return 0;
  }
  int failed = 0, ran = 0;
  for (size_t i = 0; i < n; i++) {
    if (argc >= 2 && strcmp(argv[1], tests[i].name) != 0)
      continue;
    ran++;
    int rc = tests[i].fn();
    printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", tests[i].name);
    failed += rc != 0;
  }
  if (ran == 0) {
    fprintf(stderr, "no test named '%s' (see --list)\n", argc >= 2 ? argv[1] : "");
    return 2;
  }
  return failed ? 1 : 0;
}
