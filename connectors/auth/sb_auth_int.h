/* Inside tokens and roles (sb_auth.h), shared by its files only:
 *
 *   sb_auth_roles.c  roles, permissions, agents' object rules, claims' rules
 *   sb_auth_jwt.c    signing and verifying tokens, the secret */
#ifndef SB_AUTH_INT_H
#define SB_AUTH_INT_H

#include "sb_auth.h"

#define INT_CLAIM_MAX 9007199254740992.0  /* 2^53: exact in a double */

/* sb_auth_roles.c: text that came from outside, made fit for a message
 * (at most 64 bytes, [A-Za-z0-9._:*-] only) in out; returns out. */
const char *sb__auth_safe_text(const char *in, char *out, size_t outsz);

#endif
