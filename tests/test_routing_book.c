/* The routing book (processors/assignment/book.h): reservations, waiting
 * order, "queued" said once, relaxation by time, round-robin positions,
 * bounds; and the property that makes routing replayable: a book saved
 * (flush) and restored anywhere in a run decides exactly as the one that
 * was never saved, and no assignment ever passes an agent's capacity. */
#include "book.h"
#include "book_codec.h"

#include "sb_test.h"
#include "sb_tests.h"

#include <stdlib.h>
#include <string.h>

#define S 1000000LL

/* what a book said, one line per outcome */
typedef struct {
  routing_book_t *b;
  char log[16384];
  int over; /* an assignment past capacity */
} said_t;

static int on_outcome(void *arg, const routing_outcome_t *o, sb_err_t *err) {
  (void)err;
  said_t *s = arg;
  char line[256];
  snprintf(line, sizeof line, "%s %s %s @%lld\n", o->what,
           o->lead ? o->lead->id : "-", o->agent_id ? o->agent_id : "-",
           (long long)(o->at_us / S));
  if (strlen(s->log) + strlen(line) < sizeof s->log)
    strcat(s->log, line);
  if (strcmp(o->what, "assigned") == 0) {
    const routing_agent_rec_t *a = routing_book_agent(s->b, o->agent_id);
    int c = o->lead->channel;
    if (a == NULL || a->load[c] + a->reserved[c] > a->capacity[c])
      s->over = 1;
  }
  return 0;
}

static routing_agent_rec_t agent(const char *id, routing_state_t st,
                                 int64_t as_of, int64_t idle) {
  routing_agent_rec_t a = {.state = st, .as_of_us = as_of,
                           .idle_since_us = idle, .nqueues = 1};
  snprintf(a.id, sizeof a.id, "%s", id);
  snprintf(a.queues[0], sizeof a.queues[0], "sales");
  a.capacity[ROUTING_CH_VOICE] = 1;
  return a;
}

static routing_lead_rec_t lead(const char *id, int64_t score) {
  routing_lead_rec_t l = {.channel = ROUTING_CH_VOICE, .units = 1,
                          .score = score};
  snprintf(l.id, sizeof l.id, "%s", id);
  snprintf(l.queue, sizeof l.queue, "sales");
  return l;
}

static const routing_book_conf_t conf = {.reserve_timeout_us = 30 * S,
                                         .max_waiting = 3,
                                         .default_strategy =
                                             ROUTING_LONGEST_WAIT};

#define OK(call) CHECK_OK(call, &err)

