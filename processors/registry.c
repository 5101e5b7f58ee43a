/* The processors built into the switchboard binary (and, in a build with
 * the test suite, the kit's test processor, tests/kit/kittest.c). */
#include "assignment.h"
#include "audit.h"
#include "gdpr.h"
#include "security.h"
#include "rbac.h"
#include "compliance.h"
#include "retention.h"
#include "campaigns.h"
#include "routing.h"
#include "automation.h"
#include "analytics.h"
#include "gamification.h"
#include "comms.h"
#include "dialer.h"

#ifdef SB_WITH_TEST_PROCESSORS
extern const sb_processor_vt_t sb_kittest_processor;
#endif

const sb_processor_vt_t *const sb_builtin_processors[] = {
    &sb_audit_processor,
    &sb_gdpr_processor,
    &sb_security_processor,
    &sb_rbac_processor,
    &sb_compliance_processor,
    &sb_assignment_processor,
    &sb_retention_processor,
    &sb_campaigns_processor,
    &sb_routing_processor,
    &sb_automation_processor,
    &sb_analytics_processor,
    &sb_gamification_processor,
    &sb_comms_processor,
    &sb_dialer_processor,
#ifdef SB_WITH_TEST_PROCESSORS
    &sb_kittest_processor,
#endif
    NULL,
};
