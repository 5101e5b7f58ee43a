/* The campaigns processor: campaign lifecycle on its start and end
 * times, dial windows and the TCPA's calling hours, attempts and
 * recycling of leads (see campaigns.c). Other processors ask the same
 * questions through callwindow.h. */
#ifndef SB_CAMPAIGNS_H
#define SB_CAMPAIGNS_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_campaigns_processor;

#endif