int test_routing_book_decisions(void) {
  sb_err_t err = SB_ERR_INIT;
  said_t s = {0};
  s.b = routing_book_new(&conf);
  CHECK(s.b != NULL);
  routing_agent_rec_t a1 = agent("a1", ROUTING_AVAILABLE, 1 * S, 0);
  routing_lead_rec_t l1 = lead("L1", 10), l2 = lead("L2", 20);
  OK(routing_book_agent_set(s.b, &a1, 1 * S, on_outcome, &s, &err));
  OK(routing_book_lead_ready(s.b, &l1, 2 * S, on_outcome, &s, &err));
  /* a1 is reserved: L2 waits, and hears it once */
  OK(routing_book_lead_ready(s.b, &l2, 3 * S, on_outcome, &s, &err));
  l2.score = 25;
  OK(routing_book_lead_ready(s.b, &l2, 4 * S, on_outcome, &s, &err));
  /* a snapshot older than the reservation changes nothing */
  a1.as_of_us = 1 * S;
  OK(routing_book_agent_set(s.b, &a1, 5 * S, on_outcome, &s, &err));
  /* a newer one on a call: still no room; then available: L2 goes */
  a1.as_of_us = 6 * S, a1.state = ROUTING_ON_CALL;
  OK(routing_book_agent_set(s.b, &a1, 6 * S, on_outcome, &s, &err));
  a1.as_of_us = 9 * S, a1.state = ROUTING_AVAILABLE;
  OK(routing_book_agent_set(s.b, &a1, 9 * S, on_outcome, &s, &err));
  CHECK_STR(s.log, "assigned L1 a1 @2\nqueued L2 - @3\nassigned L2 a1 @9\n");
  CHECK_INT(routing_book_waiting(s.b), 0);

  /* the reservation ends after its timeout when no snapshot came */
  s.log[0] = '\0';
  routing_lead_rec_t l3 = lead("L3", 1), l4 = lead("L4", 1);
  OK(routing_book_lead_ready(s.b, &l3, 10 * S, on_outcome, &s, &err));
  /* L2's reservation, made at 9, ends at 39 */
  CHECK_INT(routing_book_next_due(s.b, 10 * S), 39 * S);
  CHECK_INT(routing_book_next_due(s.b, 39 * S), 0); /* nothing after it */
  OK(routing_book_tick(s.b, 38 * S, on_outcome, &s, &err));
  OK(routing_book_tick(s.b, 39 * S, on_outcome, &s, &err));
  OK(routing_book_lead_ready(s.b, &l4, 40 * S, on_outcome, &s, &err));
  CHECK_STR(s.log, "queued L3 - @10\nreleased - a1 @39\nassigned L3 a1 @39\n"
                   "queued L4 - @40\n");

  /* order: recycled, queue priority, score, time waiting, id; the bound */
  s.log[0] = '\0';
  routing_lead_rec_t l5 = lead("L5", 99), l6 = lead("L6", 1);
  l6.recycled = 1;
  OK(routing_book_lead_ready(s.b, &l5, 41 * S, on_outcome, &s, &err));
  OK(routing_book_lead_ready(s.b, &l6, 42 * S, on_outcome, &s, &err));
  routing_lead_rec_t l7 = lead("L7", 1000);
  OK(routing_book_lead_ready(s.b, &l7, 43 * S, on_outcome, &s, &err));
  CHECK_INT(routing_book_waiting(s.b), 3);
  a1.as_of_us = 50 * S;
  for (int i = 0; i < 3; i++) { /* each snapshot frees a1 once */
    a1.as_of_us += S;
    OK(routing_book_agent_set(s.b, &a1, a1.as_of_us, on_outcome, &s, &err));
  }
  CHECK_STR(s.log, "queued L5 - @41\nqueued L6 - @42\nqueue_full L7 - @43\n"
                   "assigned L6 a1 @51\nassigned L5 a1 @52\n"
                   "assigned L4 a1 @53\n");

  /* withdrawn; round robin remembers; relaxation by time */
  s.log[0] = '\0';
  routing_queue_rec_t q = {.strategy = ROUTING_ROUND_ROBIN,
                           .relax_after_us = 20 * S};
  snprintf(q.id, sizeof q.id, "sales");
  OK(routing_book_queue_set(s.b, &q, 60 * S, on_outcome, &s, &err));
  routing_agent_rec_t a2 = agent("a2", ROUTING_AVAILABLE, 61 * S, 0);
  a1.as_of_us = 61 * S;
  OK(routing_book_agent_set(s.b, &a1, 61 * S, on_outcome, &s, &err));
  OK(routing_book_agent_set(s.b, &a2, 61 * S, on_outcome, &s, &err));
  routing_lead_rec_t l8 = lead("L8", 1), l9 = lead("L9", 1);
  l9.noptional = 1;
  snprintf(l9.optional[0].name, sizeof l9.optional[0].name, "french");
  l9.optional[0].level = 2;
  OK(routing_book_lead_ready(s.b, &l8, 62 * S, on_outcome, &s, &err));
  OK(routing_book_lead_ready(s.b, &l9, 63 * S, on_outcome, &s, &err));
  /* L9's relaxation (63 + 20) comes before L8's reservation ends (62 + 30) */
  CHECK_INT(routing_book_next_due(s.b, 63 * S), 83 * S);
  CHECK_INT(routing_book_next_due(s.b, 83 * S), 92 * S);
  OK(routing_book_tick(s.b, 83 * S, on_outcome, &s, &err));
  routing_lead_rec_t l10 = lead("L10", 1);
  OK(routing_book_lead_ready(s.b, &l10, 84 * S, on_outcome, &s, &err));
  OK(routing_book_lead_remove(s.b, "L10", 85 * S, on_outcome, &s, &err));
  OK(routing_book_lead_remove(s.b, "nobody", 85 * S, on_outcome, &s, &err));
  /* the queue's position was a1 (its last assignments): L8 goes to a2 */
  CHECK_STR(s.log, "assigned L8 a2 @62\nqueued L9 - @63\nassigned L9 a1 @83\n"
                   "queued L10 - @84\nwithdrawn L10 - @85\n");

  /* refusals */
  routing_lead_rec_t bad = lead("", 1);
  CHECK(routing_book_lead_ready(s.b, &bad, 90 * S, on_outcome, &s, &err) ==
        SB_EINVAL);
  bad = lead("L11", 1);
  bad.units = 0;
  err = (sb_err_t)SB_ERR_INIT;
  CHECK(routing_book_lead_ready(s.b, &bad, 90 * S, on_outcome, &s, &err) ==
        SB_EINVAL);
  routing_agent_rec_t badag = agent("a3", ROUTING_AVAILABLE, 0, 0);
  badag.nqueues = ROUTING_QUEUES_MAX + 1;
  err = (sb_err_t)SB_ERR_INIT;
  CHECK(routing_book_agent_set(s.b, &badag, 90 * S, on_outcome, &s, &err) ==
        SB_EINVAL);
  CHECK(!s.over);
  routing_book_free(s.b);
  return 0;
}

