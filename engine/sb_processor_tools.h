/* The kit for a processor's own commands (`switchboard audit verify`,
 * `audit export`): what runs outside the pipeline, on a command's behalf,
 * and needs more than the callbacks of sb_processor.h: the Kafka log read
 * back (sb_logread), the journal of acknowledged events (sb_journal), the
 * schemas and topics, signing keys (sb_sign), a pipeline run to the end of
 * the log (sb_pipeline). A processor's files include sb_processor.h and,
 * for such commands, this header; no other engine header
 * (scripts/check_layers.sh). None of these exposes librdkafka, libpq or
 * avro-c. */
#ifndef SB_PROCESSOR_TOOLS_H
#define SB_PROCESSOR_TOOLS_H

#include "sb_processor.h"

#include "sb_journal.h"
#include "sb_logread.h"
#include "sb_pipeline.h"
#include "sb_schema.h"
#include "sb_sign.h"
#include "sb_topics.h"
#include "sb_util.h"

#endif
