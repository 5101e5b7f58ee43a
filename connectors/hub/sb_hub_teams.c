/* Which team each agent is in and who leads each team, per tenant, so that
 * a supervisor's sb.gamification feed carries the members of the teams it
 * leads only (team.created's supervisor_id; team.member_added and
 * team.member_removed). Learnt when the feed's thread starts from the
 * gamification projection (gamification.teams, gamification.team_members),
 * then from the stream: the history read back at start
 * (hub.ownership_history_seconds, which covers what the projection had not
 * yet written) and the live events, in log order. Bounded tables, like
 * the owners': a slot lost to a full run means a supervisor misses that
 * agent's events (never another team's). */
#include "sb_hub_int.h"

#include "sb_log.h"
#include "sb_pg.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <string.h>

/* key -> val in a table of TEAM_SLOTS; val 0: none */
static owner_t *slot(owner_t *tab, uint64_t key, int for_write) {
  if (tab == NULL)
    return NULL;
  size_t base = (size_t)(key & (TEAM_SLOTS - 1));
  owner_t *free_slot = NULL;
  for (size_t k = 0; k < OWNER_PROBE; k++) {
    owner_t *o = &tab[(base + k) & (TEAM_SLOTS - 1)];
    if (o->entity == key)
      return o;
    if (o->entity == 0 && free_slot == NULL)
      free_slot = o;
  }
  if (!for_write)
    return NULL;
  return free_slot ? free_slot
                   : &tab[(base + (key >> 32) % OWNER_PROBE) & (TEAM_SLOTS - 1)];
}

static void put(owner_t *tab, uint64_t key, uint64_t val) {
  owner_t *o = slot(tab, key, 1);
  if (o != NULL) {
    o->entity = key;
    o->agent = val;
  }
}

static uint64_t get(owner_t *tab, uint64_t key) {
  owner_t *o = slot(tab, key, 0);
  return o ? o->agent : 0;
}

int sb__hub_team_type(const char *type, size_t n) {
  static const char *const types[] = {"team.created", "team.member_added",
                                      "team.member_removed"};
  for (size_t i = 0; i < SB_ARRAY_LEN(types); i++)
    if (strlen(types[i]) == n && memcmp(types[i], type, n) == 0)
      return 1;
  return 0;
}

void sb__hub_learn_team(sb_hub_t *h, const msg_t *m) {
  if (m->team_id == NULL || !sb__hub_team_type(m->type, strlen(m->type)))
    return;
  uint64_t team = sb__hub_hash2(m->tenant, m->team_id);
  if (strcmp(m->type, "team.created") == 0) {
    put(h->leads, team,
        m->supervisor_id ? sb__hub_hash2(m->tenant, m->supervisor_id) : 0);
    return;
  }
  if (m->agents[0] == NULL)
    return;
  uint64_t agent = sb__hub_hash2(m->tenant, m->agents[0]);
  if (strcmp(m->type, "team.member_added") == 0)
    put(h->members, agent, team);
  else if (get(h->members, agent) == team)
    put(h->members, agent, 0); /* left the team it was in */
}

int sb__hub_supervises(sb_hub_t *h, const msg_t *m, uint64_t sup) {
  uint64_t team = 0;
  if (m->board_team != NULL) /* a team board's rank: that team's */
    team = sb__hub_hash2(m->tenant, m->board_team);
  else if (m->agents[0] != NULL)
    team = get(h->members, sb__hub_hash2(m->tenant, m->agents[0]));
  else if (m->team_id != NULL)
    team = sb__hub_hash2(m->tenant, m->team_id);
  else
    return 1; /* about no agent and no team: a challenge's window, ... */
  return team != 0 && get(h->leads, team) == sup;
}

static int lead_row(void *ctx, const sb_pg_rows_t *r, int i, sb_err_t *err) {
  (void)err;
  sb_hub_t *h = ctx;
  const char *t = sb_pg_rows_get(r, i, 0), *team = sb_pg_rows_get(r, i, 1),
             *sup = sb_pg_rows_get(r, i, 2);
  if (t && team && sup)
    put(h->leads, sb__hub_hash2(t, team), sb__hub_hash2(t, sup));
  return 0;
}

static int member_row(void *ctx, const sb_pg_rows_t *r, int i, sb_err_t *err) {
  (void)err;
  sb_hub_t *h = ctx;
  const char *t = sb_pg_rows_get(r, i, 0), *agent = sb_pg_rows_get(r, i, 1),
             *team = sb_pg_rows_get(r, i, 2);
  if (t && agent && team)
    put(h->members, sb__hub_hash2(t, agent), sb__hub_hash2(t, team));
  return 0;
}

void sb__hub_teams_load(sb_hub_t *h) {
  sb_pg_t *pg = NULL;
  sb_err_t err = SB_ERR_INIT;
  if (h->members == NULL || h->leads == NULL)
    return;
  if (sb_pg_connect(h->c->database_url, &pg, &err) != 0 ||
      sb_pg_each_row(pg,
                     "SELECT tenant_id, team_id, supervisor_id FROM "
                     "gamification.teams WHERE supervisor_id IS NOT NULL",
                     0, NULL, lead_row, h, &err) != 0 ||
      sb_pg_each_row(pg,
                     "SELECT tenant_id, agent_id, team_id FROM "
                     "gamification.team_members WHERE team_id IS NOT NULL",
                     0, NULL, member_row, h, &err) != 0) {
    /* no gamification projection (not migrated, or not run): teams are
     * learnt from the stream only */
    if (!sb_err_sqlstate_is(&err, "42P01") && !sb_err_sqlstate_is(&err, "3F000"))
      sb_log(SB_LOG_WARN, "hub", "cannot read the teams; supervisors' "
                                 "gamification feeds learn them from the "
                                 "stream only",
             SB_F_STR("error", err.msg), SB_F_END);
  }
  sb_pg_close(pg);
}