/* ---- saved and restored anywhere: the same decisions ---------------------- */

typedef struct {
  routing_agent_rec_t agents[64];
  int nagents;
  routing_queue_rec_t queues[8];
  int nqueues;
  routing_lead_rec_t leads[256];
  int nleads;
} saved_t;

/* the saved records, as a processor's keyed state would hold them */
static saved_t store;

/* through the codec, as the processor saves: what comes back is stored */
#define ROUNDTRIP(kind, rec, copy)                                            \
  char *t_;                                                                   \
  size_t n_;                                                                  \
  int rc_ = routing_##kind##_encode(rec, &t_, &n_, err);                      \
  if (rc_ == 0)                                                               \
    rc_ = routing_##kind##_decode(t_, n_, &copy, err);                        \
  free(t_);                                                                   \
  if (rc_ != 0)                                                               \
    return rc_;

static int save_agent(void *arg, const routing_agent_rec_t *a0, sb_err_t *err) {
  (void)arg;
  routing_agent_rec_t c;
  ROUNDTRIP(agent, a0, c)
  const routing_agent_rec_t *a = &c;
  for (int i = 0; i < store.nagents; i++)
    if (strcmp(store.agents[i].id, a->id) == 0) {
      store.agents[i] = *a;
      return 0;
    }
  store.agents[store.nagents++] = *a;
  return 0;
}
static int save_queue(void *arg, const routing_queue_rec_t *q0, sb_err_t *err) {
  (void)arg;
  routing_queue_rec_t c;
  ROUNDTRIP(queue, q0, c)
  const routing_queue_rec_t *q = &c;
  for (int i = 0; i < store.nqueues; i++)
    if (strcmp(store.queues[i].id, q->id) == 0) {
      store.queues[i] = *q;
      return 0;
    }
  store.queues[store.nqueues++] = *q;
  return 0;
}
static int save_lead(void *arg, const char *id, const routing_lead_rec_t *l0,
                     sb_err_t *err) {
  (void)arg;
  routing_lead_rec_t c;
  const routing_lead_rec_t *l = NULL;
  if (l0 != NULL) {
    ROUNDTRIP(lead, l0, c)
    l = &c;
  }
  for (int i = 0; i < store.nleads; i++)
    if (strcmp(store.leads[i].id, id) == 0) {
      if (l)
        store.leads[i] = *l;
      else
        store.leads[i] = store.leads[--store.nleads];
      return 0;
    }
  if (l)
    store.leads[store.nleads++] = *l;
  return 0;
}
static const routing_dirty_t saver = {save_agent, save_queue, save_lead};

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

