/* The routing processor's logic without the runtime: its rule sets'
 * refusals, the age decay and the next moment it moves a score, and its
 * agent tables folded in different interleavings of partitions (a replay
 * reading the partitions in another order must end with the same tables).
 * The runtime paths are in the golden cases (tests/golden/routing) and the
 * crash test (tests/cli/routing_crash.sh). */
#include "routing_int.h"

#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int test_routing_rules_refused(void) {
  static const struct {
    const char *json, *why;
  } bad[] = {
      {"[]", "not a JSON object"},
      {"{\"groups\": [], \"rules\": {}}", "must be arrays"},
      {"{\"groups\": [{\"name\": \"Src\"}], \"rules\": []}", "groups[0]: name"},
      {"{\"groups\": [{\"name\": \"a\"}, {\"name\": \"a\"}], \"rules\": []}",
       "group 'a' twice"},
      {"{\"groups\": [{\"name\": \"a\", \"cap\": -1}], \"rules\": []}",
       "cap must be an integer 0 to 100000"},
      {"{\"groups\": [{\"name\": \"a\"}], \"rules\": [{\"id\": \"r\", "
       "\"group\": \"b\", \"points\": 1}]}",
       "rules[0] (r): group must name one of groups"},
      {"{\"groups\": [{\"name\": \"a\"}], \"rules\": [{\"id\": \"r\", "
       "\"group\": \"a\", \"points\": 1.5}]}",
       "points must be an integer"},
      {"{\"groups\": [{\"name\": \"a\"}], \"rules\": [{\"id\": \"r\", "
       "\"group\": \"a\", \"points\": 1, \"when\": {\"field\": \"colour\", "
       "\"eq\": \"red\"}}]}",
       "unknown field 'colour'"},
      {"{\"groups\": [{\"name\": \"a\"}], \"rules\": [{\"id\": \"r\", "
       "\"group\": \"a\", \"points\": 1, \"when\": {\"field\": \"calls\", "
       "\"gte\": \"3\"}}]}",
       "gte of calls: not a value of the field's kind (number)"},
      {"{\"groups\": [{\"name\": \"a\"}], \"rules\": [{\"id\": \"r\", "
       "\"group\": \"a\", \"points\": 1, \"when\": {\"field\": \"status\", "
       "\"eq\": \"new\", \"ne\": \"lost\"}}]}",
       "has one of eq, ne, in"},
      {"{\"groups\": [{\"name\": \"a\"}], \"rules\": [{\"id\": \"r\", "
       "\"group\": \"a\", \"points\": 1, \"when\": {\"not\": {\"not\": "
       "{\"not\": {\"not\": {\"field\": \"calls\", \"gte\": 1}}}}}}]}",
       "nested deeper than 4"},
      {"{\"half_life_hours\": -2, \"groups\": [], \"rules\": []}",
       "half_life_hours must be an integer 0 to 87600"},
      {"{\"groups\": [{\"name\": \"a\"}], \"rules\": [{\"id\": \"r\", "
       "\"group\": \"a\", \"points\": 1}, {\"id\": \"r\", \"group\": \"a\", "
       "\"points\": 2}]}",
       "rules[1] (r): id used twice"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rt_rules_t *r = NULL;
    sb_err_t err = SB_ERR_INIT;
    CHECK_INT(rt__rules_parse(bad[i].json, "v", &r, &err), SB_EVALIDATE);
    CHECK(r == NULL);
    CHECK_HAS(err.msg, bad[i].why);
  }
  rt_rules_t *r = NULL;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(
      rt__rules_parse(rt__default_rules_json, RT_DEFAULT_VERSION, &r, &err),
      &err);
  CHECK_STR(rt__rules_version(r), "default-1");
  rt__rules_free(r);
  return 0;
}

