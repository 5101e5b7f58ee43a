/* Routing's assignment (processors/assignment/assign.h): every strategy and
 * filter on fixed cases with their explanations, then properties over
 * generated agents and requests: the chosen agent passes every filter
 * (checked here independently), the strategy's measure holds, the
 * decision does not depend on the candidates' order, and round robin keeps
 * equal agents within one lead of each other. */
#include "assign.h"

#include "sb_test.h"
#include "sb_tests.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000LL

static const char *const q_sales[] = {"sales"};
static const char *const q_both[] = {"sales", "support"};
static const routing_skill_t sk_es3[] = {{"spanish", 3}};
static const routing_skill_t sk_es5_ins2[] = {{"spanish", 5}, {"insurance", 2}};
static const routing_skill_t sk_ins4[] = {{"insurance", 4}};

static routing_cand_t agent(const char *id, routing_state_t st, int64_t idle,
                             int64_t calls) {
  routing_cand_t a = {.agent_id = id, .state = st, .idle_since_us = idle,
                       .calls_today = calls, .queues = q_both, .nqueues = 2};
  a.capacity[ROUTING_CH_VOICE] = 1;
  a.capacity[ROUTING_CH_CHAT] = 4;
  return a;
}

/* decide, and the explanation as text */
static int decide(routing_strategy_t s, const routing_request_t *rq,
                  const routing_cand_t *a, size_t n, routing_verdict_t *v,
                  routing_decision_t *d, char *json, size_t cap) {
  sb_err_t err = SB_ERR_INIT;
  if (routing_decide(s, rq, a, n, v, d, &err) != 0) {
    fprintf(stderr, "routing_decide: %s\n", err.msg);
    return 1;
  }
  cJSON *o = routing_decision_json(d, 50);
  char *t = o ? cJSON_PrintUnformatted(o) : NULL;
  int bad = t == NULL || strlen(t) >= cap;
  if (!bad)
    strcpy(json, t);
  cJSON_free(t);
  cJSON_Delete(o);
  return bad;
}

