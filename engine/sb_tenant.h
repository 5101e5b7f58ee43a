/* Tenant ids: what a tenant may be called, everywhere (tokens, events,
 * rows, reader logins). */
#ifndef SB_TENANT_H
#define SB_TENANT_H

#define SB_TENANT_MAX 64 /* [A-Za-z0-9._-]{1,64} */

/* Tenant ids beginning with '_' belong to the engine, never to a token:
 * SB_TENANT_OPERATOR files the security events of requests that named no
 * valid tenant, for the operator (psql, `audit export --tenant _operator`).
 * Signing, verifying and `switchboard token` refuse them. */
#define SB_TENANT_OPERATOR "_operator"

/* 1 when s is a valid tenant id; 0 otherwise. */
int sb_tenant_valid(const char *s);
/* 1 when s is a reserved tenant id (it begins with '_'); 0 otherwise. */
int sb_tenant_reserved(const char *s);

#endif
