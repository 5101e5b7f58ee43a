#include "sb_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_hist_observe(sb_hist_t *h, double v) {
  size_t i = 0;
  while (i < h->n && v > h->bounds[i])
    i++;
  atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
  if (v > 0)
    atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)(v * 1e6 + 0.5),
                              memory_order_relaxed);
}

void sb_metric_head(sb_text_t *t, const char *name, const char *type,
                    const char *help) {
  sb_text_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sb_hist_emit(sb_text_t *t, const char *name, const char *labels,
                  sb_hist_t *h) {
  const char *sep = labels && *labels ? "," : "";
  if (labels == NULL)
    labels = "";
  uint64_t cum = 0;
  for (size_t i = 0; i <= h->n; i++) {
    cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    if (i < h->n)
      sb_text_add(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                  h->bounds[i], (unsigned long long)cum);
    else
      sb_text_add(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                  (unsigned long long)cum);
  }
  double sum = (double)atomic_load(&h->sum_micro) / 1e6;
  if (*labels)
    sb_text_add(t, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, sum,
                name, labels, (unsigned long long)cum);
  else
    sb_text_add(t, "%s_sum %.6f\n%s_count %llu\n", name, sum, name,
                (unsigned long long)cum);
}
