/* Token buckets by key (a source address, a tenant), in a table of fixed
 * size: sb_rate_take spends one token of a key's bucket, which holds at
 * most burst tokens and regains burst of them per period_us. A key not in
 * the table starts with a full bucket; when its probe run is full, the
 * fullest bucket there is reused (a full bucket is the same as none, so
 * only a key being refilled loses what it had spent). Bounded memory,
 * no allocation after sb_rate_new.
 *
 * On one thread (the loop's). */
#ifndef SB_RATE_H
#define SB_RATE_H

#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sb_rate_s sb_rate_t;

/* slots: the table's size (rounded up to a power of two). burst 0: no
 * bound (sb_rate_take always 1). *out owned by the caller: sb_rate_free. */
int sb_rate_new(size_t slots, uint32_t burst, int64_t period_us,
                sb_rate_t **out, sb_err_t *err);
void sb_rate_free(sb_rate_t *r); /* accepts NULL */

/* 1 when key (NULL reads "") had a token at now_us (spent), 0 when its
 * bucket is empty. */
int sb_rate_take(sb_rate_t *r, const char *key, int64_t now_us);
/* Gives back a token taken (the request was refused for another reason). */
void sb_rate_give(sb_rate_t *r, const char *key, int64_t now_us);

#endif
