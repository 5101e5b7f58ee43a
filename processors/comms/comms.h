/* The comms processor: message requests checked (consent, do-not-call,
 * quiet hours, template, provider account) into message.blocked or an
 * outbox row for the dispatcher; statuses applied by rank; templates,
 * provider accounts and delivery statistics. See comms.c. */
#ifndef SB_COMMS_H
#define SB_COMMS_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_comms_processor;

#endif
