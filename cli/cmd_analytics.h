/* switchboard analytics check: what cmd_analytics.c and the recomputation
 * (cmd_analytics_sql.c) share. */
#ifndef SB_CMD_ANALYTICS_H
#define SB_CMD_ANALYTICS_H

/* A family of figures: its name, its table in schema analytics, the
 * table's key columns (its dimensions, with hour_start and day, in table
 * order), its sum columns, and the query recomputing them from the
 * temporary tables e and zone (keys then sums, in that order). A row whose
 * sums are all 0 is no row (a moved figure may leave one behind). */
typedef struct an_family_s {
  const char *name, *table, *keys, *sums, *query;
} an_family_t;

/* SQL run once after the events are loaded: the helpers, e and zone. */
extern const char an_check_prelude[];
/* The families, ended by a NULL name. */
extern const an_family_t *const an_check_families;

#endif
