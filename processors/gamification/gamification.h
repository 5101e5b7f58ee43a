/* gamification: points, badges and tiers, teams, rewards
 * (processors/gamification/gam_int.h; README.md "Gamification"). */
#ifndef SB_GAMIFICATION_H
#define SB_GAMIFICATION_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_gamification_processor;

#endif
