/* A queue's configuration as producers post it: routing.queue_configured
 * refused at ingest (the codec: the strategy's enum, the bounds of each
 * number, the skills list) with the field named, and accepted when it
 * holds. What the schema cannot say (a skill's syntax and level, a skill
 * twice) the routing processor refuses to the dead letters: golden case
 * tests/golden/routing/queues; the decisions it leads to:
 * tests/golden/assignment/queues. */
#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <string.h>

/* the event with data, and SB_EVALIDATE whose message has want (NULL:
 * accepted) */
static int check(sb_codec_t *c, const char *data, const char *want) {
  char text[2048];
  snprintf(text, sizeof text,
           "{\"specversion\":\"1.0\",\"type\":\"routing.queue_configured\","
           "\"source\":\"/t\",\"subject\":\"sales\",\"time\":"
           "\"2026-03-02T09:00:00Z\",\"tenantid\":\"acme\",\"id\":"
           "\"01KGQ000000000000000000001\",\"data\":%s}",
           data);
  cJSON *ce = cJSON_Parse(text);
  sb_err_t err = SB_ERR_INIT;
  sb_record_t r;
  int rc = ce ? sb_codec_from_ce(c, ce, 0, &r, &err) : SB_EINVAL;
  cJSON_Delete(ce);
  if (rc == 0)
    sb_record_clear(&r);
  if (want == NULL && rc != 0) {
    fprintf(stderr, "refused %s: %s\n", data, err.msg);
    return 1;
  }
  if (want != NULL && (rc != SB_EVALIDATE || strstr(err.msg, want) == NULL)) {
    fprintf(stderr, "%s: want SB_EVALIDATE with \"%s\", got %s (%s)\n", data,
            want, sb_err_name(rc), err.msg);
    return 1;
  }
  return 0;
}

int test_routing_queue_refused(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  char many[1024] = "{\"strategy\":\"skills\",\"required_skills\":[";
  for (int i = 0; i < 17; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"s%d\"",
             i ? "," : "", i);
  snprintf(many + strlen(many), sizeof many - strlen(many), "]}");
  static const struct {
    const char *data, *want;
  } cases[] = {
      {"{\"strategy\":\"longest_wait_time\"}", NULL},
      {"{\"strategy\":\"round_robin\",\"relax_after_ms\":0,\"max_waiting\":1,"
       "\"priority\":-1000,\"service_level_s\":1,\"required_skills\":[\"es:2\","
       "\"en\"],\"description\":\"d\"}",
       NULL},
      {"{\"strategy\":\"capacity\",\"relax_after_ms\":86400000,"
       "\"max_waiting\":1000000,\"priority\":1000,\"service_level_s\":86400}",
       NULL},
      {"{}", "data.strategy: missing required field"},
      {"{\"strategy\":\"random\"}", "data.strategy: 'random' is not one of "
                                    "longest_wait_time, fewest_calls"},
      {"{\"strategy\":\"longest_wait\"}", "data.strategy"},
      {"{\"strategy\":\"skills\",\"relax_after_ms\":-1}",
       "data.relax_after_ms"},
      {"{\"strategy\":\"skills\",\"relax_after_ms\":86400001}",
       "data.relax_after_ms"},
      {"{\"strategy\":\"skills\",\"max_waiting\":0}", "data.max_waiting"},
      {"{\"strategy\":\"skills\",\"priority\":1001}", "data.priority"},
      {"{\"strategy\":\"skills\",\"service_level_s\":0}",
       "data.service_level_s"},
      {"{\"strategy\":\"skills\",\"required_skills\":\"es\"}",
       "data.required_skills"},
      {"{\"strategy\":\"skills\",\"required_skills\":[\"a-skill-name-longer-"
       "than-sixty-six-bytes-is-refused-at-ingest-whatever-it-says\"]}",
       "data.required_skills"},
      {"{\"strategy\":\"skills\",\"queue_id\":\"a-queue-id-longer-than-sixty-"
       "three-bytes-is-refused-at-ingest-here\"}",
       "queue_id"},
  };
  int failed = check(c, many, "data.required_skills");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    failed += check(c, cases[i].data, cases[i].want);
  sb_codec_free(c);
  sb_schemas_free(s);
  return failed ? 1 : 0;
}

/* ---- draining a long wait: the cost per input ---------------------------- */

#include "book.h"

#include <time.h>

typedef struct {
  int assigned, queued, other;
  char last_lead[64], last_agent[64];
} tally_t;

