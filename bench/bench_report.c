/* The figures of `switchboard bench`: the table on stdout and the same
 * figures as JSON (--json). */
#include "sb_bench.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* ---- output ------------------------------------------------------------ */

void sb_bench_print_table(const sb_bench_opts_t *o, const sb_bench_result_t *r) {
  printf("\nswitchboard bench: %zu events (%.1f MB as Avro), %d partitions "
         "per topic, %d tenant(s), seed %llu\n",
         r->events, (double)r->bytes / 1e6, r->partitions, o->tenants,
         (unsigned long long)o->seed);
  printf("machine: %s, %d cores\n\n", r->machine, r->cores);
  printf("%-34s %14s %10s %s\n", "stage", "events/s", "MB/s", "notes");
#define ON(i) (o->stages & (1u << (i)))
  if (ON(0))
    printf("%-34s %14.0f %10.1f %.1f s\n", "produce (librdkafka producer)",
           r->produce_eps, r->produce_mbps, r->produce_seconds);
  if (ON(1))
    printf("%-34s %14.0f %10.1f the upper bound here\n",
           "ceiling (bare consumer)", r->ceiling_eps, r->ceiling_mbps);
  if (ON(6)) {
    char same[96] = "";
    if (r->sink_compared)
      snprintf(same, sizeof same, "; rows as audit's: %s (%llu of %llu chains)",
               r->sink_chains_same == r->sink_chains ? "yes" : "NO",
               (unsigned long long)r->sink_chains_same,
               (unsigned long long)r->sink_chains);
    printf("%-34s %14.0f %10.1f the other upper bound: %zu COPY "
           "transactions%s\n",
           "ceiling (PostgreSQL sink)", r->sink_eps, r->sink_mbps,
           r->sink_batches, same);
  }
  if (ON(2)) {
    char ratio[48] = "no ceiling measured", pg[48] = "";
    if (r->ceiling_eps > 0)
      snprintf(ratio, sizeof ratio, "%.1f%% of the ceiling",
               100.0 * r->e2e_eps / r->ceiling_eps);
    if (r->sink_eps > 0)
      snprintf(pg, sizeof pg, ", %.1f%% of the sink",
               100.0 * r->e2e_eps / r->sink_eps);
    char label[64] = "end to end (audit -> PostgreSQL)", derived[400] = "";
    if (strcmp(o->e2e_processors, "audit") != 0) {
      int n = 1;
      for (const char *c = o->e2e_processors; *c; c++)
        n += *c == ',';
      snprintf(label, sizeof label, "end to end (%d processors)", n);
      snprintf(derived, sizeof derived, "; %.200s: %llu derived events "
                                        "besides, %.0f records/s in all",
               o->e2e_processors, (unsigned long long)r->e2e_derived,
               r->e2e_all_eps);
    }
    printf("%-34s %14.0f %10s %s%s; %.0f ev/s from start (%.1f s)%s\n",
           label, r->e2e_eps, "-", ratio, pg, r->e2e_wall_eps, r->e2e_seconds,
           derived);
  }
  if (ON(3))
    printf("%-34s %14.0f %10s %.1f s\n", "replay (audit, from earliest)",
           r->replay_eps, "-", r->replay_seconds);
  if (ON(4)) {
    printf("%-34s %14.0f %10s %d connections, %d per request\n",
           "HTTP ingest, batched", r->http_batch_eps, "-", o->http_connections,
           o->http_batch);
    printf("%-34s %14.0f %10s %d connections\n", "HTTP ingest, single",
           r->http_single_eps, "-", o->http_connections);
  }
  if (ON(5))
    printf("%-34s p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms "
           "(%llu/%llu at %d ev/s)\n",
           "freshness (202 -> WebSocket)", r->fresh_p50_ms, r->fresh_p99_ms,
           r->fresh_p999_ms, r->fresh_max_ms,
           (unsigned long long)r->fresh_received,
           (unsigned long long)r->fresh_sent, o->fresh_rate);
  if (ON(5))
    printf("%-34s p50 %.2f ms, p99 %.2f ms\n",
           "freshness (POST -> WebSocket)", r->fresh_e2e_p50_ms,
           r->fresh_e2e_p99_ms);
  if (ON(7)) {
    printf("%-34s %14.0f %10s %llu/%llu leads of %d tenants, %llu agents; "
           "%.0f/s from the worker's start\n",
           "routing decisions (backlog)", r->rt_backlog_dps, "-",
           (unsigned long long)r->rt_backlog_assigned,
           (unsigned long long)r->rt_backlog_leads, o->tenants,
           (unsigned long long)r->rt_backlog_agents, r->rt_backlog_wall_dps);
    printf("%-34s p50 %.0f ms, p99 %.0f ms, p99.9 %.0f ms, max %.0f ms "
           "(%llu/%llu leads assigned, %llu at once, %llu after waiting; "
           "%.0f ev/s posted)\n",
           "routing (lead event -> assigned)", r->rt_p50_ms, r->rt_p99_ms,
           r->rt_p999_ms, r->rt_max_ms, (unsigned long long)r->rt_assigned,
           (unsigned long long)r->rt_leads, (unsigned long long)r->rt_direct,
           (unsigned long long)r->rt_waited, r->rt_rate);
    printf("%-34s p50 %.2f ms, p99 %.2f ms, max %.2f ms (%llu/%llu "
           "lead.assigned)\n",
           "routing (assigned -> WebSocket)", r->rt_feed_p50_ms,
           r->rt_feed_p99_ms, r->rt_feed_max_ms,
           (unsigned long long)r->rt_feed_received,
           (unsigned long long)r->rt_assigned);
  }
  if (ON(2) && o->workers > 1)
    printf("%-34s %d (memory below is the first one's)\n", "workers", o->workers);
  if (ON(2))
    printf("%-34s peak %.0f MiB (%.0f MiB at the first commit, %.0f MiB at "
           "the end)\n",
           "engine memory (RSS)", (double)r->engine_peak_rss / 1048576.0,
           (double)r->engine_rss_first / 1048576.0,
           (double)r->engine_rss_end / 1048576.0);
  if (ON(2)) {
    printf("%-34s", "engine RSS at each tenth (MiB)");
    for (int k = 0; k < 10; k++)
      printf(" %.0f", (double)r->engine_rss_at[k] / 1048576.0);
    printf("\n");
  }
#undef ON
  fflush(stdout);
}

