/* The gdpr processor: data subject requests (dsar.received,
 * dsar.completed) and erasures (subject.erased) as projections
 * gdpr.requests and gdpr.erasures; see gdpr.c. */
#ifndef SB_GDPR_H
#define SB_GDPR_H

#include "sb_processor.h"

#include <stdint.h>

extern const sb_processor_vt_t sb_gdpr_processor;

/* One calendar month after t_us (UTC, microseconds), the day clamped to
 * the month's last: a request's due date when it names none. */
int64_t sb_gdpr_one_month_after(int64_t t_us);

#endif
