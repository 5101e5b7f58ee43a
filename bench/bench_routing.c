/* The routing stage of `switchboard bench` (issue 13): how many routing
 * decisions a second, and how soon after its lead event a lead is assigned
 * and its agent's feed hears of it, with the routing, assignment and
 * campaigns processors running as one `switchboard run` child.
 *
 * The workload is routable by construction: each tenant has one campaign,
 * active, dialling every minute of every day (UTC); its agents log in to
 * it with 100 voice slots each (one agent per 50 leads, plus two); every
 * lead has given consent (sales_outreach, voice) before it is created, is
 * in the campaign, and is in a zone where it is daytime (10:00-17:59) when
 * the run starts, so the TCPA's 08:00-21:00 holds at its event time. One
 * event in ten is an agent's: pausing, coming back, logging out, logging
 * in again, in turn (each agent a step ahead of the one before, so some
 * are always in); each agent's last event logs it in, so every lead is
 * assigned in the end (some after waiting: assigned by an agent's input,
 * not their own). Event times are the wall clock's.
 *
 *   backlog  RT_BACKLOG_PREFIX tenants (o->tenants of them) get the
 *            set-up and o->routing_leads leads, produced before the worker
 *            starts: decisions a second, from routing's first lead handed
 *            on (its first routing.input lead_ready) to the last
 *            lead.assigned (Kafka timestamps), and from the worker's start
 *            (its start-up included). A backlog's latencies mean nothing.
 *   steady   tenant RT_STEADY_TENANT (its set-up, consents included, is
 *            produced with the backlog's, before the worker starts): leads
 *            and agents' events POSTed at o->routing_rate events a second
 *            for o->routing_seconds through the HTTP API, while a WebSocket
 *            client (an admin of the tenant, subscribed to sb.leads and
 *            sb.agents) reads them and every lead.assigned. Decision
 *            latency: the lead event's Kafka timestamp to its
 *            lead.assigned's; feed latency: lead.assigned's Kafka
 *            timestamp to its arrival on the socket.
 *
 * Both fail unless every lead is assigned exactly once. */
#include "bench_routing_int.h"

#include "sb_auth.h"
#include "sb_codec.h"
#include "sb_load.h"
#include "sb_producer.h"
#include "sb_schema.h"
#include "sb_time.h"
#include "sb_tz.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAPACITY "voice:100"
#define LEADS_PER_AGENT 50
#define AGENT_EVERY 10 /* one event in ten is an agent's */
#define CAMPAIGN "camp-1"
#define EVENT_MAX 1024
/* what a lead adds to each of sb.leads and sb.routing (lead.created,
 * lead.scored; routing.input, routing.decision with its candidates) */
#define BYTES_PER_LEAD 4096
#define PARTITION_BUDGET (3u << 20)
#define PROCESSORS "routing,assignment,campaigns"

/* ---- the workload --------------------------------------------------------- */

/* A tenant's stream after its set-up: agents' events among the leads, then
 * each agent logged in once more. */
typedef struct {
  const char *tenant; /* NULL: the token's (HTTP) */
  const char *lead_prefix;
  const char *zone;
  uint64_t events; /* in the stream, the final logins included */
  int agents;
  uint64_t k; /* the next event */
  uint64_t leads, agent_events;
} stream_t;

static int agents_for(uint64_t leads) {
  uint64_t a = leads / LEADS_PER_AGENT + 2;
  return a > 5000 ? 5000 : (int)a;
}

/* The stream's leads when it has `events` events and `agents` agents. */
static uint64_t stream_leads(uint64_t events, int agents) {
  uint64_t pattern = events > (uint64_t)agents ? events - (uint64_t)agents : 0;
  return pattern - pattern / AGENT_EVERY;
}

static void stream_init(stream_t *s, const char *tenant, const char *prefix,
                        const char *zone, uint64_t leads) {
  memset(s, 0, sizeof *s);
  s->tenant = tenant;
  s->lead_prefix = prefix;
  s->zone = zone;
  s->agents = agents_for(leads);
  /* the fewest events holding that many leads */
  uint64_t pattern = leads + leads / (AGENT_EVERY - 1);
  while (pattern - pattern / AGENT_EVERY < leads)
    pattern++;
  while (pattern > 0 && (pattern - 1) - (pattern - 1) / AGENT_EVERY >= leads)
    pattern--;
  s->events = pattern + (uint64_t)s->agents;
}

