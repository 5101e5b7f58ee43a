/* The inside of the routing stage of `switchboard bench`: bench_routing.c
 * (the workload and the stage) and bench_routing_log.c (what the log says:
 * the lead events, routing.input and lead.assigned records with their
 * Kafka timestamps, and the latencies from them). Not for use outside
 * them. */
#ifndef BENCH_ROUTING_INT_H
#define BENCH_ROUTING_INT_H

#include "sb_bench.h"

#define RT_BACKLOG_PREFIX "rtb-" /* tenants of the backlog: rtb-0, rtb-1... */
#define RT_STEADY_TENANT "bench" /* the tenant of the steady rate (the
                                    token's) */

/* A lead.assigned read on the WebSocket: its id, when it arrived. */
typedef struct {
  char id[27];
  int64_t unix_ns;
} rt_arrival_t;

typedef struct rt_log_s rt_log_t;

/* Reads sb.leads and sb.routing of c->brokers from their beginning, on
 * each poll what was added since. *out owned by the caller
 * (rt_log_close), also on failure. */
int rt_log_open(const sb_conf_t *c, rt_log_t **out, sb_err_t *err);
void rt_log_close(rt_log_t *l); /* accepts NULL */
/* Reads every record up to the partitions' ends as the brokers say now. */
int rt_log_poll(rt_log_t *l, sb_err_t *err);
/* Records of sb.leads and sb.routing read so far. */
uint64_t rt_log_records(const rt_log_t *l);
/* lead.assigned read so far for the backlog's tenants, and for the
 * steady rate's. */
void rt_log_assigned(const rt_log_t *l, uint64_t *backlog, uint64_t *steady);
/* The Kafka timestamps (ms) of the backlog's first lead_ready (routing's
 * first lead handed on) and its last lead.assigned. */
void rt_log_backlog_span(const rt_log_t *l, int64_t *first, int64_t *last);
/* Each of the backlog's leads assigned once: SB_EINTERNAL naming a lead
 * assigned twice, or when fewer than leads were. */
int rt_log_check_backlog(const rt_log_t *l, uint64_t leads, sb_err_t *err);
/* The steady rate's figures into res: for each lead.assigned of tenant
 * RT_STEADY_TENANT, its lead event through the causation chain
 * (lead.assigned -> routing.input lead_ready -> the lead event; a lead
 * that waited was assigned by another input: its lead.created by lead
 * id), the latency between their Kafka timestamps; and for each arrival
 * its latency from the lead.assigned record's timestamp. SB_EINTERNAL
 * when a lead is assigned twice or its lead event is not in the log. */
int rt_log_figures(rt_log_t *l, const rt_arrival_t *arr, size_t narr,
                   sb_bench_result_t *res, sb_err_t *err);

#endif
