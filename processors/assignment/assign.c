/* Routing's assignment (assign.h). */
#include "assign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const strategy_names[] = {
    "longest_wait", "fewest_calls", "round_robin", "skills", "capacity"};
static const char *const state_names[] = {"offline", "available", "ringing",
                                          "on_call", "wrapup",    "paused"};
static const char *const channel_names[] = {"voice", "sms", "email", "chat"};

#define NAMES(a) (sizeof(a) / sizeof((a)[0]))

static int parse_name(const char *const *names, size_t n, const char *s) {
  for (size_t i = 0; s != NULL && i < n; i++)
    if (strcmp(names[i], s) == 0)
      return (int)i;
  return -1;
}

const char *routing_strategy_name(routing_strategy_t s) {
  return (unsigned)s < NAMES(strategy_names) ? strategy_names[s] : "unknown";
}
const char *routing_state_name(routing_state_t s) {
  return (unsigned)s < NAMES(state_names) ? state_names[s] : "unknown";
}
const char *routing_channel_name(routing_channel_t c) {
  return (unsigned)c < NAMES(channel_names) ? channel_names[c] : "unknown";
}

int routing_strategy_parse(const char *name, routing_strategy_t *out,
                           sb_err_t *err) {
  int i = parse_name(strategy_names, NAMES(strategy_names), name);
  if (i < 0 && name != NULL && strcmp(name, "longest_wait_time") == 0)
    i = ROUTING_LONGEST_WAIT; /* the events' name of it (lead.assigned) */
  if (i < 0)
    return sb_err_set(err, SB_EINVAL,
                      "unknown routing strategy '%.64s': longest_wait (or "
                      "longest_wait_time), "
                      "fewest_calls, round_robin, skills or capacity",
                      name ? name : "");
  *out = (routing_strategy_t)i;
  return 0;
}
int routing_state_parse(const char *name, routing_state_t *out) {
  int i = parse_name(state_names, NAMES(state_names), name);
  if (i < 0)
    return SB_EINVAL;
  *out = (routing_state_t)i;
  return 0;
}
int routing_channel_parse(const char *name, routing_channel_t *out) {
  int i = parse_name(channel_names, NAMES(channel_names), name);
  if (i < 0)
    return SB_EINVAL;
  *out = (routing_channel_t)i;
  return 0;
}

/* ---- filters ------------------------------------------------------------- */

static int agent_level(const routing_cand_t *a, const char *skill) {
  for (size_t i = 0; i < a->nskills; i++)
    if (a->skills[i].name && strcmp(a->skills[i].name, skill) == 0)
      return a->skills[i].level;
  return -1; /* absent */
}

static int member(const routing_cand_t *a, const char *queue) {
  if (queue == NULL || *queue == '\0')
    return 1;
  for (size_t i = 0; i < a->nqueues; i++)
    if (a->queues[i] && strcmp(a->queues[i], queue) == 0)
      return 1;
  return 0;
}

/* The first skill of want[0..n) the agent lacks (or holds below the level
 * asked), written to detail: 1; else 0. */
static int lacks(const routing_cand_t *a, const routing_skill_t *want,
                 size_t n, char *detail, size_t cap) {
  for (size_t i = 0; i < n; i++)
    if (agent_level(a, want[i].name) < want[i].level ||
        agent_level(a, want[i].name) < 0) {
      snprintf(detail, cap, "%.40s<%d", want[i].name, want[i].level);
      return 1;
    }
  return 0;
}

static const char *filter(const routing_request_t *rq, const routing_cand_t *a,
                          int relaxed, char *detail, size_t cap) {
  detail[0] = '\0';
  if (a->state == ROUTING_OFFLINE)
    return "offline";
  if (a->state == ROUTING_PAUSED)
    return "paused";
  if (rq->channel == ROUTING_CH_VOICE && a->state != ROUTING_AVAILABLE) {
    snprintf(detail, cap, "%s", routing_state_name(a->state));
    return "busy";
  }
  if (!member(a, rq->queue))
    return "not_member";
  int capa = a->capacity[rq->channel], load = a->load[rq->channel];
  if (capa <= 0)
    return "channel_not_taken";
  if ((int64_t)load + rq->units > capa) {
    snprintf(detail, cap, "%d+%d>%d", load, rq->units, capa);
    return "over_capacity";
  }
  if (lacks(a, rq->required, rq->nrequired, detail, cap) ||
      (!relaxed && lacks(a, rq->optional, rq->noptional, detail, cap)))
    return "missing_skill";
  return NULL;
}