int sb_bench_write_json(const char *path, const sb_bench_opts_t *o,
                      const sb_bench_result_t *r, sb_err_t *err) {
  cJSON *j = cJSON_CreateObject();
  cJSON *m = cJSON_AddObjectToObject(j, "machine");
  cJSON_AddStringToObject(m, "cpu", r->machine);
  cJSON_AddNumberToObject(m, "cores", r->cores);
  cJSON *run = cJSON_AddObjectToObject(j, "run");
  cJSON_AddNumberToObject(run, "events", (double)r->events);
  cJSON_AddNumberToObject(run, "bytes", (double)r->bytes);
  cJSON_AddNumberToObject(run, "partitions", r->partitions);
  cJSON_AddNumberToObject(run, "tenants", o->tenants);
  cJSON_AddNumberToObject(run, "seed", (double)o->seed);
  cJSON_AddStringToObject(run, "mix", o->mix ? o->mix : "default");
  cJSON_AddNumberToObject(run, "batch_max_events", o->batch_events);
  cJSON_AddNumberToObject(run, "workers", o->workers);
#define ON(i) (o->stages & (1u << (i)))
  if (ON(0)) {
    cJSON *s = cJSON_AddObjectToObject(j, "produce");
    cJSON_AddNumberToObject(s, "events_per_s", r->produce_eps);
    cJSON_AddNumberToObject(s, "mb_per_s", r->produce_mbps);
  }
  if (ON(1)) {
    cJSON *s = cJSON_AddObjectToObject(j, "ceiling");
    cJSON_AddNumberToObject(s, "events_per_s", r->ceiling_eps);
    cJSON_AddNumberToObject(s, "mb_per_s", r->ceiling_mbps);
  }
  if (ON(6)) {
    cJSON *s = cJSON_AddObjectToObject(j, "pg_ceiling");
    cJSON_AddNumberToObject(s, "events_per_s", r->sink_eps);
    cJSON_AddNumberToObject(s, "mb_per_s", r->sink_mbps);
    cJSON_AddNumberToObject(s, "seconds", r->sink_seconds);
    cJSON_AddNumberToObject(s, "transactions", (double)r->sink_batches);
    cJSON_AddNumberToObject(s, "batch_max_events", o->batch_events);
    cJSON_AddNumberToObject(s, "copy_bytes", (double)r->sink_bytes);
    if (r->sink_compared)
      cJSON_AddBoolToObject(s, "same_rows_as_audit",
                            r->sink_chains_same == r->sink_chains);
    else
      cJSON_AddNullToObject(s, "same_rows_as_audit");
    cJSON_AddNumberToObject(s, "chains", (double)r->sink_chains);
  }
  if (ON(2)) {
    cJSON *s = cJSON_AddObjectToObject(j, "end_to_end");
    cJSON_AddNumberToObject(s, "events_per_s", r->e2e_eps);
    cJSON_AddNumberToObject(s, "events_per_s_from_start", r->e2e_wall_eps);
    cJSON_AddNumberToObject(s, "ratio_to_ceiling",
                            r->ceiling_eps > 0 ? r->e2e_eps / r->ceiling_eps : 0);
    /* to each ceiling; null when that ceiling was not measured */
    if (r->ceiling_eps > 0)
      cJSON_AddNumberToObject(s, "ratio_to_kafka_ceiling",
                              r->e2e_eps / r->ceiling_eps);
    else
      cJSON_AddNullToObject(s, "ratio_to_kafka_ceiling");
    if (r->sink_eps > 0)
      cJSON_AddNumberToObject(s, "ratio_to_pg_ceiling",
                              r->e2e_eps / r->sink_eps);
    else
      cJSON_AddNullToObject(s, "ratio_to_pg_ceiling");
    cJSON_AddStringToObject(s, "processors", o->e2e_processors);
    cJSON_AddNumberToObject(s, "derived_events", (double)r->e2e_derived);
    cJSON_AddNumberToObject(s, "records_per_s", r->e2e_all_eps);
    cJSON_AddNumberToObject(s, "engine_peak_rss_bytes", (double)r->engine_peak_rss);
    cJSON_AddNumberToObject(s, "engine_rss_first_commit_bytes",
                            (double)r->engine_rss_first);
    cJSON_AddNumberToObject(s, "engine_rss_end_bytes", (double)r->engine_rss_end);
    cJSON *at = cJSON_AddArrayToObject(s, "engine_rss_each_tenth_bytes");
    for (int k = 0; k < 10; k++)
      cJSON_AddItemToArray(at, cJSON_CreateNumber((double)r->engine_rss_at[k]));
  }
  if (ON(3)) {
    cJSON *s = cJSON_AddObjectToObject(j, "replay");
    cJSON_AddNumberToObject(s, "events_per_s", r->replay_eps);
  }
  if (ON(4)) {
    cJSON *s = cJSON_AddObjectToObject(j, "http_ingest");
    cJSON_AddNumberToObject(s, "batched_events_per_s", r->http_batch_eps);
    cJSON_AddNumberToObject(s, "single_events_per_s", r->http_single_eps);
    cJSON_AddNumberToObject(s, "batch", o->http_batch);
    cJSON_AddNumberToObject(s, "connections", o->http_connections);
  }
  if (ON(5)) {
    cJSON *s = cJSON_AddObjectToObject(j, "freshness");
    cJSON_AddNumberToObject(s, "offered_per_s", o->fresh_rate);
    cJSON_AddNumberToObject(s, "p50_ms", r->fresh_p50_ms);
    cJSON_AddNumberToObject(s, "p99_ms", r->fresh_p99_ms);
    cJSON_AddNumberToObject(s, "p999_ms", r->fresh_p999_ms);
    cJSON_AddNumberToObject(s, "max_ms", r->fresh_max_ms);
    cJSON_AddNumberToObject(s, "post_to_ws_p50_ms", r->fresh_e2e_p50_ms);
    cJSON_AddNumberToObject(s, "post_to_ws_p99_ms", r->fresh_e2e_p99_ms);
    cJSON_AddNumberToObject(s, "sent", (double)r->fresh_sent);
    cJSON_AddNumberToObject(s, "received", (double)r->fresh_received);
  }
  if (ON(7)) {
    cJSON *s = cJSON_AddObjectToObject(j, "routing");
    cJSON_AddStringToObject(s, "processors", "routing,assignment,campaigns");
    cJSON *b = cJSON_AddObjectToObject(s, "backlog");
    cJSON_AddNumberToObject(b, "leads", (double)r->rt_backlog_leads);
    cJSON_AddNumberToObject(b, "assigned", (double)r->rt_backlog_assigned);
    cJSON_AddNumberToObject(b, "tenants", o->tenants);
    cJSON_AddNumberToObject(b, "agents", (double)r->rt_backlog_agents);
    cJSON_AddNumberToObject(b, "decisions_per_s", r->rt_backlog_dps);
    cJSON_AddNumberToObject(b, "decisions_per_s_from_start",
                            r->rt_backlog_wall_dps);
    cJSON_AddNumberToObject(b, "seconds", r->rt_backlog_seconds);
    cJSON *st = cJSON_AddObjectToObject(s, "steady");
    cJSON_AddNumberToObject(st, "offered_per_s", o->routing_rate);
    cJSON_AddNumberToObject(st, "accepted_per_s", r->rt_rate);
    cJSON_AddNumberToObject(st, "seconds", o->routing_seconds);
    cJSON_AddStringToObject(st, "lead_time_zone", r->rt_zone);
    cJSON_AddNumberToObject(st, "leads", (double)r->rt_leads);
    cJSON_AddNumberToObject(st, "agent_events", (double)r->rt_agent_events);
    cJSON_AddNumberToObject(st, "agents", (double)r->rt_agents);
    cJSON_AddNumberToObject(st, "assigned", (double)r->rt_assigned);
    cJSON_AddNumberToObject(st, "assigned_at_once", (double)r->rt_direct);
    cJSON_AddNumberToObject(st, "assigned_after_waiting", (double)r->rt_waited);
    cJSON *d = cJSON_AddObjectToObject(st, "decision_latency_ms");
    cJSON_AddNumberToObject(d, "p50", r->rt_p50_ms);
    cJSON_AddNumberToObject(d, "p99", r->rt_p99_ms);
    cJSON_AddNumberToObject(d, "p999", r->rt_p999_ms);
    cJSON_AddNumberToObject(d, "max", r->rt_max_ms);
    cJSON *f = cJSON_AddObjectToObject(st, "feed_latency_ms");
    cJSON_AddNumberToObject(f, "received", (double)r->rt_feed_received);
    cJSON_AddNumberToObject(f, "p50", r->rt_feed_p50_ms);
    cJSON_AddNumberToObject(f, "p99", r->rt_feed_p99_ms);
    cJSON_AddNumberToObject(f, "max", r->rt_feed_max_ms);
  }
#undef ON
  char *text = cJSON_Print(j);
  cJSON_Delete(j);
  int rc = text ? sb_write_file(path, text, strlen(text), 0644, err)
                : sb_err_set(err, SB_ENOMEM, "out of memory");
  cJSON_free(text);
  return rc;
}