static int count(void *arg, const routing_outcome_t *o, sb_err_t *err) {
  (void)err;
  tally_t *t = arg;
  if (strcmp(o->what, "assigned") == 0) {
    t->assigned++;
    snprintf(t->last_lead, sizeof t->last_lead, "%s", o->lead->id);
    snprintf(t->last_agent, sizeof t->last_agent, "%s", o->agent_id);
  } else if (strcmp(o->what, "queued") == 0) {
    t->queued++;
  } else {
    t->other++;
  }
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 2,000 agents busy on voice but with room for a chat, and 4,000 voice
 * leads waiting: each new voice lead, and each chat, used to be offered
 * every waiting lead in turn, each against every agent (O(waiting x
 * agents) an input, after sorting them all); the book now leaves out,
 * unsorted, the leads that heard "queued" and whose channel has no room
 * anywhere. Checked: the decisions (each voice lead queued once, the chat
 * assigned, a freed agent takes the first voice lead in turn); printed:
 * the cost per input (a figure, not asserted). */
int test_routing_book_drain_cost(void) {
  enum { AGENTS = 2000, LEADS = 4000 };
  routing_book_conf_t conf = {.reserve_timeout_us = INT64_C(3600000000),
                              .max_waiting = 100000,
                              .default_strategy = ROUTING_LONGEST_WAIT};
  routing_book_t *b = routing_book_new(&conf);
  CHECK(b != NULL);
  sb_err_t err = SB_ERR_INIT;
  tally_t t = {0};
  int64_t now = INT64_C(1772442000000000);
  routing_agent_rec_t a;
  for (int i = 0; i < AGENTS; i++) {
    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, "a%05d", i);
    a.state = ROUTING_AVAILABLE;
    a.idle_since_us = now - i;
    a.as_of_us = now;
    a.nqueues = 1;
    snprintf(a.queues[0], sizeof a.queues[0], "q");
    a.capacity[ROUTING_CH_VOICE] = 1, a.load[ROUTING_CH_VOICE] = 1;
    a.capacity[ROUTING_CH_CHAT] = 1;
    CHECK_OK(routing_book_agent_set(b, &a, now, count, &t, &err), &err);
  }
  routing_lead_rec_t l;
  double t0 = 0;
  for (int i = 0; i < LEADS; i++) {
    if (i == LEADS - 500)
      t0 = now_s();
    memset(&l, 0, sizeof l);
    snprintf(l.id, sizeof l.id, "L%05d", i);
    snprintf(l.queue, sizeof l.queue, "q");
    l.channel = ROUTING_CH_VOICE, l.units = 1, l.score = i % 100;
    CHECK_OK(routing_book_lead_ready(b, &l, now + i, count, &t, &err), &err);
  }
  double per_lead = (now_s() - t0) / 500;
  CHECK_INT(t.queued, LEADS);
  CHECK_INT(t.assigned, 0);
  double t1 = now_s();
  memset(&l, 0, sizeof l);
  snprintf(l.id, sizeof l.id, "chat-1");
  snprintf(l.queue, sizeof l.queue, "q");
  l.channel = ROUTING_CH_CHAT, l.units = 1;
  CHECK_OK(routing_book_lead_ready(b, &l, now + LEADS, count, &t, &err), &err);
  double per_chat = now_s() - t1;
  CHECK_INT(t.assigned, 1);
  CHECK_STR(t.last_lead, "chat-1");
  CHECK_STR(t.last_agent, "a01999"); /* idle longest */
  /* a00007 frees its voice slot: the first voice lead in turn (score 99,
   * the earliest: L00099) */
  memset(&a, 0, sizeof a);
  snprintf(a.id, sizeof a.id, "a00007");
  a.state = ROUTING_AVAILABLE;
  a.idle_since_us = now + LEADS + 1;
  a.as_of_us = now + LEADS + 1;
  a.nqueues = 1;
  snprintf(a.queues[0], sizeof a.queues[0], "q");
  a.capacity[ROUTING_CH_VOICE] = 1;
  a.capacity[ROUTING_CH_CHAT] = 1;
  CHECK_OK(routing_book_agent_set(b, &a, now + LEADS + 1, count, &t, &err),
           &err);
  CHECK_INT(t.assigned, 2);
  CHECK_STR(t.last_lead, "L00099");
  CHECK_STR(t.last_agent, "a00007");
  CHECK_INT(t.other, 0);
  CHECK_INT((int)routing_book_waiting(b), LEADS - 1);
  printf("routing_book_drain_cost: %d agents, %d voice leads waiting: %.1f us "
         "a new voice lead, %.1f us a chat lead\n",
         AGENTS, LEADS, per_lead * 1e6, per_chat * 1e6);
  routing_book_free(b);
  return 0;
}

/* ---- the lead's record: version 1 still reads ------------------------------ */

#include "routing_int.h"

/* Leads saved before version 2 of rt_lead_t (channel and skills) are in
 * keyed state as 984 bytes (x86-64): leads.c reads a record of that size
 * as version 1 (its fields, the newer ones zero). This pins the size, so
 * that a change to the version 1 fields fails here, not in production. */
int test_routing_lead_record_v1(void) {
  CHECK_INT((int)RT_LEAD_V1_SIZE, 984);
  CHECK_INT((int)RT_LEAD_V1_FIELDS, 980);
  CHECK(sizeof(rt_lead_t) != RT_LEAD_V1_SIZE);
  return 0;
}