/* ---- strategies ---------------------------------------------------------- */

static int64_t skills_match(const routing_request_t *rq,
                            const routing_cand_t *a) {
  int64_t sum = 0;
  for (size_t i = 0; i < rq->nrequired; i++)
    sum += agent_level(a, rq->required[i].name);
  for (size_t i = 0; i < rq->noptional; i++) {
    int l = agent_level(a, rq->optional[i].name);
    sum += l > 0 ? l : 0;
  }
  return sum;
}

/* < 0 when a comes before b by the strategy's measure alone (without the
 * tie-breaks), 0 when equal. */
static int by_measure(routing_strategy_t s, const routing_request_t *rq,
                      const routing_cand_t *a, const routing_cand_t *b) {
  switch (s) {
  case ROUTING_FEWEST_CALLS:
    return (a->calls_today > b->calls_today) - (a->calls_today < b->calls_today);
  case ROUTING_SKILLS: {
    int64_t ma = skills_match(rq, a), mb = skills_match(rq, b);
    return (ma < mb) - (ma > mb); /* the higher first */
  }
  case ROUTING_CAPACITY: {
    /* (load_a + u) / cap_a against (load_b + u) / cap_b, in integers */
    int ch = rq->channel;
    int64_t la = (int64_t)a->load[ch] + rq->units, lb = (int64_t)b->load[ch] + rq->units;
    int64_t x = la * b->capacity[ch], y = lb * a->capacity[ch];
    return (x > y) - (x < y);
  }
  default:
    return 0;
  }
}

static int by_wait(const routing_cand_t *a, const routing_cand_t *b) {
  return (a->idle_since_us > b->idle_since_us) -
         (a->idle_since_us < b->idle_since_us);
}

static int by_id(const void *x, const void *y) {
  const routing_verdict_t *a = x, *b = y;
  return strcmp(a->agent_id, b->agent_id);
}

