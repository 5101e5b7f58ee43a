/* The retention processor: each tenant's retention policies
 * (retention.policy_set) enforced on timers through the kit's purges and
 * shredding, each run's counts emitted as retention.purged; projections
 * retention.policies and retention.purges. See retention.c. */
#ifndef SB_RETENTION_PROCESSOR_H
#define SB_RETENTION_PROCESSOR_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_retention_processor;

#endif
