/* The automation processor: tenants' rules of the form "when an event of
 * a type matches a condition, then these actions" (see automation.c;
 * README.md, "Automation rules"). */
#ifndef SB_AUTOMATION_H
#define SB_AUTOMATION_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_automation_processor;

#endif