int test_routing_book_restored_decides_the_same(void) {
  sb_err_t err = SB_ERR_INIT;
  routing_book_conf_t c = conf;
  c.max_waiting = 200;
  said_t a = {0}, b = {0}; /* a: never saved; b: saved, restored often */
  a.b = routing_book_new(&c), b.b = routing_book_new(&c);
  CHECK(a.b && b.b);
  memset(&store, 0, sizeof store);
  static const char *const qs[] = {"sales", "support", ""};
  int64_t now = S, assigned = 0, restores = 0;
  char la[16384], lb[16384];
  for (int step = 0; step < 4000; step++) {
    now += rnd(5) * S;
    a.log[0] = b.log[0] = '\0';
    int op = (int)rnd(10);
    int rc1, rc2;
    if (op < 3) {
      char id[16];
      snprintf(id, sizeof id, "ag%02u", rnd(12));
      routing_agent_rec_t ag = agent(id, (routing_state_t)rnd(6),
                                     now - rnd(3) * S, rnd(100) * S);
      ag.nqueues = (int)rnd(3);
      snprintf(ag.queues[0], sizeof ag.queues[0], "%s", qs[rnd(2)]);
      snprintf(ag.queues[1], sizeof ag.queues[1], "support");
      ag.capacity[ROUTING_CH_CHAT] = (int)rnd(4);
      ag.load[ROUTING_CH_CHAT] = (int)rnd(3);
      ag.nskills = (int)rnd(2);
      snprintf(ag.skills[0].name, sizeof ag.skills[0].name, "es");
      ag.skills[0].level = (int)rnd(4);
      rc1 = routing_book_agent_set(a.b, &ag, now, on_outcome, &a, &err);
      rc2 = routing_book_agent_set(b.b, &ag, now, on_outcome, &b, &err);
    } else if (op < 7) {
      char id[16];
      snprintf(id, sizeof id, "L%03u", rnd(150));
      routing_lead_rec_t l = lead(id, rnd(50));
      snprintf(l.queue, sizeof l.queue, "%s", qs[rnd(3)]);
      l.channel = rnd(2) ? ROUTING_CH_VOICE : ROUTING_CH_CHAT;
      l.units = 1 + (int)rnd(2);
      l.recycled = rnd(5) == 0;
      l.noptional = (int)rnd(2);
      snprintf(l.optional[0].name, sizeof l.optional[0].name, "es");
      l.optional[0].level = (int)rnd(4);
      rc1 = routing_book_lead_ready(a.b, &l, now, on_outcome, &a, &err);
      rc2 = routing_book_lead_ready(b.b, &l, now, on_outcome, &b, &err);
    } else if (op < 8) {
      char id[16];
      snprintf(id, sizeof id, "L%03u", rnd(150));
      rc1 = routing_book_lead_remove(a.b, id, now, on_outcome, &a, &err);
      rc2 = routing_book_lead_remove(b.b, id, now, on_outcome, &b, &err);
    } else if (op < 9) {
      routing_queue_rec_t q = {.strategy = (routing_strategy_t)rnd(5),
                               .relax_after_us = rnd(3) * 10 * S,
                               .priority = (int)rnd(3)};
      snprintf(q.id, sizeof q.id, "%s", qs[rnd(2)]);
      rc1 = routing_book_queue_set(a.b, &q, now, on_outcome, &a, &err);
      rc2 = routing_book_queue_set(b.b, &q, now, on_outcome, &b, &err);
    } else {
      rc1 = routing_book_tick(a.b, now, on_outcome, &a, &err);
      rc2 = routing_book_tick(b.b, now, on_outcome, &b, &err);
    }
    CHECK_INT(rc1, 0);
    CHECK_INT(rc2, 0);
    strcpy(la, a.log), strcpy(lb, b.log);
    if (strcmp(la, lb) != 0) {
      fprintf(stderr, "step %d: the restored book decided\n%s\nthe other\n%s",
              step, lb, la);
      return 1;
    }
    for (const char *p = la; (p = strstr(p, "assigned ")) != NULL; p++)
      assigned++;
    /* b: saved, dropped and restored from what was saved, now and then */
    OK(routing_book_flush(b.b, &saver, NULL, &err));
    if (rnd(7) == 0) {
      routing_book_free(b.b);
      b.b = routing_book_new(&c);
      CHECK(b.b != NULL);
      for (int i = 0; i < store.nagents; i++)
        OK(routing_book_restore_agent(b.b, &store.agents[i], &err));
      for (int i = 0; i < store.nqueues; i++)
        OK(routing_book_restore_queue(b.b, &store.queues[i], &err));
      for (int i = 0; i < store.nleads; i++)
        OK(routing_book_restore_lead(b.b, &store.leads[i], &err));
      restores++;
    }
    CHECK_INT(routing_book_waiting(a.b), routing_book_waiting(b.b));
    CHECK_INT(routing_book_next_due(a.b, now), routing_book_next_due(b.b, now));
  }
  CHECK(!a.over && !b.over);
  CHECK(assigned > 300 && restores > 300);
  routing_book_free(a.b);
  routing_book_free(b.b);
  return 0;
}

