/* The topics of DESIGN.md, created by `up` on the embedded broker and on
 * real brokers when missing. */
#ifndef SB_TOPICS_H
#define SB_TOPICS_H

#include <stddef.h>

#define SB_TOPIC_LEADS "sb.leads"
#define SB_TOPIC_CALLS "sb.calls"
#define SB_TOPIC_AGENTS "sb.agents"
#define SB_TOPIC_MESSAGES "sb.messages"
#define SB_TOPIC_CAMPAIGNS "sb.campaigns"
#define SB_TOPIC_COMPLIANCE "sb.compliance"
#define SB_TOPIC_GAMIFICATION "sb.gamification"
#define SB_TOPIC_DEADLETTER "sb.deadletter"
/* signed checkpoints of the audit log's chain heads (processors/audit.c) */
#define SB_TOPIC_AUDIT_CHECKPOINTS "sb.audit.checkpoints"
/* tenant.created, tenant.settings_changed: a tenant's time zone, locale,
 * currency, readable by every processor */
#define SB_TOPIC_TENANTS "sb.tenants"
/* routing.input and routing.decision, keyed by tenant: the inputs of a
 * tenant's one decision-maker (processors/assignment), in one order */
#define SB_TOPIC_ROUTING "sb.routing"
/* CloudEvents producers write straight to Kafka: binary mode (ce_* headers,
 * JSON data) or structured JSON; the ingest worker validates them as HTTP
 * ingest does and produces them to their topics (connectors/ingest) */
#define SB_TOPIC_INGEST "sb.ingest"

extern const char *const sb_topics[];
extern const size_t sb_topics_n;

#endif
