/* The processors built into the switchboard binary. */
#include "audit.h"

const sb_processor_vt_t *const sb_builtin_processors[] = {
    &sb_audit_processor,
    NULL,
};
