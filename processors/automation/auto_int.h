/* What the automation processor's files share (processors/automation/):
 * the parsed rule sets (rules.c) and the processor (automation.c). */
#ifndef SB_AUTO_INT_H
#define SB_AUTO_INT_H

#include "automation.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of a rule set (refused past them, naming the bound). */
#define AUTO_RULES_MAX 64       /* rules in a tenant's set */
#define AUTO_ACTIONS_MAX 8      /* actions of a rule */
#define AUTO_RULES_BYTES 32768  /* bytes of the set's JSON text */
#define AUTO_IN_MAX 64          /* values of an "in", predicates of all/any */
#define AUTO_DEPTH_MAX 4        /* predicates nested */
#define AUTO_DELAY_MAX_S (90LL * 86400) /* a recycle's delay: 90 days */
#define AUTO_ID_MAX 63          /* bytes of a rule id */
#define AUTO_NAME_MAX 128       /* bytes of a queue, campaign, template id */

/* The event types a rule may be "when" (in this order: a rule keeps the
 * index). Each names a lead (its lead_id field): a rule acts on it. */
#define AUTO_TRIGGERS(X)                                                       \
  X("lead.created")                                                            \
  X("lead.updated")                                                            \
  X("lead.status_changed")                                                     \
  X("lead.scored")                                                             \
  X("lead.assigned")                                                           \
  X("lead.recycled")                                                           \
  X("lead.dnc_flagged")                                                        \
  X("call.ended")                                                              \
  X("call.dispositioned")                                                      \
  X("message.inbound")                                                         \
  X("message.opt_out")
extern const char *const auto__triggers[];
extern const int auto__ntriggers;

typedef enum {
  AA_RESCORE, /* lead.rescore_requested */
  AA_QUEUE,   /* lead.queue_set {queue_id} */
  AA_RECYCLE, /* after delay_s, lead.recycled (campaign_id optional) */
  AA_DNC,     /* lead.dnc_flagged (channel optional: every channel) */
  AA_MESSAGE  /* message.requested {channel, template_id, purpose?} */
} auto_kind_t;

typedef struct auto_action_s {
  auto_kind_t kind;
  int64_t delay_s;
  char name[AUTO_NAME_MAX + 1];    /* queue_id, campaign_id, template_id */
  char channel[16];                /* message: sms, email, ...; dnc: voice.. */
  char purpose[32];                /* message */
  char label[AUTO_NAME_MAX + 40];  /* what automation.fired lists */
} auto_action_t;

typedef struct auto_rule_s {
  char id[AUTO_ID_MAX + 1];
  int trigger;       /* index into auto__triggers */
  const cJSON *cond; /* "if": borrowed from the set's JSON; NULL: always */
  auto_action_t act[AUTO_ACTIONS_MAX];
  int nact;
} auto_rule_t;

typedef struct auto_rules_s {
  char version[129];
  cJSON *json;
  auto_rule_t rules[AUTO_RULES_MAX];
  int nrules;
} auto_rules_t;

/* Parses and checks a rule set (rules_json's text) against the schemas (a
 * condition's fields must be fields of the "when" type, of a kind its
 * operator takes, and not PII): 0 and *out (free with auto__rules_free),
 * or SB_EVALIDATE saying what is wrong and where. */
int auto__rules_parse(const sb_schemas_t *s, const char *json,
                      const char *version, auto_rules_t **out, sb_err_t *err);
void auto__rules_free(auto_rules_t *r);
/* 1 when ev (of the rule's trigger type) matches the condition c. */
int auto__match(const cJSON *c, const sb_event_t *ev);

#endif
