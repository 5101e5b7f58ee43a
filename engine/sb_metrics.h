/* Prometheus metrics: lock-free histograms any thread may observe, and a
 * exposition format (0.0.4), written into an sb_text_t.
 *
 *   static const double secs[] = {0.001, 0.01, 0.1, 1};
 *   sb_hist_t h = SB_HIST_INIT(secs);
 *   sb_hist_observe(&h, 0.004);
 *   sb_text_t t = {0};
 *   sb_hist_emit(&t, "switchboard_commit_seconds", "processor=\"audit\"", &h);
 */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include "sb_text.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SB_HIST_MAX 16

typedef struct sb_hist_s {
  const double *bounds; /* ascending upper bounds, +Inf implied */
  size_t n;
  _Atomic uint64_t counts[SB_HIST_MAX + 1]; /* per bucket, not cumulative */
  _Atomic uint64_t sum_micro;               /* sum of values x 1e6 */
} sb_hist_t;

#define SB_HIST_INIT(b) {.bounds = (b), .n = sizeof(b) / sizeof((b)[0])}

void sb_hist_observe(sb_hist_t *h, double v);

/* "# HELP name help\n# TYPE name type\n" */
void sb_metric_head(sb_text_t *t, const char *name, const char *type,
                    const char *help);
/* The _bucket, _sum and _count lines of h; labels ("a=\"b\"") may be "". */
void sb_hist_emit(sb_text_t *t, const char *name, const char *labels,
                  sb_hist_t *h);

#endif