static int put(char *buf, size_t cap, size_t *len, const char *tenant,
               const char *type, const char *subject, int64_t us,
               const char *data) {
  char t[40];
  sb_time_format(us, t, sizeof t);
  int n = snprintf(buf, cap,
                   "{\"specversion\":\"1.0\",\"type\":\"%s\",\"source\":"
                   "\"bench://routing\",\"subject\":\"%s\",\"time\":\"%s\"%s%s%s"
                   ",\"data\":%s}",
                   type, subject, t, tenant ? ",\"tenantid\":\"" : "",
                   tenant ? tenant : "", tenant ? "\"" : "", data);
  if (n < 0)
    return SB_EINTERNAL;
  *len = (size_t)n;
  return (size_t)n < cap ? 0 : SB_EINVAL;
}

static const char login_data[] =
    "{\"campaign_ids\":[\"" CAMPAIGN "\"],\"channel_capacity\":[\"" CAPACITY
    "\"]}";

/* Writes the stream's event k (without advancing); 1 when past its end. */
static int stream_event(const stream_t *s, char *buf, size_t cap, size_t *len,
                        int64_t us) {
  if (s->k >= s->events)
    return 1;
  char subj[160], data[256];
  uint64_t pattern = s->events - (uint64_t)s->agents;
  if (s->k >= pattern) { /* the end: every agent logged in */
    snprintf(subj, sizeof subj, "agent-%llu",
             (unsigned long long)(s->k - pattern));
    return put(buf, cap, len, s->tenant, "agent.logged_in", subj, us,
               login_data);
  }
  if (s->k % AGENT_EVERY == AGENT_EVERY - 1) {
    /* agent a's m-th event: its turns start a step apart, so that at
     * any time about half the agents are away, never all of them */
    uint64_t j = s->k / AGENT_EVERY, a = j % (uint64_t)s->agents;
    snprintf(subj, sizeof subj, "agent-%llu", (unsigned long long)a);
    switch ((j / (uint64_t)s->agents + a) % 4) {
    case 0:
      return put(buf, cap, len, s->tenant, "agent.state_changed", subj, us,
                 "{\"state\":\"paused\",\"pause_reason\":\"break\"}");
    case 1:
      return put(buf, cap, len, s->tenant, "agent.state_changed", subj, us,
                 "{\"state\":\"available\"}");
    case 2:
      return put(buf, cap, len, s->tenant, "agent.logged_out", subj, us, "{}");
    default:
      return put(buf, cap, len, s->tenant, "agent.logged_in", subj, us,
                 login_data);
    }
  }
  uint64_t lead = s->k - s->k / AGENT_EVERY;
  snprintf(subj, sizeof subj, "%s%llu", s->lead_prefix,
           (unsigned long long)lead);
  snprintf(data, sizeof data,
           "{\"lead_source\":\"web_form\",\"status\":\"new\",\"campaign_id\":"
           "\"" CAMPAIGN "\",\"time_zone\":\"%s\"}",
           s->zone);
  return put(buf, cap, len, s->tenant, "lead.created", subj, us, data);
}

static void stream_advance(stream_t *s) {
  uint64_t pattern = s->events - (uint64_t)s->agents;
  if (s->k < pattern && s->k % AGENT_EVERY != AGENT_EVERY - 1)
    s->leads++;
  else
    s->agent_events++;
  s->k++;
}

/* A zone where it is 10:00-17:59 now, nearest 13:00. */
static int daytime_zone(char *out, size_t cap, sb_err_t *err) {
  static const char *const zones[] = {
      "UTC",          "America/New_York", "America/Chicago",
      "America/Denver", "America/Los_Angeles", "Pacific/Honolulu",
      "Europe/London", "Europe/Berlin",   "Europe/Moscow",
      "Asia/Dubai",   "Asia/Kolkata",     "Asia/Shanghai",
      "Asia/Tokyo",   "Australia/Sydney", "Pacific/Auckland",
      "America/Sao_Paulo", NULL};
  int best = 99;
  int64_t now = sb_time_now_micros();
  for (int i = 0; zones[i]; i++) {
    const sb_tz_t *tz;
    sb_err_t e = SB_ERR_INIT;
    int h;
    if (sb_tz_load(zones[i], &tz, &e) != 0)
      continue;
    sb_tz_local(tz, now, NULL, NULL, NULL, &h, NULL, NULL);
    if (h >= 10 && h <= 17 && abs(h - 13) < best) {
      best = abs(h - 13);
      snprintf(out, cap, "%s", zones[i]);
    }
  }
  return best < 99 ? 0
                   : sb_err_set(err, SB_ENOENT, "routing: no zone of the "
                                                "bench's list is in daytime "
                                                "now (is tzdata installed?)");
}

