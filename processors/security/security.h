/* The security processor: the security_events projection (failed logins,
 * denied requests, anomalies per address, reads and sign-ins per user and
 * day) from sb.compliance. See security.c. */
#ifndef SB_SECURITY_H
#define SB_SECURITY_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_security_processor;

#endif
