/* ULIDs: 26 Crockford base32 characters, a 48-bit millisecond timestamp then
 * 80 random bits; they sort by time. */
#ifndef SB_ULID_H
#define SB_ULID_H

#include "sb_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_ULID_LEN 26

/* Writes a new ULID (and a NUL) into out[27]. */
int sb_ulid_new(char out[SB_ULID_LEN + 1], sb_err_t *err);

/* A ULID for the given millisecond and 10 bytes of entropy (deterministic:
 * derived event ids use it). */
void sb_ulid_make(uint64_t ms, const unsigned char rnd[10],
                  char out[SB_ULID_LEN + 1]);

/* Whether s is a well-formed ULID (upper or lower case). */
bool sb_ulid_valid(const char *s, size_t len);

#endif
