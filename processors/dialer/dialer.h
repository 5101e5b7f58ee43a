/* The dialer processor: call.dial_requested into the AMI connector's
 * outbox (dialer.outbox), once a dial_id; the requests and their results
 * (call.dial_result) as projections. See dialer.c. */
#ifndef SB_DIALER_H
#define SB_DIALER_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_dialer_processor;

#endif