/* ---- the backlog and the set-up, produced ------------------------------- */

typedef struct {
  sb_codec_t *codec;
  sb_producer_t *p;
  char *buf;
  int64_t us;
  uint64_t sent, acked;
  char error[256];
} out_t;

static void on_acked(void *opaque, const char *error) {
  out_t *o = opaque;
  if (error == NULL)
    o->acked++;
  else if (o->error[0] == '\0')
    snprintf(o->error, sizeof o->error, "%s", error);
}

/* Encodes and sends the event in o->buf (len bytes), with the next time. */
static int send_buf(out_t *o, size_t len, sb_err_t *err) {
  cJSON *ce = NULL;
  sb_record_t r;
  memset(&r, 0, sizeof r);
  int rc = sb_json_parse(o->buf, len, &ce, err);
  if (rc == 0)
    rc = sb_codec_from_ce(o->codec, ce, SB_CE_GENERATE_ID, &r, err);
  cJSON_Delete(ce);
  if (rc == 0)
    rc = sb_producer_send_record(o->p, &r, on_acked, o, err);
  sb_record_clear(&r);
  if (rc != 0)
    sb_err_prefix(err, "routing workload: ");
  o->sent += rc == 0;
  return rc;
}

static int send_one(out_t *o, const char *tenant, const char *type,
                    const char *subject, const char *data, sb_err_t *err) {
  size_t len;
  if (put(o->buf, EVENT_MAX, &len, tenant, type, subject, o->us += 10, data) !=
      0)
    return sb_err_set(err, SB_EINTERNAL, "routing workload: an event over "
                                         "%d bytes",
                      EVENT_MAX);
  return send_buf(o, len, err);
}

/* A tenant's campaign, agents and the consent of each lead it will have. */
static int setup(out_t *o, const stream_t *s, const char *tenant,
                 sb_err_t *err) {
  char subj[160];
  int rc = send_one(o, tenant, "campaign.created", CAMPAIGN,
                    "{\"campaign_id\":\"" CAMPAIGN "\",\"name\":\"Bench\","
                    "\"state\":\"active\",\"time_zone\":\"UTC\","
                    "\"dial_windows\":[\"all 00:00-24:00\"]}",
                    err);
  for (int a = 0; rc == 0 && a < s->agents; a++) {
    snprintf(subj, sizeof subj, "agent-%d", a);
    rc = send_one(o, tenant, "agent.logged_in", subj, login_data, err);
  }
  uint64_t leads = stream_leads(s->events, s->agents);
  for (uint64_t l = 0; rc == 0 && l < leads; l++) {
    snprintf(subj, sizeof subj, "%s%llu", s->lead_prefix,
             (unsigned long long)l);
    rc = send_one(o, tenant, "consent.given", subj,
                  "{\"purpose\":\"sales_outreach\",\"channel\":\"voice\","
                  "\"method\":\"web_form\"}",
                  err);
  }
  return rc;
}

/* Every tenant's set-up, then the backlog's streams interleaved. */
static int produce_workload(const sb_conf_t *c, stream_t *bl, int nt,
                            const stream_t *steady, uint64_t *backlog_leads,
                            sb_err_t *err) {
  out_t o = {.us = sb_time_now_micros()};
  sb_schemas_t *schemas = NULL;
  o.buf = malloc(EVENT_MAX);
  int rc = o.buf ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0)
    rc = sb_schemas_load(&schemas, err);
  if (rc == 0)
    rc = sb_codec_new(schemas, &o.codec, err);
  if (rc == 0)
    rc = sb_producer_new(c, &o.p, err);
  for (int t = 0; rc == 0 && t < nt; t++)
    rc = setup(&o, &bl[t], bl[t].tenant, err);
  if (rc == 0)
    rc = setup(&o, steady, RT_STEADY_TENANT, err);
  for (int more = 1; rc == 0 && more;) {
    more = 0;
    for (int t = 0; rc == 0 && t < nt; t++) {
      size_t len;
      int r = stream_event(&bl[t], o.buf, EVENT_MAX, &len, o.us += 10);
      if (r == 1)
        continue;
      more = 1;
      rc = r == 0 ? send_buf(&o, len, err)
                  : sb_err_set(err, SB_EINTERNAL, "routing workload: an "
                                                  "event over %d bytes",
                               EVENT_MAX);
      stream_advance(&bl[t]);
    }
  }
  if (rc == 0)
    rc = sb_producer_flush(o.p, 120000, err);
  if (rc == 0 && o.acked != o.sent)
    rc = sb_err_set(err, SB_EKAFKA, "routing workload: %llu of %llu records "
                                    "acknowledged (%s)",
                    (unsigned long long)o.acked, (unsigned long long)o.sent,
                    o.error);
  *backlog_leads = 0;
  for (int t = 0; t < nt; t++)
    *backlog_leads += bl[t].leads;
  fprintf(stderr, "routing: %llu set-up and backlog events produced (%llu "
                  "leads of %d tenants)\n",
          (unsigned long long)o.sent, (unsigned long long)*backlog_leads, nt);
  sb_producer_free(o.p);
  sb_codec_free(o.codec);
  sb_schemas_free(schemas);
  free(o.buf);
  return rc;
}

