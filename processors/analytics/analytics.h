/* analytics: the analytics processor (processors/analytics/). */
#ifndef SB_ANALYTICS_H
#define SB_ANALYTICS_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_analytics_processor;

#endif