int test_routing_decay(void) {
  rt__decay_init();
  const int64_t hl = 72 * 3600, h = 3600 * 1000000LL;
  CHECK_INT(rt__decay(40, 0, hl), 40);
  CHECK_INT(rt__decay(40, 72 * h, hl), 20);
  CHECK_INT(rt__decay(40, 144 * h, hl), 10);
  CHECK_INT(rt__decay(40, 36 * h, hl), 28);   /* 40 / sqrt(2) = 28.28 */
  CHECK_INT(rt__decay(-40, 72 * h, hl), -40); /* penalties do not fade */
  CHECK_INT(rt__decay(40, 72 * h, 0), 40);    /* no half-life: no decay */
  int64_t last = 1000;
  for (int64_t t = 0; t < 2000 * h; t += h / 7) {
    int64_t v = rt__decay(1000, t, hl);
    CHECK(v <= last); /* never rises */
    last = v;
  }
  CHECK_INT(last, 0);
  /* next_at is the first second at which the rounded score moves */
  rt_rules_t *rules = NULL;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(rt__rules_parse(rt__default_rules_json, "d", &rules, &err), &err);
  rt_lead_t l = {.ver = 1, .created_at = 1763280000000000LL};
  snprintf(l.source, sizeof l.source, "referral");
  snprintf(l.status, sizeof l.status, "new");
  rt_facts_t f = {.agent_available = 1, .contactable = 1};
  int64_t at = l.created_at;
  int steps = 0;
  for (; steps < 100; steps++) {
    rt_score_t a, b, c;
    CHECK_OK(rt__score(rules, &l, &f, at, &a, &err), &err);
    cJSON_free(a.components_json);
    if (a.next_at == 0)
      break;
    CHECK(a.next_at > at);
    CHECK_OK(rt__score(rules, &l, &f, a.next_at - 1000000, &b, &err), &err);
    CHECK_OK(rt__score(rules, &l, &f, a.next_at, &c, &err), &err);
    cJSON_free(b.components_json);
    cJSON_free(c.components_json);
    CHECK_INT(b.score, a.score);
    CHECK_INT(c.score, a.score - 1);
    at = a.next_at;
  }
  /* 30 source points fade to nothing one point at a time; the rest stays */
  CHECK_INT(steps, 30);
  rt_score_t z;
  CHECK_OK(rt__score(rules, &l, &f, at, &z, &err), &err);
  CHECK_INT(z.score, 10 + 10 + 10);
  CHECK_HAS(z.components_json, "\"id\":\"source_referral\"");
  CHECK_HAS(z.components_json, "\"left\":0");
  cJSON_free(z.components_json);
  rt__rules_free(rules);
  return 0;
}

/* ---- the agent tables in any interleaving of partitions ----------------- */

#define NAGENTS 3
#define NCALLS 12

typedef struct {
  char json[512];
  int key; /* the partition's key: agent (0..2) or 10 + call */
} gen_t;

/* A tiny deterministic generator (no unseeded random). */
static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* RFC 3339 of a Unix time, in a static buffer of the call's own */
static const char *iso(int64_t t, char *buf, size_t n) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

static int fold(routing_t *x, sb_codec_t *codec, const gen_t *evs, size_t n,
                const size_t *order, rt_agent_t *ag, rt_agent_calls_t *ca) {
  memset(ag, 0, sizeof(rt_agent_t) * NAGENTS);
  memset(ca, 0, sizeof(rt_agent_calls_t) * NAGENTS);
  for (size_t i = 0; i < n; i++) {
    const gen_t *g = &evs[order[i]];
    sb_err_t err = SB_ERR_INIT;
    cJSON *ce = cJSON_Parse(g->json);
    sb_record_t rec = {0};
    sb_event_t ev;
    CHECK(ce != NULL);
    CHECK_OK(sb_codec_from_ce(codec, ce, 0, &rec, &err), &err);
    cJSON_Delete(ce);
    CHECK_OK(sb_codec_decode(codec, rec.value, rec.value_len, &ev, &err), &err);
    int t = rt__type(x, &ev);
    const char *agent = rt__str(x, &ev, t, RF_AGENT_ID);
    int a = agent[2] - '0';
    if (t <= RT_AGENT_SKILLS)
      CHECK(rt__agent_apply(x, &ag[a], &ev, t, &err) >= 0);
    else
      rt__calls_apply(x, &ca[a], &ev, t);
    sb_record_clear(&rec);
  }
  return 0;
}

