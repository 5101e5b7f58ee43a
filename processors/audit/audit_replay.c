/* The audit log's check before a replay swaps a rebuilt log in: the
 * rebuild must equal the live log row for row for everything the live one
 * holds (same chains, same rows in each, every column the same), and hold
 * no row the live one lacks within the offsets the live one has consumed.
 * A chain's hash covers its rows' content, but the columns are compared as
 * well: a row changed in place with its hash kept is a difference too.
 *
 * The full comparison runs in a snapshot while the live log goes on; under
 * the swap's lock only the chain heads are compared again: a head equal to
 * the rebuild's row at its sequence number means the rows the live worker
 * appended since hash as the rebuilt ones do. */
#include "audit.h"

#include <stdio.h>
#include <string.h>

/* The first row a query found, as "tenant=.. topic=.. partition=.. seq=..
 * (event_id=..): what"; 1 when there was one. */
static int first_row(sb_pg_t *pg, const char *sql, const char *live_group,
                     char *where, size_t where_len, sb_err_t *err) {
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(pg, sql, live_group ? 1 : 0,
                      live_group ? &live_group : NULL, &rows, err);
  if (rc != 0)
    return -1;
  int found = sb_pg_rows_count(rows) > 0;
  if (found)
    snprintf(where, where_len,
             "tenant=%s topic=%s partition=%s seq=%s (event_id=%s): %s",
             sb_pg_rows_get(rows, 0, 0), sb_pg_rows_get(rows, 0, 1),
             sb_pg_rows_get(rows, 0, 2), sb_pg_rows_get(rows, 0, 3),
             sb_pg_rows_get(rows, 0, 4) ? sb_pg_rows_get(rows, 0, 4) : "-",
             sb_pg_rows_get(rows, 0, 5));
  sb_pg_rows_free(rows);
  return found;
}

#define SAME_CHAIN_ROW(a, b)                                                   \
  a ".tenant_id = " b ".tenant_id AND " a ".topic = " b ".topic AND " a       \
  ".kafka_partition = " b ".kafka_partition AND " a ".chain_seq = " b         \
  ".chain_seq"

/* every column of a row but recorded_at (when it was written) */
#define ROW_OF(a)                                                              \
  "(" a ".kafka_offset, " a ".event_id, " a ".event_type, " a ".subject, " a  \
  ".occurred_at, " a ".schema_id, " a ".correlation_id, " a                   \
  ".actor_user_id, " a ".payload, " a ".prev_hash, " a ".hash, " a         \
  ".ce_id)"

int sb__audit_same_as_live(sb_pg_t *pg, const char *live, const char *rebuilt,
                           const char *live_group, int quick, sb_err_t *err) {
  char sql[2048], where[768];
  int f = 0;
  /* every live row has its equal in the rebuild */
  if (!quick)
    snprintf(sql, sizeof sql,
           "SELECT l.tenant_id, l.topic, l.kafka_partition, l.chain_seq, "
           "l.event_id, CASE WHEN r.chain_seq IS NULL THEN 'the rebuild has "
           "no such row' ELSE 'the rebuilt row differs from the live one' END "
           "FROM %s.events l LEFT JOIN %s.events r ON " SAME_CHAIN_ROW("r", "l")
           " WHERE r.chain_seq IS NULL OR " ROW_OF("r") " IS DISTINCT FROM "
           ROW_OF("l") " ORDER BY 1, 2, 3, 4 LIMIT 1",
           live, rebuilt);
  if (!quick)
    f = first_row(pg, sql, NULL, where, sizeof where, err);
  if (f == 0) {
    /* every chain head of the live log is a row of the rebuild */
    snprintf(sql, sizeof sql,
             "SELECT h.tenant_id, h.topic, h.kafka_partition, h.last_seq, "
             "NULL, 'the live chain head names a row the rebuild does not "
             "have' FROM %s.chain_heads h WHERE NOT EXISTS (SELECT 1 FROM "
             "%s.events r WHERE r.tenant_id = h.tenant_id AND r.topic = "
             "h.topic AND r.kafka_partition = h.kafka_partition AND "
             "r.chain_seq = h.last_seq AND r.hash = h.last_hash) "
             "ORDER BY 1, 2, 3 LIMIT 1",
             live, rebuilt);
    f = first_row(pg, sql, NULL, where, sizeof where, err);
  }
  if (f == 0 && !quick) {
    /* no rebuilt row, below the offsets the live log has consumed, that
     * the live log lacks (a row removed from it, a chain cut short) */
    snprintf(sql, sizeof sql,
             "SELECT r.tenant_id, r.topic, r.kafka_partition, r.chain_seq, "
             "r.event_id, 'the live audit log lacks this row of the log' "
             "FROM %s.events r JOIN sb.consumer_offsets o ON "
             "o.consumer_group = $1 AND o.topic = r.topic AND o.partition = "
             "r.kafka_partition WHERE r.kafka_offset < o.next_offset AND "
             "NOT EXISTS (SELECT 1 FROM %s.events l WHERE " SAME_CHAIN_ROW(
                 "l", "r") ") ORDER BY 1, 2, 3, 4 LIMIT 1",
             rebuilt, live);
    f = first_row(pg, sql, live_group, where, sizeof where, err);
  }
  if (f < 0)
    return err->code;
  if (f > 0)
    return sb_err_set(err, SB_ESTATE,
                      "the rebuilt audit log differs from the live one at %s",
                      where);
  return 0;
}