int routing_decide(routing_strategy_t s, const routing_request_t *rq,
                   const routing_cand_t *agents, size_t n,
                   routing_verdict_t *verdicts, routing_decision_t *out,
                   sb_err_t *err) {
  memset(out, 0, sizeof *out);
  out->strategy = s;
  out->verdicts = verdicts;
  out->n = n;
  out->chosen = -1;
  if ((unsigned)s >= NAMES(strategy_names))
    return sb_err_set(err, SB_EINVAL, "unknown routing strategy %d", (int)s);
  if ((unsigned)rq->channel >= ROUTING_CH_N || rq->units < 1)
    return sb_err_set(err, SB_EINVAL,
                      "a routing request needs a channel and units >= 1");
  for (size_t i = 0; i < n; i++) {
    if (agents[i].agent_id == NULL)
      return sb_err_set(err, SB_EINVAL, "a candidate without an agent id");
    verdicts[i] = (routing_verdict_t){.agent_id = agents[i].agent_id, .index = i};
  }
  if (n > 1)
    qsort(verdicts, n, sizeof *verdicts, by_id);
  for (size_t i = 1; i < n; i++)
    if (strcmp(verdicts[i - 1].agent_id, verdicts[i].agent_id) == 0)
      return sb_err_set(err, SB_EINVAL, "agent %.64s is a candidate twice",
                        verdicts[i].agent_id);

  out->relaxed = rq->noptional > 0 && rq->relax_after_us > 0 &&
                 rq->waited_us >= rq->relax_after_us;
  for (size_t i = 0; i < n; i++) {
    routing_verdict_t *v = &verdicts[i];
    v->excluded = filter(rq, &agents[v->index], out->relaxed, v->detail,
                         sizeof v->detail);
    out->eligible += v->excluded == NULL;
  }
  if (out->eligible == 0)
    return 0;

  if (s == ROUTING_ROUND_ROBIN) {
    /* the first eligible after rr_last in id order, else the first */
    int first = -1, after = -1;
    for (size_t i = 0; i < n; i++) {
      if (verdicts[i].excluded)
        continue;
      if (first < 0)
        first = (int)i;
      if (after < 0 && rq->rr_last &&
          strcmp(verdicts[i].agent_id, rq->rr_last) > 0)
        after = (int)i;
    }
    out->chosen = after >= 0 ? after : first;
    if (rq->rr_last && *rq->rr_last)
      snprintf(out->tiebreak, sizeof out->tiebreak,
               "next after %.48s in agent id order%s", rq->rr_last,
               after >= 0 ? "" : " (wrapped)");
    return 0;
  }

  /* the best by the strategy's measure, then idle longest, then id; and
   * what the winner was told apart by, from its closest rival */
  int best = -1;
  for (size_t i = 0; i < n; i++) {
    if (verdicts[i].excluded)
      continue;
    if (best < 0) {
      best = (int)i;
      continue;
    }
    const routing_cand_t *a = &agents[verdicts[i].index],
                          *b = &agents[verdicts[best].index];
    int c = by_measure(s, rq, a, b);
    if (c == 0)
      c = by_wait(a, b);
    if (c < 0) /* ids ascend: an equal keeps the earlier id */
      best = (int)i;
  }
  out->chosen = best;
  const routing_cand_t *w = &agents[verdicts[best].index];
  int tied_measure = 0, tied_wait = 0;
  for (size_t i = 0; i < n; i++) {
    if (verdicts[i].excluded || (int)i == best)
      continue;
    const routing_cand_t *a = &agents[verdicts[i].index];
    if (by_measure(s, rq, a, w) == 0) {
      tied_measure = 1;
      if (by_wait(a, w) == 0)
        tied_wait = 1;
    }
  }
  if (tied_wait)
    snprintf(out->tiebreak, sizeof out->tiebreak, "agent id order");
  else if (tied_measure && s != ROUTING_LONGEST_WAIT)
    snprintf(out->tiebreak, sizeof out->tiebreak, "idle longest");
  return 0;
}

cJSON *routing_decision_json(const routing_decision_t *d, size_t max_listed) {
  cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
  if (o == NULL || list == NULL) {
    cJSON_Delete(o);
    cJSON_Delete(list);
    return NULL;
  }
  int ok = cJSON_AddStringToObject(o, "strategy",
                                   routing_strategy_name(d->strategy)) != NULL;
  ok &= (d->chosen >= 0 ? cJSON_AddStringToObject(
                              o, "chosen", d->verdicts[d->chosen].agent_id)
                        : cJSON_AddNullToObject(o, "chosen")) != NULL;
  ok &= cJSON_AddBoolToObject(o, "relaxed", d->relaxed) != NULL;
  ok &= cJSON_AddStringToObject(o, "tiebreak", d->tiebreak) != NULL;
  ok &= cJSON_AddNumberToObject(o, "eligible", d->eligible) != NULL;
  ok &= cJSON_AddNumberToObject(o, "considered", (double)d->n) != NULL;
  size_t listed = 0;
  /* the chosen one first, then in id order up to max_listed */
  for (int pass = 0; pass < 2 && ok; pass++)
    for (size_t i = 0; i < d->n && ok; i++) {
      int is_chosen = (int)i == d->chosen;
      if ((pass == 0) != is_chosen || (pass == 1 && listed >= max_listed))
        continue;
      const routing_verdict_t *v = &d->verdicts[i];
      cJSON *c = cJSON_CreateObject();
      ok &= c != NULL && cJSON_AddItemToArray(list, c);
      ok &= ok && cJSON_AddStringToObject(c, "agent_id", v->agent_id) != NULL;
      if (ok && v->excluded)
        ok &= cJSON_AddStringToObject(c, "excluded", v->excluded) != NULL;
      if (ok && v->detail[0])
        ok &= cJSON_AddStringToObject(c, "detail", v->detail) != NULL;
      listed++;
    }
  if (!ok) {
    cJSON_Delete(list);
    cJSON_Delete(o);
    return NULL;
  }
  cJSON_AddItemToObject(o, "candidates", list);
  return o;
}