int sb_bench_routing_partitions(const sb_bench_opts_t *o, int asked) {
  uint64_t leads = o->routing_leads +
                   (uint64_t)o->routing_rate * (uint64_t)o->routing_seconds;
  uint64_t need = (leads * BYTES_PER_LEAD + PARTITION_BUDGET - 1) /
                  PARTITION_BUDGET;
  if (need < 4)
    need = 4;
  return asked > (int)need ? asked : (int)need;
}

/* ---- the stage -------------------------------------------------------------- */

typedef struct {
  stream_t s;
  rt_arrival_t *arr;
  size_t narr, cap;
  uint64_t expect; /* leads */
  sb_bench_progress_t pr;
} steady_t;

static int steady_next(void *arg, char *buf, size_t cap, size_t *len) {
  steady_t *st = arg;
  int rc = stream_event(&st->s, buf, cap, len, sb_time_now_micros());
  if (rc == 0)
    stream_advance(&st->s);
  return rc;
}

static void steady_other(void *arg, const char *msg, size_t len,
                         int64_t unix_ns) {
  steady_t *st = arg;
  if (st->narr == st->cap)
    return;
  cJSON *j = cJSON_ParseWithLength(msg, len);
  cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
  if (cJSON_IsString(type) && strcmp(type->valuestring, "lead.assigned") == 0 &&
      cJSON_IsString(id)) {
    rt_arrival_t *a = &st->arr[st->narr++];
    snprintf(a->id, sizeof a->id, "%s", id->valuestring);
    a->unix_ns = unix_ns;
  }
  cJSON_Delete(j);
}

/* The warm-up's events: leads of no campaign (never routed) and an agent
 * logging out, so that the ingest producer has the topics' metadata before
 * the clock runs (a fresh server's first events wait about a second for
 * it, their Kafka timestamps taken before). */
static int warm_next(void *arg, char *buf, size_t cap, size_t *len) {
  uint64_t *n = arg;
  char subj[64];
  snprintf(subj, sizeof subj, "lead-w-%llu", (unsigned long long)*n);
  int rc = *n % 2 ? put(buf, cap, len, NULL, "agent.logged_out", "agent-warm",
                        sb_time_now_micros(), "{}")
                  : put(buf, cap, len, NULL, "lead.created", subj,
                        sb_time_now_micros(),
                        "{\"lead_source\":\"web_form\",\"status\":\"new\"}");
  if (rc == 0)
    ++*n;
  return rc;
}

static int steady_more(void *arg) {
  const steady_t *st = arg;
  return st->narr < st->expect;
}

static void steady_progress(void *arg, const sb_load_progress_t *p) {
  steady_t *st = arg;
  sb_bench_progress(&st->pr, "routing", p->events, st->s.events);
}

/* Waits until the log holds every lead.assigned expected (or the worker
 * exits, or the time is up). */
static int await_assigned(rt_log_t *log, pid_t worker, int steady,
                          uint64_t expect, double limit, sb_err_t *err) {
  double t0 = sb_bench_now();
  sb_bench_progress_t pr = {0};
  for (;;) {
    uint64_t b, s;
    int rc = rt_log_poll(log, err);
    if (rc != 0)
      return rc;
    rt_log_assigned(log, &b, &s);
    uint64_t got = steady ? s : b;
    if (!steady)
      sb_bench_progress(&pr, "routing", got, expect);
    if (got >= expect)
      return 0;
    int status;
    if (waitpid(worker, &status, WNOHANG) == worker)
      return sb_err_set(err, SB_EINTERNAL, "routing: the worker exited");
    if (sb_bench_now() - t0 > limit)
      return sb_err_set(err, SB_ETIMEDOUT,
                        "routing: %llu of %llu leads assigned after %.0f s",
                        (unsigned long long)got, (unsigned long long)expect,
                        limit);
    usleep(200 * 1000);
  }
}

