/* The users' current roles and the listening thread. See sb_authz.h. */
#include "sb_authz_int.h"

#include "sb_auth_int.h"

#include "sb_log.h"
#include "sb_pg_listen.h"
#include "sb_time.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FULL_RELOAD_MS 30000 /* the roles, whole: a replay's swap */
#define PURGE_MS 600000      /* sessions ended or expired a day ago */
#define WAIT_MS 1000         /* for notifications, then SELECT 1 */

uint64_t sb__authz_hash(const char *a, const char *b) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a over a, NUL, b */
  for (const char *p = a; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ 0xffu) * 1099511628211ull;
  for (const char *p = b; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

int sb__authz_fresh(sb_authz_t *z) {
  return sb_now_ms() - atomic_load(&z->fresh_ms) <=
         z->c->auth_cache_max_stale_ms;
}

static int stale(sb_authz_t *z, sb_err_t *err) {
  return sb_err_set(err, SB_EUNAVAIL,
                    "the users' roles could not be checked: no news from "
                    "PostgreSQL for more than %d ms "
                    "(auth.cache_max_stale_ms); retry later",
                    z->c->auth_cache_max_stale_ms);
}

/* ---- the roles' map ------------------------------------------------------ */

static int map_init(roles_map_t *m) {
  memset(m, 0, sizeof *m);
  m->users = calloc(AUTHZ_BUCKETS, sizeof *m->users);
  m->tenants = calloc(AUTHZ_BUCKETS, sizeof *m->tenants);
  return m->users && m->tenants ? 0 : -1;
}

static void map_free(roles_map_t *m) {
  for (size_t b = 0; m->users && b < AUTHZ_BUCKETS; b++)
    for (grant_t *g = m->users[b], *n; g; g = n) {
      n = g->next;
      free(g);
    }
  for (size_t b = 0; m->tenants && b < AUTHZ_BUCKETS; b++)
    for (mtenant_t *t = m->tenants[b], *n; t; t = n) {
      n = t->next;
      free(t);
    }
  free(m->users);
  free(m->tenants);
  memset(m, 0, sizeof *m);
}

static grant_t *user_find(const roles_map_t *m, const char *tenant,
                          const char *user) {
  uint64_t h = sb__authz_hash(tenant, user);
  for (grant_t *g = m->users[h % AUTHZ_BUCKETS]; g; g = g->next)
    if (g->h == h && strcmp(g->tenant, tenant) == 0 &&
        strcmp(g->user, user) == 0)
      return g;
  return NULL;
}

static int tenant_managed(const roles_map_t *m, const char *tenant) {
  uint64_t h = sb__authz_hash(tenant, "");
  for (mtenant_t *t = m->tenants[h % AUTHZ_BUCKETS]; t; t = t->next)
    if (t->h == h && strcmp(t->name, tenant) == 0)
      return 1;
  return 0;
}

/* Adds rows (tenant_id, user_id, role, expires_us or NULL) and managed
 * tenants (tenant_id) to m. */
static int map_add(sb_authz_t *z, roles_map_t *m, const sb_pg_rows_t *users,
                   const sb_pg_rows_t *tenants, sb_err_t *err) {
  for (int r = 0; tenants && r < sb_pg_rows_count(tenants); r++) {
    const char *name = sb_pg_rows_get(tenants, r, 0);
    if (name == NULL || strlen(name) > SB_TENANT_MAX ||
        tenant_managed(m, name))
      continue;
    mtenant_t *t = calloc(1, sizeof *t);
    if (t == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    snprintf(t->name, sizeof t->name, "%s", name);
    t->h = sb__authz_hash(name, "");
    t->next = m->tenants[t->h % AUTHZ_BUCKETS];
    m->tenants[t->h % AUTHZ_BUCKETS] = t;
    m->ntenants++;
  }
  for (int r = 0; users && r < sb_pg_rows_count(users); r++) {
    const char *tenant = sb_pg_rows_get(users, r, 0);
    const char *user = sb_pg_rows_get(users, r, 1);
    const char *role = sb_pg_rows_get(users, r, 2);
    const char *until = sb_pg_rows_get(users, r, 3);
    sb_role_t ro;
    sb_err_t ignore = SB_ERR_INIT;
    if (tenant == NULL || user == NULL || strlen(tenant) > SB_TENANT_MAX ||
        strlen(user) > SB_AUTH_SUB_MAX || sb_role_parse(role, &ro, &ignore))
      continue; /* nothing a token could name */
    grant_t *g = user_find(m, tenant, user);
    if (g == NULL) {
      if (m->nusers >= (size_t)z->c->auth_rbac_max_users)
        return sb_err_set(err, SB_EBUSY,
                          "more than %d users hold roles: raise "
                          "auth.rbac_max_users",
                          z->c->auth_rbac_max_users);
      if ((g = calloc(1, sizeof *g)) == NULL)
        return sb_err_set(err, SB_ENOMEM, "out of memory");
      snprintf(g->tenant, sizeof g->tenant, "%s", tenant);
      snprintf(g->user, sizeof g->user, "%s", user);
      g->h = sb__authz_hash(tenant, user);
      g->next = m->users[g->h % AUTHZ_BUCKETS];
      m->users[g->h % AUTHZ_BUCKETS] = g;
      m->nusers++;
    }
    g->until[ro] = until ? strtoll(until, NULL, 10) : INT64_MAX;
  }
  return 0;
}

/* Drops tenant's users and managed mark from m. */
static void map_drop_tenant(roles_map_t *m, const char *tenant) {
  for (size_t b = 0; b < AUTHZ_BUCKETS; b++)
    for (grant_t **p = &m->users[b]; *p;) {
      if (strcmp((*p)->tenant, tenant) == 0) {
        grant_t *g = *p;
        *p = g->next;
        free(g);
        m->nusers--;
      } else {
        p = &(*p)->next;
      }
    }
  uint64_t h = sb__authz_hash(tenant, "");
  for (mtenant_t **p = &m->tenants[h % AUTHZ_BUCKETS]; *p; p = &(*p)->next)
    if (strcmp((*p)->name, tenant) == 0) {
      mtenant_t *t = *p;
      *p = t->next;
      free(t);
      m->ntenants--;
      break;
    }
}

static const char users_sql[] =
    "SELECT tenant_id, user_id, role, (extract(epoch FROM expires_at) * "
    "1000000)::bigint FROM rbac.user_roles WHERE active AND team_id = '' AND "
    "(expires_at IS NULL OR expires_at > now())";

/* Every role again, into a new map swapped in whole. */
static int roles_load(sb_authz_t *z, sb_pg_t *pg, sb_err_t *err) {
  sb_pg_rows_t *users = NULL, *tenants = NULL;
  roles_map_t m;
  if (map_init(&m) != 0) {
    map_free(&m);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  int rc = sb_pg_rows(pg, "SELECT tenant_id FROM rbac.tenants", 0, NULL,
                      &tenants, err);
  if (rc == 0)
    rc = sb_pg_rows(pg, users_sql, 0, NULL, &users, err);
  int missing = rc != 0 && sb_err_sqlstate_is(err, "42P01");
  if (missing) { /* not migrated: nothing is managed */
    if (!z->no_rbac)
      sb_log(SB_LOG_WARN, "authz",
             "no rbac projection in the database: every tenant is "
             "unmanaged, tokens act with the roles they name (run "
             "switchboard migrate)",
             SB_F_END);
    sb_err_clear(err);
    rc = 0;
  }
  if (rc == 0)
    rc = map_add(z, &m, users, tenants, err);
  sb_pg_rows_free(users);
  sb_pg_rows_free(tenants);
  if (rc != 0) {
    map_free(&m);
    return rc;
  }
  pthread_mutex_lock(&z->lock);
  roles_map_t old = z->roles;
  z->roles = m;
  z->no_rbac = missing;
  z->full_loads++;
  pthread_mutex_unlock(&z->lock);
  map_free(&old);
  return 0;
}

/* One tenant's roles again. */
static int tenant_reload(sb_authz_t *z, sb_pg_t *pg, const char *tenant,
                         sb_err_t *err) {
  char sql[sizeof users_sql + 64];
  snprintf(sql, sizeof sql, "%s AND tenant_id = $1", users_sql);
  const char *p[] = {tenant};
  sb_pg_rows_t *users = NULL, *tenants = NULL;
  int rc = sb_pg_rows(pg, "SELECT tenant_id FROM rbac.tenants WHERE "
                          "tenant_id = $1",
                      1, p, &tenants, err);
  if (rc == 0)
    rc = sb_pg_rows(pg, sql, 1, p, &users, err);
  if (rc == 0) {
    pthread_mutex_lock(&z->lock);
    map_drop_tenant(&z->roles, tenant);
    rc = map_add(z, &z->roles, users, tenants, err);
    z->reloads++;
    pthread_mutex_unlock(&z->lock);
  }
  sb_pg_rows_free(users);
  sb_pg_rows_free(tenants);
  return rc;
}

/* ---- the listening thread ------------------------------------------------ */

static void on_notify(void *ud, const char *channel, const char *payload) {
  sb_authz_t *z = ud;
  if (strcmp(channel, "sb_rbac") == 0) {
    for (size_t i = 0; i < z->npend_tenants; i++)
      if (strcmp(z->pend_tenants[i], payload) == 0)
        return;
    if (z->npend_tenants == AUTHZ_PENDING || strlen(payload) > SB_TENANT_MAX)
      z->pend_all_roles = 1;
    else
      snprintf(z->pend_tenants[z->npend_tenants++], SB_TENANT_MAX + 1, "%s",
               payload);
  } else if (strcmp(channel, "sb_sessions") == 0) {
    if (z->npend_sessions == AUTHZ_PENDING || strlen(payload) != 64)
      z->pend_all_sessions = 1;
    else
      snprintf(z->pend_sessions[z->npend_sessions++], 65, "%s", payload);
  }
}

/* What the notifications asked for. */
static int apply_pending(sb_authz_t *z, sb_pg_t *pg, sb_err_t *err) {
  int rc = 0;
  if (z->pend_all_roles)
    rc = roles_load(z, pg, err);
  for (size_t i = 0; rc == 0 && !z->pend_all_roles && i < z->npend_tenants;
       i++)
    rc = tenant_reload(z, pg, z->pend_tenants[i], err);
  if (rc == 0 && z->pend_all_sessions)
    rc = sb__authz_sessions_load(z, pg, err);
  for (size_t i = 0; rc == 0 && !z->pend_all_sessions &&
                     i < z->npend_sessions;
       i++)
    rc = sb__authz_session_reload(z, pg, z->pend_sessions[i], err);
  z->npend_tenants = z->npend_sessions = 0;
  z->pend_all_roles = z->pend_all_sessions = 0;
  return rc;
}

/* A listening connection with everything loaded, or an error. */
static int attach(sb_authz_t *z, sb_pg_t **out, sb_err_t *err) {
  sb_pg_t *pg = NULL;
  int rc = sb_pg_connect(z->c->database_url, &pg, err);
  /* listen first: what changes while loading is then reloaded after */
  if (rc == 0)
    rc = sb_pg_listen(pg, "sb_rbac", err);
  if (rc == 0)
    rc = sb_pg_listen(pg, "sb_sessions", err);
  if (rc == 0)
    rc = roles_load(z, pg, err);
  if (rc == 0)
    rc = sb__authz_sessions_load(z, pg, err);
  if (rc != 0) {
    sb_pg_close(pg);
    return rc;
  }
  *out = pg;
  return 0;
}

static void *listen_loop(void *arg) {
  sb_authz_t *z = arg;
  sb_pg_t *pg = z->lpg; /* listening, loaded by sb_authz_new */
  z->lpg = NULL;
  long long last_full = sb_now_ms(), last_purge = 0;
  int warned = 0;
  while (!atomic_load(&z->stop)) {
    sb_err_t err = SB_ERR_INIT;
    if (pg == NULL) {
      if (attach(z, &pg, &err) != 0) {
        if (!warned++)
          sb_log(SB_LOG_WARN, "authz",
                 "cannot follow the users' roles and sessions; retrying "
                 "every second",
                 SB_F_STR("error", err.msg), SB_F_END);
        for (int i = 0; i < 10 && !atomic_load(&z->stop); i++)
          usleep(100 * 1000);
        continue;
      }
      if (warned)
        sb_log(SB_LOG_INFO, "authz", "following the users' roles again",
               SB_F_END);
      warned = 0;
      last_full = sb_now_ms();
      atomic_store(&z->fresh_ms, sb_now_ms());
    }
    int n = sb_pg_notifies(pg, WAIT_MS, on_notify, z, &err);
    int rc = n < 0 ? n : 0;
    long long now = sb_now_ms();
    if (rc == 0 && n > 0) {
      pthread_mutex_lock(&z->lock);
      z->notifications += (uint64_t)n;
      pthread_mutex_unlock(&z->lock);
      rc = apply_pending(z, pg, &err);
    }
    else if (rc == 0) /* quiet: is the server still there? */
      rc = sb_pg_exec(pg, "SELECT 1", 0, NULL, &err);
    if (rc == 0 && now - last_full >= FULL_RELOAD_MS) {
      rc = roles_load(z, pg, &err);
      last_full = now;
    }
    if (rc == 0 && now - last_purge >= PURGE_MS) {
      rc = sb_pg_exec(pg,
                      "DELETE FROM sb.sessions WHERE expires_at < now() - "
                      "interval '1 day' OR ended_at < now() - interval "
                      "'1 day'",
                      0, NULL, &err);
      last_purge = now;
    }
    if (rc != 0) {
      sb_log(SB_LOG_WARN, "authz",
             "lost the connection that follows the users' roles and "
             "sessions; reconnecting",
             SB_F_STR("error", err.msg), SB_F_END);
      z->npend_tenants = z->npend_sessions = 0;
      z->pend_all_roles = z->pend_all_sessions = 0;
      sb_pg_close(pg);
      pg = NULL;
      warned = 1;
      continue;
    }
    atomic_store(&z->fresh_ms, now);
  }
  sb_pg_close(pg);
  return NULL;
}

/* ---- life ---------------------------------------------------------------- */

int sb_authz_new(uv_loop_t *loop, const sb_conf_t *c, sb_authz_t **out,
                 sb_err_t *err) {
  *out = NULL;
  sb_authz_t *z = calloc(1, sizeof *z);
  if (z == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  z->c = c;
  z->loop = loop;
  pthread_mutex_init(&z->lock, NULL);
  pthread_mutex_init(&z->wlock, NULL);
  z->sessions = calloc(AUTHZ_BUCKETS, sizeof *z->sessions);
  if (z->sessions == NULL || map_init(&z->roles) != 0) {
    sb_authz_free(z);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  if (c->database_url == NULL || *c->database_url == '\0') {
    sb_authz_free(z);
    return sb_err_set(err, SB_ECONFIG,
                      "checking the users' roles needs database_url");
  }
  /* the first load before the first request: a connection that works */
  int rc = attach(z, &z->lpg, err);
  if (rc != 0) {
    sb_err_prefix(err, "loading the users' roles and sessions: ");
    sb_authz_free(z);
    return rc;
  }
  atomic_store(&z->fresh_ms, sb_now_ms());
  if (pthread_create(&z->thread, NULL, listen_loop, z) != 0) {
    sb_authz_free(z);
    return sb_err_set(err, SB_EINTERNAL, "cannot start a thread");
  }
  z->thread_started = 1;
  *out = z;
  return 0;
}

void sb_authz_close(sb_authz_t *z) {
  if (z == NULL || !z->thread_started)
    return;
  atomic_store(&z->stop, 1);
  pthread_join(z->thread, NULL);
  z->thread_started = 0;
}

void sb_authz_free(sb_authz_t *z) {
  if (z == NULL)
    return;
  sb_authz_close(z);
  map_free(&z->roles);
  sb__authz_sessions_free(z);
  free(z->sessions);
  sb_pg_close(z->wpg);
  sb_pg_close(z->lpg);
  pthread_mutex_destroy(&z->lock);
  pthread_mutex_destroy(&z->wlock);
  free(z);
}

/* ---- checks -------------------------------------------------------------- */

int sb_authz_managed(sb_authz_t *z, const char *tenant) {
  pthread_mutex_lock(&z->lock);
  int m = tenant_managed(&z->roles, tenant);
  pthread_mutex_unlock(&z->lock);
  return m;
}

int sb_authz_check(sb_authz_t *z, const sb_claims_t *who, int64_t now_us,
                   sb_err_t *err) {
  if (!sb__authz_fresh(z))
    return stale(z, err);
  if ((unsigned)who->role >= SB_ROLE_COUNT)
    return sb_err_set(err, SB_EPERM, "no such role");
  pthread_mutex_lock(&z->lock);
  int managed = tenant_managed(&z->roles, who->tenant);
  const grant_t *g = managed ? user_find(&z->roles, who->tenant, who->sub)
                             : NULL;
  int held = g && g->until[who->role] > now_us;
  char others[64] = "";
  for (int r = 0; g && r < SB_ROLE_COUNT; r++)
    if (g->until[r] > now_us && r != (int)who->role)
      snprintf(others + strlen(others), sizeof others - strlen(others),
               "%s%s", others[0] ? ", " : "", sb_role_name((sb_role_t)r));
  pthread_mutex_unlock(&z->lock);
  if (!managed || held)
    return 0;
  char user[80];
  sb__auth_safe_text(who->sub, user, sizeof user);
  if (others[0])
    return sb_err_set(err, SB_EPERM,
                      "user '%s' does not hold role %s in tenant %s now "
                      "(it holds %s): use a token of a role it holds",
                      user, sb_role_name(who->role), who->tenant, others);
  return sb_err_set(err, SB_EPERM,
                    "user '%s' holds no role in tenant %s now (its roles "
                    "are managed as data: an admin grants one with "
                    "role.granted)",
                    user, who->tenant);
}

int sb_authz_role_event_check(sb_authz_t *z, const char *tenant, int grant,
                              sb_role_t role, const char *user, int64_t now_us,
                              sb_err_t *err) {
  if (!sb__authz_fresh(z))
    return stale(z, err);
  pthread_mutex_lock(&z->lock);
  int managed = tenant_managed(&z->roles, tenant);
  const grant_t *g = managed ? user_find(&z->roles, tenant, user) : NULL;
  int target = !grant && role == SB_ROLE_ADMIN && g &&
               g->until[SB_ROLE_ADMIN] > now_us,
      others = 0;
  for (size_t b = 0; target && !others && b < AUTHZ_BUCKETS; b++)
    for (const grant_t *o = z->roles.users[b]; o && !others; o = o->next)
      others = o != g && o->until[SB_ROLE_ADMIN] > now_us &&
               strcmp(o->tenant, tenant) == 0;
  pthread_mutex_unlock(&z->lock);
  char safe[80];
  sb__auth_safe_text(user, safe, sizeof safe);
  if (!managed && !(grant && role == SB_ROLE_ADMIN))
    return sb_err_set(err, SB_EPERM,
                      "tenant %s's roles are not managed yet: its first "
                      "role event must grant admin (to whoever will "
                      "administer it), or every token of the tenant would "
                      "lose its role (a grant posted moments ago counts "
                      "once the rbac processor has applied it)",
                      tenant);
  if (target && !others)
    return sb_err_set(err, SB_EPERM,
                      "'%s' is the last admin of tenant %s: grant admin to "
                      "another user first",
                      safe, tenant);
  return 0;
}

void sb_authz_snapshot(sb_authz_t *z, sb_authz_stats_t *out) {
  pthread_mutex_lock(&z->lock);
  *out = (sb_authz_stats_t){.users = z->roles.nusers,
                            .tenants = z->roles.ntenants,
                            .sessions = z->nsessions,
                            .reloads = z->reloads,
                            .full_loads = z->full_loads,
                            .notifications = z->notifications,
                            .fresh = sb__authz_fresh(z)};
  pthread_mutex_unlock(&z->lock);
}
