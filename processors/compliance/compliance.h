/* The compliance processor: consent and do-not-call state (see
 * compliance.c); other processors read it through consent.h. */
#ifndef SB_COMPLIANCE_H
#define SB_COMPLIANCE_H

#include "sb_processor.h"

#include <stdint.h>

extern const sb_processor_vt_t sb_compliance_processor;

/* Business days (Monday to Friday) after local day `from` up to and
 * including local day `to` (days since 1970-01-01; 0 when to <= from):
 * received on a Friday, applied the next Monday is 1. */
int64_t sb_compliance_business_days(int64_t from, int64_t to);

#define SB_COMPLIANCE_TCPA_DAYS 10 /* an opt-out is honoured within these */

#endif