int test_routing_agents_any_interleaving(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_conf_t c;
  void *st = NULL;
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_schemas_load(&schemas, &err), &err);
  CHECK_OK(sb_codec_new(schemas, &codec, &err), &err);
  sb_kit_t kit = {.conf = &c, .schemas = schemas, .schema = "routing"};
  CHECK_OK(sb_routing_processor.init(&st, &kit, &err), &err);
  routing_t *x = st;
  /* each agent: logs in, pauses, is available, changes skills; calls
   * across the agents, each offered, connected, ended, some
   * dispositioned; times overlap so that order across keys matters */
  gen_t evs[64];
  size_t n = 0;
  char tb[32];
  static const char *const astates[] = {"paused", "available", "available"};
  for (int a = 0; a < NAGENTS; a++) {
    int64_t base = 1763280000 + a * 7;
    snprintf(evs[n].json, sizeof evs[n].json,
             "{\"specversion\":\"1.0\",\"id\":\"01KGT0000000000000000A%d001\","
             "\"type\":\"agent.logged_in\",\"source\":\"/t\",\"subject\":"
             "\"a-%d\",\"time\":\"%s\",\"tenantid\":\"acme\",\"data\":{"
             "\"skills\":[\"sales:%d\"],\"queue_ids\":[\"q1\"]}}",
             a, a, iso(base, tb, sizeof tb), a + 1);
    evs[n++].key = a;
    for (int s = 0; s < 3; s++) {
      snprintf(evs[n].json, sizeof evs[n].json,
               "{\"specversion\":\"1.0\",\"id\":\"01KGT0000000000000000A%d01%d"
               "\",\"type\":\"agent.state_changed\",\"source\":\"/t\","
               "\"subject\":\"a-%d\",\"time\":\"%s\",\"tenantid\":\"acme\","
               "\"data\":{\"state\":\"%s\"%s}}",
               a, s, a, iso(base + 100 + s * 400, tb, sizeof tb), astates[s],
               s == 0 ? ",\"pause_reason\":\"break\"" : "");
      evs[n++].key = a;
    }
  }
  static const char *const ctypes[] = {"call.offered", "call.connected",
                                       "call.ended", "call.dispositioned"};
  for (int k = 0; k < NCALLS; k++) {
    int a = k % NAGENTS, steps = k % 3 == 0 ? 3 : 4;
    int64_t base = 1763280000 + 50 + k * 97;
    for (int s = 0; s < steps; s++) {
      snprintf(evs[n].json, sizeof evs[n].json,
               "{\"specversion\":\"1.0\",\"id\":\"01KGT00000000000000000C%02d%d"
               "\",\"type\":\"%s\",\"source\":\"/t\",\"subject\":\"c-%d\","
               "\"time\":\"%s\",\"tenantid\":\"acme\",\"data\":{"
               "\"agent_id\":\"a-%d\"%s}}",
               k, s, ctypes[s], k, iso(base + s * 30, tb, sizeof tb), a,
               s == 3 ? ",\"disposition\":\"sale\"" : "");
      evs[n++].key = 10 + k;
    }
  }
  /* the log's order (per key: as produced), then random interleavings
   * that keep each key's order, as partitions consumed otherwise would */
  size_t order[64], pos[64];
  rt_agent_t ag0[NAGENTS], ag1[NAGENTS];
  rt_agent_calls_t ca0[NAGENTS], ca1[NAGENTS];
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  if (fold(x, codec, evs, n, order, ag0, ca0) != 0)
    return 1;
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  for (int round = 0; round < 50; round++) {
    memset(pos, 0, sizeof pos);
    size_t done = 0;
    while (done < n) { /* pick a key at random, take its next event */
      size_t i = next_rand(&seed) % n;
      while (pos[i]) /* taken: the next one not taken */
        i = (i + 1) % n;
      /* the first not-taken event of that key */
      for (size_t j = 0; j < n; j++)
        if (evs[j].key == evs[i].key && !pos[j]) {
          i = j;
          break;
        }
      pos[i] = 1;
      order[done++] = i;
    }
    if (fold(x, codec, evs, n, order, ag1, ca1) != 0)
      return 1;
    CHECK(memcmp(ag0, ag1, sizeof ag0) == 0);
    CHECK(memcmp(ca0, ca1, sizeof ca0) == 0);
  }
  /* and what they say: a-0 (calls 0, 3, 6, 9) ended its last call without
   * a disposition: wrap-up; a-1's last was dispositioned: done */
  CHECK_STR(ca0[0].state, "wrapup");
  CHECK_STR(ca0[1].state, "done");
  CHECK_STR(ca0[1].call_id, "c-10");
  CHECK_STR(ag0[2].skills, "sales:3");
  CHECK_STR(ag0[0].state, "available");
  int ended = 0;
  for (int a = 0; a < NAGENTS; a++)
    for (int i = 0; i < RT_BUCKETS; i++)
      ended += ca0[a].buckets[i];
  CHECK_INT(ended, NCALLS);
  sb_routing_processor.destroy(st);
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  sb_conf_free(&c);
  return 0;
}
