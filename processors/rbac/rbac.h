/* rbac: roles and who holds them, as data (issue 12, item 6).
 *
 * Reads role.granted / role.revoked (sb.compliance) and tenant.created
 * (sb.tenants) and keeps, per tenant, in schema rbac:
 *
 *   roles             the roles (admin, manager, supervisor, agent)
 *   permissions       what can be allowed: "<kind>:<pattern>", e.g.
 *                     "post_event:lead.*", "subscribe:sb.calls"
 *   role_permissions  which role has which permission
 *   user_roles        per (user, role, team): active or revoked, since
 *                     when, until when (expires_at), by whom, why
 *   tenants           tenants whose roles are managed as data: those with
 *                     at least one role event (managed_since)
 *
 * The first three are the seeded default, written for a tenant at its
 * tenant.created and with each of its role events: the built-in table of
 * connectors/auth (sb_auth_roles.c), of which rbac_default_grants is a
 * copy that the test rbac_defaults_match_auth keeps equal. No event
 * changes them yet.
 *
 * A change to user_roles or tenants notifies channel "sb_rbac" with the
 * tenant id (a trigger of the projection), delivered when the batch
 * commits: the API's role cache (connectors/auth/sb_authz.h) reloads that
 * tenant, so a revocation is refused within about a second. */
#ifndef RBAC_H
#define RBAC_H

#include "sb_processor.h"

extern const sb_processor_vt_t sb_rbac_processor;

/* The seeded default: role ("admin", ...), kind ("post_event", "subscribe",
 * "read_projection"), pattern; ends with {NULL}. */
typedef struct rbac_grant_s {
  const char *role, *kind, *pattern;
} rbac_grant_t;
extern const rbac_grant_t rbac_default_grants[];

#endif
