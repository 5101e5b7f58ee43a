/* Reading whole topics as fast as the brokers deliver: every partition
 * assigned by hand from its beginning, outside any consumer group, nothing
 * decoded, nothing committed. The benchmark's consumer ceiling (`switchboard
 * bench`, stage ceiling): the most any consumer gets from these brokers on
 * this machine. */
#ifndef SB_LOGSCAN_H
#define SB_LOGSCAN_H

#include "sb_conf.h"
#include "sb_err.h"

#include <stdint.h>

/* Called after each batch of records the consumer hands over, with the
 * totals so far (records and bytes of keys and values). A non-zero return
 * stops the scan and is returned. */
typedef int (*sb_logscan_fn)(void *ctx, uint64_t records, uint64_t bytes,
                             sb_err_t *err);

/* Reads every partition of the topics (NULL-terminated; those the brokers
 * do not have are skipped) from the earliest offset, in batches of up to
 * 4096 records, until expect records were read or nothing came for
 * idle_ms. Borrows c. *records and *bytes are what was read (also on
 * failure); fewer than expect is not an error here: the caller judges.
 * SB_EKAFKA (or SB_EUNAVAIL/SB_ETIMEDOUT) when the brokers do not give the
 * topics' metadata within c->kafka_timeout_ms. */
int sb_logscan(const sb_conf_t *c, const char *const *topics, uint64_t expect,
               int idle_ms, sb_logscan_fn fn, void *ctx, uint64_t *records,
               uint64_t *bytes, sb_err_t *err);

#endif
