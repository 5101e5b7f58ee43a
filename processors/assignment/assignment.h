/* The assignment processor: the one decision-maker of each tenant's
 * routing.
 *
 * It reads sb.routing, where every input of a tenant's routing decisions
 * (routing.input: agents' availability, leads ready or withdrawn, queues'
 * configuration, ticks of time) is keyed by the tenant, so one partition
 * holds all of a tenant's inputs in one order and one instance at a time
 * decides for it: two instances can never give one agent's last free slot
 * to two leads, and a replay of the partition makes the same decisions
 * (the book is a pure function of the inputs, book.h; time is the inputs'
 * time, never the clock). Its book lives in keyed state (one key per agent,
 * queue and waiting lead, "<tenant>/a|q|l/<id>", and the tenant's clock),
 * restored with sb_state_scan on first use after an assignment or a
 * failed batch.
 *
 * Each decision is emitted as routing.decision (with its explanation) and,
 * for an assignment, lead.assigned (on the lead's partition of sb.leads,
 * where the WebSocket feed tells the agent); ids derived from the input and
 * the decision's place among the input's decisions. When something falls
 * due (a reservation's end, a wait passing a queue's relaxation point) a
 * wall-clock timer per tenant sends routing.input tick through the log.
 *
 * Projections: assignment.waiting (the leads waiting, with score and since
 * when) and assignment.decisions (every decision with its explanation). */
#ifndef SB_ASSIGNMENT_H
#define SB_ASSIGNMENT_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_assignment_processor;

#endif