int test_routing_assign_strategies(void) {
  routing_cand_t ag[6];
  ag[0] = agent("a1", ROUTING_AVAILABLE, 5000 * MS, 7);
  ag[1] = agent("a2", ROUTING_AVAILABLE, 1000 * MS, 9); /* idle longest */
  ag[2] = agent("a3", ROUTING_PAUSED, 10 * MS, 0);
  ag[3] = agent("a4", ROUTING_ON_CALL, 20 * MS, 1);
  ag[4] = agent("a5", ROUTING_AVAILABLE, 3000 * MS, 2); /* fewest calls */
  ag[4].queues = q_sales, ag[4].nqueues = 1;
  ag[5] = agent("a6", ROUTING_OFFLINE, 0, 0);
  routing_request_t rq = {.queue = "support", .channel = ROUTING_CH_VOICE,
                          .units = 1};
  routing_verdict_t v[6];
  routing_decision_t d;
  char js[2048];

  CHECK(decide(ROUTING_LONGEST_WAIT, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(js,
            "{\"strategy\":\"longest_wait\",\"chosen\":\"a2\",\"relaxed\":false,"
            "\"tiebreak\":\"\",\"eligible\":2,\"considered\":6,"
            "\"candidates\":[{\"agent_id\":\"a2\"},{\"agent_id\":\"a1\"},"
            "{\"agent_id\":\"a3\",\"excluded\":\"paused\"},"
            "{\"agent_id\":\"a4\",\"excluded\":\"busy\",\"detail\":\"on_call\"},"
            "{\"agent_id\":\"a5\",\"excluded\":\"not_member\"},"
            "{\"agent_id\":\"a6\",\"excluded\":\"offline\"}]}");

  /* fewest calls: a5 in sales has 2 */
  rq.queue = "sales";
  CHECK(decide(ROUTING_FEWEST_CALLS, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a5");
  /* a tie on calls goes to the one idle longest, then to the id */
  ag[0].calls_today = 2;
  CHECK(decide(ROUTING_FEWEST_CALLS, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a5");
  CHECK_STR(d.tiebreak, "idle longest");
  ag[0].idle_since_us = ag[4].idle_since_us;
  CHECK(decide(ROUTING_FEWEST_CALLS, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a1");
  CHECK_STR(d.tiebreak, "agent id order");

  /* round robin remembers its position by id, and wraps */
  const char *seq[] = {"a2", "a5", "a1", "a2"};
  const char *last = "a1";
  for (int i = 0; i < 4; i++) {
    rq.rr_last = last;
    CHECK(decide(ROUTING_ROUND_ROBIN, &rq, ag, 6, v, &d, js, sizeof js) == 0);
    CHECK_STR(v[d.chosen].agent_id, seq[i]);
    if (i == 2)
      CHECK_STR(d.tiebreak, "next after a5 in agent id order (wrapped)");
    last = v[d.chosen].agent_id;
  }
  rq.rr_last = NULL;

  /* skills: required level, optional ones required until relaxed */
  ag[0].skills = sk_es5_ins2, ag[0].nskills = 2; /* a1: es 5, ins 2 */
  ag[1].skills = sk_es3, ag[1].nskills = 1;      /* a2: es 3 */
  ag[4].skills = sk_ins4, ag[4].nskills = 1;     /* a5: ins 4 */
  routing_skill_t need_es[] = {{"spanish", 3}}, opt_ins[] = {{"insurance", 1}};
  rq.required = need_es, rq.nrequired = 1;
  rq.optional = opt_ins, rq.noptional = 1;
  rq.relax_after_us = 30000 * MS, rq.waited_us = 1000 * MS;
  CHECK(decide(ROUTING_SKILLS, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a1");
  CHECK_INT(d.eligible, 1);
  CHECK_HAS(js, "{\"agent_id\":\"a2\",\"excluded\":\"missing_skill\",\"detail\":\"insurance<1\"}");
  CHECK_HAS(js, "{\"agent_id\":\"a5\",\"excluded\":\"missing_skill\",\"detail\":\"spanish<3\"}");
  /* waited past the relaxation: a2 qualifies too; a1 matches better (7 > 3) */
  rq.waited_us = 30000 * MS;
  ag[0].state = ROUTING_WRAPUP;
  CHECK(decide(ROUTING_SKILLS, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a2");
  CHECK_INT(d.relaxed, 1);
  CHECK_HAS(js, "\"relaxed\":true");
  ag[0].state = ROUTING_AVAILABLE;
  CHECK(decide(ROUTING_SKILLS, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a1");
  rq.required = rq.optional = NULL, rq.nrequired = rq.noptional = 0;

  /* capacity: chat, weighted units; over capacity excluded */
  rq.channel = ROUTING_CH_CHAT, rq.units = 2;
  ag[0].load[ROUTING_CH_CHAT] = 2; /* 4/4 after: full, allowed */
  ag[1].load[ROUTING_CH_CHAT] = 3; /* 5 > 4 */
  ag[4].capacity[ROUTING_CH_CHAT] = 8, ag[4].load[ROUTING_CH_CHAT] = 4; /* 6/8 */
  ag[3].capacity[ROUTING_CH_CHAT] = 0; /* on a call, takes no chat */
  CHECK(decide(ROUTING_CAPACITY, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a5");
  CHECK_HAS(js, "{\"agent_id\":\"a2\",\"excluded\":\"over_capacity\",\"detail\":\"3+2>4\"}");
  /* a chat goes to an agent on a call when it has room (not to a voice-only one) */
  rq.queue = "support";
  CHECK(decide(ROUTING_CAPACITY, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_STR(v[d.chosen].agent_id, "a1");
  CHECK_HAS(js, "{\"agent_id\":\"a4\",\"excluded\":\"channel_not_taken\"}");

  /* nobody */
  rq.units = 9;
  CHECK(decide(ROUTING_CAPACITY, &rq, ag, 6, v, &d, js, sizeof js) == 0);
  CHECK_INT(d.chosen, -1);
  CHECK_HAS(js, "\"chosen\":null");

  /* refusals */
  sb_err_t err = SB_ERR_INIT;
  rq.units = 0;
  CHECK(routing_decide(ROUTING_CAPACITY, &rq, ag, 6, v, &d, &err) == SB_EINVAL);
  rq.units = 1;
  ag[1].agent_id = "a1";
  err = (sb_err_t)SB_ERR_INIT;
  CHECK(routing_decide(ROUTING_CAPACITY, &rq, ag, 6, v, &d, &err) == SB_EINVAL);
  CHECK_HAS(err.msg, "a1 is a candidate twice");
  routing_strategy_t s;
  err = (sb_err_t)SB_ERR_INIT;
  CHECK(routing_strategy_parse("random", &s, &err) == SB_EINVAL);
  CHECK_HAS(err.msg, "longest_wait");
  CHECK(routing_strategy_parse("round_robin", &s, &err) == 0 &&
        s == ROUTING_ROUND_ROBIN);
  return 0;
}

/* ---- properties ---------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

#define NA 12
static const char *const ids[NA] = {"ag01", "ag02", "ag03", "ag04",
                                    "ag05", "ag06", "ag07", "ag08",
                                    "ag09", "ag10", "ag11", "ag12"};
static const char *const qnames[] = {"q1", "q2", "q3"};
static const char *const sknames[] = {"es", "fr", "ins"};

typedef struct {
  routing_cand_t a[NA];
  const char *queues[NA][3];
  routing_skill_t skills[NA][3];
} pool_t;

static void gen_pool(pool_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    routing_cand_t *a = &p->a[i];
    memset(a, 0, sizeof *a);
    a->agent_id = ids[i];
    a->state = (routing_state_t)rnd(6);
    a->idle_since_us = (int64_t)rnd(5) * 1000; /* ties on purpose */
    a->calls_today = rnd(4);
    a->nqueues = rnd(4);
    for (size_t k = 0; k < a->nqueues; k++)
      p->queues[i][k] = qnames[(k + i) % 3];
    a->queues = p->queues[i];
    a->nskills = rnd(4);
    for (size_t k = 0; k < a->nskills; k++)
      p->skills[i][k] = (routing_skill_t){sknames[k], (int)rnd(6)};
    a->skills = p->skills[i];
    for (int c = 0; c < ROUTING_CH_N; c++) {
      a->capacity[c] = (int)rnd(4);
      a->load[c] = (int)rnd(4);
    }
  }
}

/* every filter, written again */
static int qualifies(const routing_request_t *rq, const routing_cand_t *a,
                     int relaxed) {
  if (a->state == ROUTING_OFFLINE || a->state == ROUTING_PAUSED)
    return 0;
  if (rq->channel == ROUTING_CH_VOICE && a->state != ROUTING_AVAILABLE)
    return 0;
  int in = rq->queue == NULL;
  for (size_t i = 0; rq->queue && i < a->nqueues; i++)
    in |= strcmp(a->queues[i], rq->queue) == 0;
  if (!in || a->capacity[rq->channel] == 0 ||
      a->load[rq->channel] + rq->units > a->capacity[rq->channel])
    return 0;
  for (int pass = 0; pass < (relaxed ? 1 : 2); pass++) {
    const routing_skill_t *w = pass ? rq->optional : rq->required;
    size_t n = pass ? rq->noptional : rq->nrequired;
    for (size_t i = 0; i < n; i++) {
      int have = 0;
      for (size_t k = 0; k < a->nskills; k++)
        have |= strcmp(a->skills[k].name, w[i].name) == 0 &&
                a->skills[k].level >= w[i].level;
      if (!have)
        return 0;
    }
  }
  return 1;
}

int test_routing_assign_properties(void) {
  pool_t p, shuffled;
  routing_verdict_t v[NA], v2[NA];
  routing_decision_t d, d2;
  char js[8192], js2[8192];
  int decided = 0, nobody = 0;
  for (int round = 0; round < 3000; round++) {
    size_t n = 1 + rnd(NA);
    gen_pool(&p, n);
    routing_skill_t req[1] = {{sknames[rnd(3)], (int)rnd(4)}},
                    opt[1] = {{sknames[rnd(3)], (int)rnd(4)}};
    routing_request_t rq = {
        .queue = rnd(4) ? qnames[rnd(3)] : NULL,
        .channel = (routing_channel_t)rnd(ROUTING_CH_N),
        .units = 1 + (int)rnd(2),
        .required = req, .nrequired = rnd(2),
        .optional = opt, .noptional = rnd(2),
        .waited_us = rnd(3) * 1000, .relax_after_us = rnd(3) * 1000,
        .rr_last = rnd(2) ? ids[rnd(NA)] : NULL};
    routing_strategy_t s = (routing_strategy_t)rnd(5);
    CHECK(decide(s, &rq, p.a, n, v, &d, js, sizeof js) == 0);
    int want_eligible = 0;
    for (size_t i = 0; i < n; i++)
      want_eligible += qualifies(&rq, &p.a[i], d.relaxed);
    CHECK_INT(d.eligible, want_eligible);
    if (d.chosen < 0) {
      CHECK_INT(want_eligible, 0);
      nobody++;
      continue;
    }
    decided++;
    const routing_cand_t *w = &p.a[v[d.chosen].index];
    CHECK(qualifies(&rq, w, d.relaxed));
    for (size_t i = 0; i < n; i++) {
      const routing_cand_t *a = &p.a[i];
      if (!qualifies(&rq, a, d.relaxed))
        continue;
      if (s == ROUTING_LONGEST_WAIT)
        CHECK(w->idle_since_us <= a->idle_since_us);
      if (s == ROUTING_FEWEST_CALLS)
        CHECK(w->calls_today <= a->calls_today);
      if (s == ROUTING_CAPACITY) {
        int c = rq.channel;
        CHECK((int64_t)(w->load[c] + rq.units) * a->capacity[c] <=
              (int64_t)(a->load[c] + rq.units) * w->capacity[c]);
      }
    }
    /* the candidates' order does not matter */
    shuffled = p;
    for (size_t i = n; i > 1; i--) {
      size_t j = rnd((uint32_t)i);
      routing_cand_t t = shuffled.a[i - 1];
      shuffled.a[i - 1] = shuffled.a[j];
      shuffled.a[j] = t;
    }
    CHECK(decide(s, &rq, shuffled.a, n, v2, &d2, js2, sizeof js2) == 0);
    CHECK_STR(js2, js);
  }
  CHECK(decided > 500 && nobody > 100); /* the generator covers both */

  /* round robin: equal agents' counts differ by one at most */
  gen_pool(&p, NA);
  int count[NA] = {0};
  for (size_t i = 0; i < NA; i++) {
    p.a[i].state = ROUTING_AVAILABLE;
    p.a[i].capacity[ROUTING_CH_VOICE] = 1, p.a[i].load[ROUTING_CH_VOICE] = 0;
    p.a[i].nqueues = 0;
  }
  routing_request_t rq = {.channel = ROUTING_CH_VOICE, .units = 1};
  const char *last = NULL;
  for (int lead = 0; lead < 1000; lead++) {
    /* agents come and go: one in three leads finds one agent paused */
    size_t gone = rnd(3) == 0 ? rnd(NA) : NA;
    if (gone < NA)
      p.a[gone].state = ROUTING_PAUSED;
    rq.rr_last = last;
    CHECK(decide(ROUTING_ROUND_ROBIN, &rq, p.a, NA, v, &d, js, sizeof js) == 0);
    CHECK(d.chosen >= 0);
    count[v[d.chosen].index]++;
    last = v[d.chosen].agent_id;
    if (gone < NA)
      p.a[gone].state = ROUTING_AVAILABLE;
  }
  /* without absences the spread is at most one; with them, an absent agent
   * loses at most its turns while away: check the always-present case */
  int lo = 1 << 30, hi = 0;
  for (size_t i = 0; i < NA; i++)
    lo = count[i] < lo ? count[i] : lo, hi = count[i] > hi ? count[i] : hi;
  CHECK(hi - lo <= 1000 / NA); /* bounded even with absences */
  memset(count, 0, sizeof count);
  last = NULL;
  for (int lead = 0; lead < 1000; lead++) {
    rq.rr_last = last;
    CHECK(decide(ROUTING_ROUND_ROBIN, &rq, p.a, NA, v, &d, js, sizeof js) == 0);
    count[v[d.chosen].index]++;
    last = v[d.chosen].agent_id;
  }
  lo = 1 << 30, hi = 0;
  for (size_t i = 0; i < NA; i++)
    lo = count[i] < lo ? count[i] : lo, hi = count[i] > hi ? count[i] : hi;
  CHECK(hi - lo <= 1);
  return 0;
}
