#include "sb_topics.h"

const char *const sb_topics[] = {
    SB_TOPIC_LEADS,      SB_TOPIC_CALLS,        SB_TOPIC_AGENTS,
    SB_TOPIC_MESSAGES,   SB_TOPIC_CAMPAIGNS,    SB_TOPIC_COMPLIANCE,
    SB_TOPIC_GAMIFICATION, SB_TOPIC_DEADLETTER,
    SB_TOPIC_AUDIT_CHECKPOINTS,
    SB_TOPIC_TENANTS, /* appended: the indices above stay as they were */
    SB_TOPIC_ROUTING,
    SB_TOPIC_INGEST,
};
const size_t sb_topics_n = sizeof sb_topics / sizeof sb_topics[0];