int sb_bench_routing(const sb_conf_t *c, sb_bench_env_t *env,
                     sb_bench_result_t *res, sb_err_t *err) {
  const sb_bench_opts_t *o = env->o;
  int nt = o->tenants;
  stream_t *bl = calloc((size_t)nt, sizeof *bl);
  char(*names)[32] = calloc((size_t)nt, sizeof *names);
  steady_t st;
  memset(&st, 0, sizeof st);
  rt_log_t *log = NULL;
  sb_bench_child_t w = {0};
  int rc = bl && names ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0)
    rc = daytime_zone(res->rt_zone, sizeof res->rt_zone, err);
  /* the steady stream: as many events as the rate and the time make */
  uint64_t total = (uint64_t)o->routing_rate * (uint64_t)o->routing_seconds;
  int sa = agents_for(total - total / AGENT_EVERY);
  if (rc == 0 && total < (uint64_t)sa * 2 + AGENT_EVERY)
    rc = sb_err_set(err, SB_EUSAGE, "routing: --routing-rate x "
                                    "--routing-seconds must be at least %d "
                                    "events",
                    sa * 2 + AGENT_EVERY);
  if (rc == 0) {
    st.s.tenant = NULL; /* the token's: RT_STEADY_TENANT */
    st.s.lead_prefix = "lead-s-";
    st.s.zone = res->rt_zone;
    st.s.agents = sa;
    st.s.events = total;
    st.expect = stream_leads(total, sa);
    st.cap = st.expect * 2 + 16;
    st.arr = calloc(st.cap, sizeof *st.arr);
    if (st.arr == NULL)
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  for (int t = 0; rc == 0 && t < nt; t++) {
    uint64_t leads = o->routing_leads / (uint64_t)nt +
                     ((uint64_t)t < o->routing_leads % (uint64_t)nt);
    snprintf(names[t], sizeof names[t], RT_BACKLOG_PREFIX "%d", t);
    stream_init(&bl[t], names[t], "lead-", res->rt_zone, leads);
    res->rt_backlog_agents += (uint64_t)bl[t].agents;
  }
  if (rc == 0)
    rc = produce_workload(c, bl, nt, &st.s, &res->rt_backlog_leads, err);
  if (rc == 0)
    rc = rt_log_open(c, &log, err);
  /* the backlog: the worker starts with every lead in Kafka */
  char batch[48], ms[48];
  snprintf(batch, sizeof batch, "batch.max_events=%d", o->batch_events);
  snprintf(ms, sizeof ms, "batch.max_ms=%d", o->batch_ms);
  const char *argv[] = {"switchboard", "run", "--data-dir", env->data_dir,
                        "--processors", PROCESSORS, "--set", batch, "--set",
                        ms, o->worker_set ? "--set" : NULL, o->worker_set,
                        NULL};
  double started = sb_bench_now();
  int64_t started_ms = sb_time_now_micros() / 1000;
  if (rc == 0)
    rc = sb_bench_spawn(argv, 0, env->log, &w, err);
  if (rc == 0)
    fprintf(stderr, "routing: %s deciding a backlog of %llu leads (zone %s)\n",
            PROCESSORS, (unsigned long long)res->rt_backlog_leads, res->rt_zone);
  if (rc == 0)
    rc = await_assigned(log, w.pid, 0, res->rt_backlog_leads,
                        120 + (double)res->rt_backlog_leads / 50, err);
  if (rc == 0) {
    int64_t first, last;
    rt_log_backlog_span(log, &first, &last);
    uint64_t b, s;
    rt_log_assigned(log, &b, &s);
    res->rt_backlog_assigned = b;
    res->rt_backlog_seconds = sb_bench_now() - started;
    if (last > started_ms)
      res->rt_backlog_wall_dps = (double)b * 1000.0 / (double)(last - started_ms);
    res->rt_backlog_dps = last > first ? (double)b * 1000.0 / (double)(last - first)
                                       : res->rt_backlog_wall_dps;
    if (b != res->rt_backlog_leads)
      rc = sb_err_set(err, SB_EINTERNAL, "routing: %llu lead.assigned for %llu "
                                         "leads of the backlog",
                      (unsigned long long)b,
                      (unsigned long long)res->rt_backlog_leads);
    if (rc == 0)
      rc = rt_log_check_backlog(log, res->rt_backlog_leads, err);
  }
  /* the backlog's tail settles first: the lead.assigned come back to
   * routing (rescored, lead.scored) and campaigns; the steady rate starts
   * on a quiet log (nothing new for 0.6 s), or its first leads wait
   * behind that */
  double settle_by = sb_bench_now() + 60;
  for (uint64_t was = 0, same = 0; rc == 0 && same < 3;) {
    usleep(200 * 1000);
    if ((rc = rt_log_poll(log, err)) != 0)
      break;
    uint64_t now = rt_log_records(log);
    same = now == was ? same + 1 : 0;
    was = now;
    if (sb_bench_now() > settle_by)
      rc = sb_err_set(err, SB_ETIMEDOUT, "routing: sb.leads and sb.routing "
                                         "still grew 60 s after the backlog");
  }
  /* the steady rate, over HTTP, with the feed listening */
  char token[SB_JWT_MAX + 1];
  if (rc == 0)
    rc = sb_bench_mint(env, token, sizeof token, err);
  static const char *const topics[] = {"sb.leads", "sb.agents", NULL};
  static const char *const types[] = {"lead.created", "lead.assigned",
                                      "agent.*", NULL};
  sb_load_fresh_opts_t fo = {
      .url = env->http_url,
      .token = token,
      .rate = o->routing_rate,
      .seconds = o->routing_seconds,
      .grace_ms = 60000,
      .topics = topics,
      .types = types,
      .next = steady_next,
      .next_arg = &st,
      .progress = steady_progress,
      .progress_arg = &st,
      .other = steady_other,
      .more = steady_more,
      .other_arg = &st,
  };
  uint64_t warm = 0;
  sb_load_http_opts_t wo = {.url = env->http_url, .token = token,
                            .events = 200, .batch = 20, .next = warm_next,
                            .next_arg = &warm};
  sb_load_http_result_t wr;
  if (rc == 0 && (rc = sb_load_http(&wo, &wr, err)) == 0 && wr.accepted != 200)
    rc = sb_err_set(err, SB_EINTERNAL, "routing: warm-up: %llu of 200 events "
                                       "accepted (%s)",
                    (unsigned long long)wr.accepted, wr.first_error);
  sb_load_fresh_result_t fr;
  if (rc == 0) {
    fprintf(stderr, "routing: %d leads and agents' events a second for %d s "
                    "to tenant %s, %d agents\n",
            o->routing_rate, o->routing_seconds, RT_STEADY_TENANT, sa);
    rc = sb_load_freshness(&fo, &fr, err);
  }
  if (rc == 0 && (fr.rejected > 0 || fr.received != fr.sent ||
                  fr.sent != st.s.events))
    rc = sb_err_set(err, SB_EINTERNAL, "routing: %llu of %llu events "
                                       "accepted, %llu of them seen on the "
                                       "WebSocket (%s)",
                    (unsigned long long)fr.sent,
                    (unsigned long long)st.s.events,
                    (unsigned long long)fr.received, fr.first_error);
  if (rc == 0)
    rc = await_assigned(log, w.pid, 1, st.s.leads, 60, err);
  if (rc == 0) {
    res->rt_leads = st.s.leads;
    res->rt_agent_events = st.s.agent_events;
    res->rt_agents = (uint64_t)sa;
    res->rt_rate = fr.accepted_rate;
    rc = rt_log_figures(log, st.arr, st.narr, res, err);
  }
  if (rc == 0 && res->rt_assigned != st.s.leads)
    rc = sb_err_set(err, SB_EINTERNAL, "routing: %llu lead.assigned for %llu "
                                       "leads at the steady rate",
                    (unsigned long long)res->rt_assigned,
                    (unsigned long long)st.s.leads);
  if (rc == 0)
    fprintf(stderr, "routing: %llu leads assigned (%llu at once, %llu after "
                    "waiting), %llu lead.assigned on the feed\n",
            (unsigned long long)res->rt_assigned,
            (unsigned long long)res->rt_direct,
            (unsigned long long)res->rt_waited,
            (unsigned long long)res->rt_feed_received);
  sb_bench_child_stop(&w, SIGTERM);
  rt_log_close(log);
  free(st.arr);
  free(names);
  free(bl);
  return rc;
}
