/* NDJSON bodies of POST /v1/events (sb_ingest_int.h). */
#include "sb_ingest_int.h"

#include <stdlib.h>
#include <string.h>

int sb__ingest_ndjson(const char *body, size_t len, int max, cJSON ***eventsp,
                      char ***lines_errp, int **lines_nop, int *np) {
  cJSON **events = NULL;
  char **lines_err = NULL;
  int *lines_no = NULL, n = 0;
  /* each line on its own: a bad line is that item's error, named by its
   * number in the body as an editor counts lines (blank ones included) */
  int cap = 0, line = 0;
  for (const char *p = body, *end = body + len; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
    int blank = 1;
    line++;
    for (size_t k = 0; k < ll && blank; k++)
      blank = p[k] == ' ' || p[k] == '\t' || p[k] == '\r';
    if (!blank) {
      if (n >= max) {
        n = max + 1; /* refused whole by the caller, never in part */
        break;
      }
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        cJSON **ne = realloc(events, (size_t)cap * sizeof *events);
        if (ne != NULL)
          events = ne;
        char **nle = realloc(lines_err, (size_t)cap * sizeof *lines_err);
        if (nle != NULL)
          lines_err = nle;
        int *nln = realloc(lines_no, (size_t)cap * sizeof *lines_no);
        if (nln != NULL)
          lines_no = nln;
        if (ne == NULL || nle == NULL || nln == NULL) {
          for (int i = 0; i < n; i++) {
            cJSON_Delete(events[i]);
            free(lines_err[i]);
          }
          free(events);
          free(lines_err);
          free(lines_no);
          return -1;
        }
      }
      sb_err_t perr = SB_ERR_INIT;
      events[n] = NULL;
      lines_err[n] = NULL;
      lines_no[n] = line;
      if (sb_json_parse(p, ll, &events[n], &perr) != 0)
        lines_err[n] = strdup(perr.msg);
      n++;
    }
    p += ll + 1;
  }
  *eventsp = events;
  *lines_errp = lines_err;
  *lines_nop = lines_no;
  *np = n;
  return 0;
}
