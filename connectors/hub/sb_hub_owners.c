/* Which agent a call or a lead belongs to, learnt from the stream. */
#include "sb_hub_int.h"

#include "sb_util.h"

#include <string.h>

static uint64_t fnv(uint64_t h, const char *s) {
  for (; s && *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

uint64_t sb__hub_hash2(const char *a, const char *b) {
  uint64_t h = fnv(1469598103934665603ull, a);
  h = (h ^ 0xff) * 1099511628211ull;
  h = fnv(h, b);
  return h ? h : 1;
}

/* The event types from which the hub learns which agent a call or a lead
 * belongs to (sb__hub_learn_owner), told apart by the sb-type header. */
int sb__hub_owner_type(const char *type, size_t n) {
  static const char *const types[] = {"lead.assigned", "call.started",
                                      "call.offered", "call.connected",
                                      "call.transferred"};
  for (size_t i = 0; i < SB_ARRAY_LEN(types); i++)
    if (strlen(types[i]) == n && memcmp(types[i], type, n) == 0)
      return 1;
  return 0;
}

static owner_t *owner_slot(sb_hub_t *h, uint64_t entity, int for_write) {
  size_t base = (size_t)(entity & (OWNER_SLOTS - 1));
  owner_t *free_slot = NULL;
  for (size_t k = 0; k < OWNER_PROBE; k++) {
    owner_t *o = &h->owners[(base + k) & (OWNER_SLOTS - 1)];
    if (o->entity == entity)
      return o;
    if (o->entity == 0 && free_slot == NULL)
      free_slot = o;
  }
  if (!for_write)
    return NULL;
  /* full run: the newest assignment wins over an arbitrary old one */
  return free_slot ? free_slot
                   : &h->owners[(base + (entity >> 32) % OWNER_PROBE) &
                                (OWNER_SLOTS - 1)];
}

/* Learns which agent a lead or a call belongs to. */
void sb__hub_learn_owner(sb_hub_t *h, const msg_t *m) {
  if (!sb__hub_owner_type(m->type, strlen(m->type)))
    return;
  const char *agent = strcmp(m->type, "call.transferred") == 0
                          ? m->agents[2] /* target_agent_id */
                          : m->agents[0];
  if (agent == NULL)
    return;
  const char *entities[] = {m->lead_id, m->call_id};
  for (size_t i = 0; i < 2; i++) {
    if (entities[i] == NULL)
      continue;
    uint64_t e = sb__hub_hash2(m->tenant, entities[i]);
    owner_t *o = owner_slot(h, e, 1);
    o->entity = e;
    o->agent = sb__hub_hash2(m->tenant, agent);
  }
}

int sb_hub_owner_of(void *hub, const char *tenant, const char *entity,
                    const char *agent) {
  sb_hub_t *h = hub;
  if (h == NULL || h->owners == NULL)
    return -1;
  owner_t *o = owner_slot(h, sb__hub_hash2(tenant, entity), 0);
  if (o == NULL)
    return -1;
  return o->agent == sb__hub_hash2(tenant, agent) ? 1 : 0;
}

int sb__hub_owned_by(sb_hub_t *h, const msg_t *m, uint64_t agent) {
  const char *entities[] = {m->lead_id, m->call_id, m->subject};
  for (size_t i = 0; i < 3; i++) {
    if (entities[i] == NULL)
      continue;
    owner_t *o = owner_slot(h, sb__hub_hash2(m->tenant, entities[i]), 0);
    if (o && o->agent == agent)
      return 1;
  }
  return 0;
}