int test_routing_book_codec_refusals(void) {
  static const struct {
    int kind; /* 0 agent, 1 queue, 2 lead */
    const char *text, *want;
  } cases[] = {
      {0, "", "is not a JSON object"},
      {0, "[1]", "is not a JSON object"},
      {0, "{\"state\":\"available\"}", "id is missing"},
      {0, "{\"id\":\"a\",\"state\":\"asleep\"}", "state is unknown"},
      {0, "{\"id\":\"a\",\"state\":\"paused\",\"as_of\":1.5}",
       "as_of is not a whole number"},
      {0, "{\"id\":\"a\",\"state\":\"paused\",\"load\":{\"fax\":1}}",
       "load names an unknown channel"},
      {0, "{\"id\":\"a\",\"state\":\"paused\",\"queues\":\"q\"}",
       "queues is not an array"},
      {1, "{\"id\":\"q\",\"strategy\":\"random\"}", "strategy is unknown"},
      {2, "{\"id\":\"l\",\"queue\":\"\",\"channel\":\"pigeon\"}",
       "channel is unknown"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sb_err_t err = SB_ERR_INIT;
    routing_agent_rec_t a;
    routing_queue_rec_t q;
    routing_lead_rec_t l;
    size_t n = strlen(cases[i].text);
    int rc = cases[i].kind == 0 ? routing_agent_decode(cases[i].text, n, &a, &err)
             : cases[i].kind == 1 ? routing_queue_decode(cases[i].text, n, &q, &err)
                                  : routing_lead_decode(cases[i].text, n, &l, &err);
    CHECK_INT(rc, SB_EDECODE);
    CHECK_HAS(err.msg, cases[i].want);
  }
  /* a name one byte too long for its field */
  char text[256];
  snprintf(text, sizeof text, "{\"id\":\"%064d\",\"state\":\"paused\"}", 0);
  sb_err_t err = SB_ERR_INIT;
  routing_agent_rec_t a;
  CHECK_INT(routing_agent_decode(text, strlen(text), &a, &err), SB_EDECODE);
  CHECK_HAS(err.msg, "id is not a string of its size");
  return 0;
}

/* ---- two-sided agents and gates ------------------------------------------ */

int test_routing_book_sides_and_gates(void) {
  sb_err_t err = SB_ERR_INIT;
  said_t s = {0};
  routing_book_conf_t c = conf;
  c.max_waiting = 100;
  s.b = routing_book_new(&c);
  CHECK(s.b != NULL);
  /* the agent's own side says available since 100; a lead goes to it */
  routing_agent_rec_t side = agent("a1", ROUTING_AVAILABLE, 100 * S, 0);
  side.state_at_us = 100 * S;
  OK(routing_book_agent_update(s.b, ROUTING_SIDE_AGENT, &side, 100 * S,
                               on_outcome, &s, &err));
  routing_lead_rec_t l1 = lead("L1", 1), l2 = lead("L2", 1), l3 = lead("L3", 1);
  OK(routing_book_lead_ready(s.b, &l1, 101 * S, on_outcome, &s, &err));
  /* its call rings (newer than the reservation: the reservation ends, the
   * call says it is busy); L2 waits */
  routing_agent_rec_t call = {.call_state = ROUTING_RINGING,
                              .call_at_us = 102 * S, .calls_day = 7};
  snprintf(call.id, sizeof call.id, "a1");
  OK(routing_book_agent_update(s.b, ROUTING_SIDE_CALL, &call, 102 * S,
                               on_outcome, &s, &err));
  OK(routing_book_lead_ready(s.b, &l2, 103 * S, on_outcome, &s, &err));
  CHECK_INT(routing_book_agent(s.b, "a1")->reserved[ROUTING_CH_VOICE], 0);
  /* an older side of the agent changes nothing */
  routing_agent_rec_t old = side;
  old.state = ROUTING_PAUSED, old.as_of_us = 50 * S;
  OK(routing_book_agent_update(s.b, ROUTING_SIDE_AGENT, &old, 104 * S,
                               on_outcome, &s, &err));
  CHECK_INT(routing_book_agent(s.b, "a1")->state, ROUTING_AVAILABLE);
  /* the call ends and is done: available again (the agent's side is older
   * and available), one call counted today; L2 goes */
  call.call_state = ROUTING_WRAPUP, call.call_at_us = 150 * S;
  call.call_ended = 1;
  OK(routing_book_agent_update(s.b, ROUTING_SIDE_CALL, &call, 150 * S,
                               on_outcome, &s, &err));
  call.call_state = ROUTING_AVAILABLE, call.call_at_us = 200 * S;
  call.call_ended = 0;
  OK(routing_book_agent_update(s.b, ROUTING_SIDE_CALL, &call, 200 * S,
                               on_outcome, &s, &err));
  CHECK_INT(routing_book_agent(s.b, "a1")->calls_today, 1);
  /* the agent pauses after that call: its side is the later one */
  side.state = ROUTING_PAUSED, side.state_at_us = side.as_of_us = 300 * S;
  OK(routing_book_agent_update(s.b, ROUTING_SIDE_AGENT, &side, 300 * S,
                               on_outcome, &s, &err));
  OK(routing_book_lead_ready(s.b, &l3, 301 * S, on_outcome, &s, &err));
  CHECK_STR(s.log, "assigned L1 a1 @101\nqueued L2 - @103\nassigned L2 a1 @200\n"
                   "queued L3 - @301\n");
  /* the next day's first call end restarts the count */
  call.calls_day = 8, call.call_ended = 1, call.call_at_us = 400 * S;
  call.call_state = ROUTING_WRAPUP;
  OK(routing_book_agent_update(s.b, ROUTING_SIDE_CALL, &call, 400 * S,
                               on_outcome, &s, &err));
  CHECK_INT(routing_book_agent(s.b, "a1")->calls_today, 1);
  routing_book_free(s.b);

  /* gates: a campaign dialling Monday 09:00-17:00 in New York, a lead in Los
   * Angeles (TCPA: 08:00 there is 16:00 UTC on Monday 2 March 2026) */
  const int64_t mon1430 = 1772461800LL * S; /* 2026-03-02T14:30:00Z */
  s = (said_t){0};
  s.b = routing_book_new(&c);
  routing_agent_rec_t a2 = agent("a2", ROUTING_AVAILABLE, mon1430, 0);
  snprintf(a2.queues[0], sizeof a2.queues[0], "camp");
  OK(routing_book_agent_set(s.b, &a2, mon1430, on_outcome, &s, &err));
  routing_queue_rec_t gate = {.strategy = ROUTING_LONGEST_WAIT};
  snprintf(gate.id, sizeof gate.id, "camp");
  snprintf(gate.window, sizeof gate.window, "mon 09:00-17:00");
  snprintf(gate.zone, sizeof gate.zone, "America/New_York");
  OK(routing_book_queue_gate(s.b, &gate, mon1430, on_outcome, &s, &err));
  routing_lead_rec_t la = lead("LA", 5);
  snprintf(la.queue, sizeof la.queue, "camp");
  snprintf(la.zone, sizeof la.zone, "America/Los_Angeles");
  OK(routing_book_lead_ready(s.b, &la, mon1430, on_outcome, &s, &err));
  const int64_t opens = mon1430 + 90 * 60 * S; /* 16:00Z: 08:00 in LA */
  CHECK_INT(routing_book_next_due(s.b, mon1430), opens);
  OK(routing_book_tick(s.b, opens - S, on_outcome, &s, &err));
  OK(routing_book_tick(s.b, opens, on_outcome, &s, &err));
  CHECK_STR(s.log, "held LA - @1772461800\nassigned LA a2 @1772467200\n");
  /* paused: held until resumed, whatever the hour */
  s.log[0] = '\0';
  a2.as_of_us = opens + S;
  OK(routing_book_agent_set(s.b, &a2, opens + S, on_outcome, &s, &err));
  gate.paused = 1;
  OK(routing_book_queue_gate(s.b, &gate, opens + 2 * S, on_outcome, &s, &err));
  routing_lead_rec_t lb = lead("LB", 5);
  snprintf(lb.queue, sizeof lb.queue, "camp");
  snprintf(lb.zone, sizeof lb.zone, "America/Los_Angeles");
  OK(routing_book_lead_ready(s.b, &lb, opens + 3 * S, on_outcome, &s, &err));
  CHECK_INT(routing_book_next_due(s.b, opens + 3 * S) == 0 ||
                routing_book_next_due(s.b, opens + 3 * S) > opens + 3 * S,
            1);
  gate.paused = 0;
  OK(routing_book_queue_gate(s.b, &gate, opens + 4 * S, on_outcome, &s, &err));
  CHECK_STR(s.log, "held LB - @1772467203\nassigned LB a2 @1772467204\n");
  /* a window that does not parse is refused */
  snprintf(gate.window, sizeof gate.window, "someday 09:00-17:00");
  err = (sb_err_t)SB_ERR_INIT;
  CHECK(routing_book_queue_gate(s.b, &gate, opens, on_outcome, &s, &err) != 0);
  CHECK(!s.over);
  routing_book_free(s.b);
  return 0;
}
