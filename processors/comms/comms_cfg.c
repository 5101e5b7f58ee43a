/* Templates and provider accounts: the global table the checks of a
 * message.requested read (every instance holds every tenant's, whichever
 * partition of sb.tenants they came on), and the templates and providers
 * tables.
 *
 * The table "config":
 *   T|tenant|template_id  "version\tchannel\tlocale\n" per version and
 *                         locale published (at most TPL_MAX)
 *   P|tenant|account_id   an acct_t: the newest provider.configured of the
 *                         account (by occurred_at, then event id: a late
 *                         older event changes nothing)
 *   A|tenant              the tenant's account ids, sorted, '\n'-ended
 *                         (at most ACCT_MAX)
 * Secrets stay out of it: they are written, sealed as they came, into the
 * providers table only. */
#include "comms_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TPL_MAX 512 /* versions x locales of one template */
#define ACCT_MAX 64 /* provider accounts of a tenant */

static const char *const channels[] = {"sms", "email", "whatsapp", "slack",
                                       "push"};

static int channel_ix(const char *c) {
  for (size_t i = 0; c && i < sizeof channels / sizeof channels[0]; i++)
    if (strcmp(c, channels[i]) == 0)
      return (int)i;
  return -1;
}

typedef struct {
  int64_t at;
  char event_id[32];
  char provider[24];
  unsigned mask; /* bit per channel_ix */
  int is_default;
  char from_address[1281];
} acct_t;

void comms__copy(char *dst, size_t n, const char *src) {
  size_t l = src ? strnlen(src, n - 1) : 0;
  /* cut on a character's boundary: what is stored stays UTF-8 */
  while (l > 0 && ((unsigned char)src[l] & 0xc0) == 0x80)
    l--;
  if (l > 0)
    memmove(dst, src, l);
  dst[l] = '\0';
}

static int key_of(char *key, size_t n, const char *kind, const char *tenant,
                  const char *id, sb_err_t *err) {
  int k = id ? snprintf(key, n, "%s|%s|%s", kind, tenant, id)
             : snprintf(key, n, "%s|%s", kind, tenant);
  if (k < 0 || (size_t)k >= n)
    return sb_err_set(err, SB_EVALIDATE, "comms: key too long");
  return 0;
}

static int reduce_template(comms_t *x, sb_global_t *g, const sb_event_t *ev,
                           sb_err_t *err) {
  const char *id = sb_event_str(ev, x->f[TF_ID]);
  const char *ch = sb_event_enum_name(ev, x->f[TF_CHANNEL]);
  const char *loc = sb_event_str(ev, x->f[TF_LOCALE]);
  int64_t ver = sb_event_i64(ev, x->f[TF_VERSION]);
  char key[400], line[200];
  if (id == NULL || ch == NULL || loc == NULL)
    return sb_err_set(err, SB_EVALIDATE, "comms: template.published %s "
                      "without id, channel or locale", ev->event_id);
  if (key_of(key, sizeof key, "T", ev->tenant_id, id, err) != 0)
    return err->code;
  int n = snprintf(line, sizeof line, "%lld\t%s\t%s\n", (long long)ver, ch,
                   loc);
  if (n < 0 || (size_t)n >= sizeof line)
    return sb_err_set(err, SB_EVALIDATE, "comms: template locale too long");
  const void *v = NULL;
  size_t len = 0, lines = 0;
  if (sb_global_find(g, key, &v, &len) != 0)
    len = 0;
  for (size_t i = 0; i < len; i++)
    lines += ((const char *)v)[i] == '\n';
  /* the same version and locale again (a republish): nothing new */
  for (const char *p = v, *end = (const char *)v + len; p && p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
      break;
    if ((size_t)(nl - p + 1) == (size_t)n && memcmp(p, line, (size_t)n) == 0)
      return 0;
    p = nl + 1;
  }
  if (lines >= TPL_MAX)
    return sb_err_set(err, SB_EVALIDATE, "comms: template %s has %d versions "
                      "and locales already", id, TPL_MAX);
  char *nv = malloc(len + (size_t)n);
  if (nv == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  if (len > 0)
    memcpy(nv, v, len);
  memcpy(nv + len, line, (size_t)n);
  int rc = sb_global_put(g, key, nv, len + (size_t)n, err);
  free(nv);
  return rc;
}

/* adds account to the tenant's sorted list */
static int list_add(sb_global_t *g, const char *tenant, const char *account,
                    sb_err_t *err) {
  char key[200];
  if (key_of(key, sizeof key, "A", tenant, NULL, err) != 0)
    return err->code;
  const void *v = NULL;
  size_t len = 0, alen = strlen(account), count = 0;
  if (sb_global_find(g, key, &v, &len) != 0)
    len = 0;
  const char *s = v, *end = s + len, *at = NULL;
  for (const char *p = s; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
      break;
    size_t l = (size_t)(nl - p);
    int c = strncmp(p, account, l < alen ? l : alen);
    if (c == 0 && l == alen)
      return 0; /* listed */
    if (at == NULL && (c > 0 || (c == 0 && l > alen)))
      at = p;
    count++;
    p = nl + 1;
  }
  if (count >= ACCT_MAX)
    return sb_err_set(err, SB_EVALIDATE, "comms: tenant %s has %d provider "
                      "accounts already", tenant, ACCT_MAX);
  if (at == NULL)
    at = end;
  char *nv = malloc(len + alen + 1);
  if (nv == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t before = (size_t)(at - s);
  if (before > 0)
    memcpy(nv, s, before);
  memcpy(nv + before, account, alen);
  nv[before + alen] = '\n';
  if (len > before)
    memcpy(nv + before + alen + 1, at, len - before);
  int rc = sb_global_put(g, key, nv, len + alen + 1, err);
  free(nv);
  return rc;
}

static int reduce_provider(comms_t *x, sb_global_t *g, const sb_event_t *ev,
                           sb_err_t *err) {
  const char *account = sb_event_str(ev, x->f[PF_ACCOUNT]);
  const char *prov = sb_event_enum_name(ev, x->f[PF_PROVIDER]);
  char key[400];
  if (account == NULL || prov == NULL || strchr(account, '\n') != NULL)
    return sb_err_set(err, SB_EVALIDATE, "comms: provider.configured %s "
                      "without an account or provider", ev->event_id);
  if (key_of(key, sizeof key, "P", ev->tenant_id, account, err) != 0)
    return err->code;
  const void *v;
  size_t len;
  if (sb_global_find(g, key, &v, &len) == 0 && len == sizeof(acct_t)) {
    acct_t old;
    memcpy(&old, v, sizeof old);
    if (old.at > ev->occurred_at ||
        (old.at == ev->occurred_at && strcmp(old.event_id, ev->event_id) >= 0))
      return 0; /* an older (or the same) configuration */
  }
  acct_t a;
  memset(&a, 0, sizeof a);
  a.at = ev->occurred_at;
  comms__copy(a.event_id, sizeof a.event_id, ev->event_id);
  comms__copy(a.provider, sizeof a.provider, prov);
  comms__copy(a.from_address, sizeof a.from_address,
              sb_event_str(ev, x->f[PF_FROM]));
  a.is_default = sb_event_bool(ev, x->f[PF_DEFAULT]);
  size_t n = sb_event_count(ev, x->f[PF_CHANNELS]);
  for (size_t i = 0; i < n; i++) {
    int c = channel_ix(sb_event_str_at(ev, x->f[PF_CHANNELS], i));
    if (c >= 0)
      a.mask |= 1u << c;
  }
  if (list_add(g, ev->tenant_id, account, err) != 0)
    return err->code;
  return sb_global_put(g, key, &a, sizeof a, err);
}

int comms__reduce_config(void *state, sb_global_t *g, const sb_event_t *ev,
                         sb_err_t *err) {
  comms_t *x = state;
  if (sb_event_type_is(ev, x->t[CT_TEMPLATE]))
    return reduce_template(x, g, ev, err);
  if (sb_event_type_is(ev, x->t[CT_PROVIDER]))
    return reduce_provider(x, g, ev, err);
  return 0;
}

int comms__template_find(sb_batch_t *b, const char *tenant, const char *id,
                         const char *version, const char *channel, int *out) {
  char key[400];
  sb_err_t kerr = SB_ERR_INIT;
  const void *v;
  size_t len;
  if (key_of(key, sizeof key, "T", tenant, id, &kerr) != 0 ||
      sb_global_get(b, COMMS_G_CONFIG, key, &v, &len) != 0)
    return SB_ENOENT;
  long long want = -1;
  if (version != NULL && sb_parse_ll(version, &want) != 0)
    return SB_ENOENT; /* not a version number: none such published */
  int best = -1;
  const char *s = v, *end = s + len;
  size_t clen = strlen(channel);
  for (const char *p = s; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
      break;
    /* the value is not NUL-terminated: the digits read by hand, within
     * the line */
    const char *tab = p;
    long long ver = 0;
    while (tab < nl && *tab >= '0' && *tab <= '9' && ver < 1000000000LL)
      ver = ver * 10 + (*tab++ - '0');
    if (tab > p && tab < nl && *tab == '\t' && (size_t)(nl - tab - 1) > clen &&
        strncmp(tab + 1, channel, clen) == 0 && tab[1 + clen] == '\t' &&
        (want < 0 ? ver > best : ver == want))
      best = (int)ver;
    p = nl + 1;
  }
  if (best < 0)
    return SB_ENOENT;
  *out = best;
  return 0;
}

int comms__account_for(sb_batch_t *b, const char *tenant, const char *channel,
                       comms_account_t *out) {
  char key[400];
  sb_err_t kerr = SB_ERR_INIT;
  const void *v;
  size_t len;
  int c = channel_ix(channel);
  if (c < 0 || key_of(key, sizeof key, "A", tenant, NULL, &kerr) != 0 ||
      sb_global_get(b, COMMS_G_CONFIG, key, &v, &len) != 0)
    return SB_ENOENT;
  /* the list may change under a later get: copied first */
  char list[ACCT_MAX * COMMS_ID_MAX + 1];
  if (len >= sizeof list)
    return SB_ENOENT;
  memcpy(list, v, len);
  list[len] = '\0';
  int found = 0, found_default = 0;
  for (char *p = list, *nl; *p && (nl = strchr(p, '\n')) != NULL;
       p = nl + 1) {
    *nl = '\0';
    const void *av;
    size_t alen;
    acct_t a;
    if (key_of(key, sizeof key, "P", tenant, p, &kerr) != 0 ||
        sb_global_get(b, COMMS_G_CONFIG, key, &av, &alen) != 0 ||
        alen != sizeof a)
      continue;
    memcpy(&a, av, sizeof a);
    if (!(a.mask & (1u << c)) || found_default || (found && !a.is_default))
      continue; /* sorted: the first found wins among equals */
    comms__copy(out->account_id, sizeof out->account_id, p);
    comms__copy(out->provider, sizeof out->provider, a.provider);
    comms__copy(out->from_address, sizeof out->from_address, a.from_address);
    found = 1;
    found_default = a.is_default;
  }
  return found ? 0 : SB_ENOENT;
}

/* ---- the tables ---------------------------------------------------------- */

int comms__template_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                          sb_err_t *err) {
  const sb_field_t *F = x->f;
  int64_t maxlen = sb_event_has(ev, F[TF_MAXLEN])
                       ? sb_event_i64(ev, F[TF_MAXLEN])
                       : -1;
  const char *ch = sb_event_enum_name(ev, F[TF_CHANNEL]);
  if (maxlen < 0) { /* the channel's */
    static const int64_t defaults[] = {1600, 100000, 4096, 40000, 4096};
    int c = channel_ix(ch);
    maxlen = c >= 0 ? defaults[c] : 1600;
  }
  return sb_rows_add(b, &comms__templates,
                     (const sb_val_t[]){
                         SB_V_TEXT(ev->tenant_id),
                         SB_V_TEXT(sb_event_str(ev, F[TF_ID])),
                         SB_V_INT4(sb_event_i64(ev, F[TF_VERSION])),
                         SB_V_TEXT(sb_event_str(ev, F[TF_LOCALE])),
                         SB_V_TEXT(ch),
                         SB_V_TEXT(sb_event_str(ev, F[TF_SUBJECT])),
                         SB_V_TEXT(sb_event_str(ev, F[TF_BODY])),
                         SB_V_INT4(maxlen),
                         SB_V_TIMESTAMPTZ(ev->occurred_at),
                         SB_V_TEXT(ev->event_id),
                     },
                     err);
}

static int add_str(cJSON *o, const char *k, const char *v) {
  return (v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k)) !=
         NULL;
}

int comms__provider_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                          sb_err_t *err) {
  (void)b;
  const sb_field_t *F = x->f;
  cJSON *o = cJSON_CreateObject(), *chs = cJSON_CreateArray();
  int ok = o != NULL && chs != NULL;
  size_t n = sb_event_count(ev, F[PF_CHANNELS]);
  for (size_t i = 0; ok && i < n; i++) {
    cJSON *s = cJSON_CreateString(sb_event_str_at(ev, F[PF_CHANNELS], i));
    ok = s != NULL;
    if (ok)
      cJSON_AddItemToArray(chs, s);
  }
  if (ok) {
    cJSON_AddItemToObject(o, "channels", chs);
    chs = NULL;
  }
  char at[32];
  snprintf(at, sizeof at, "%lld", (long long)ev->occurred_at);
  ok = ok && add_str(o, "tenant_id", ev->tenant_id) &&
       add_str(o, "account_id", sb_event_str(ev, F[PF_ACCOUNT])) &&
       add_str(o, "provider", sb_event_enum_name(ev, F[PF_PROVIDER])) &&
       add_str(o, "base_url", sb_event_str(ev, F[PF_BASE_URL])) &&
       add_str(o, "from_address", sb_event_str(ev, F[PF_FROM])) &&
       add_str(o, "username", sb_event_str(ev, F[PF_USERNAME])) &&
       add_str(o, "secret_sealed", sb_event_str(ev, F[PF_SECRET])) &&
       add_str(o, "secret2_sealed", sb_event_str(ev, F[PF_SECRET2])) &&
       cJSON_AddBoolToObject(o, "is_default",
                             sb_event_bool(ev, F[PF_DEFAULT])) != NULL &&
       add_str(o, "event_id", ev->event_id) && add_str(o, "at_us", at);
  cJSON_Delete(chs);
  if (!ok) {
    cJSON_Delete(o);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  cJSON_AddItemToArray(x->providers, o);
  return 0;
}

void comms__providers_forget(comms_t *x) {
  while (cJSON_GetArraySize(x->providers) > 0)
    cJSON_DeleteItemFromArray(x->providers, 0);
}

/* One statement for the batch's accounts: the newest of each (by
 * configured_at, then event id), replacing a stored one only when newer,
 * so rotations applied out of order end at the newest. */
int comms__providers_flush(comms_t *x, sb_batch_t *b, sb_err_t *err) {
  if (cJSON_GetArraySize(x->providers) == 0)
    return 0;
  char *json = cJSON_PrintUnformatted(x->providers);
  if (json == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const char *schema = sb_batch_schema(b);
  sb_text_t sql = {0};
  sb_text_add(
      &sql,
      "INSERT INTO %s.providers AS p (tenant_id, account_id, provider, "
      "base_url, from_address, username, secret_sealed, secret2_sealed, "
      "channels, is_default, event_id, configured_at) "
      "SELECT DISTINCT ON (u.tenant_id, u.account_id) u.tenant_id, "
      "u.account_id, u.provider, u.base_url, u.from_address, u.username, "
      "u.secret_sealed, u.secret2_sealed, ARRAY(SELECT "
      "jsonb_array_elements_text(u.channels)), u.is_default, u.event_id, "
      "'epoch'::timestamptz + u.at_us::bigint * interval '1 microsecond' FROM jsonb_to_recordset($1::jsonb) "
      "AS u(tenant_id text, account_id text, provider text, base_url text, "
      "from_address text, username text, secret_sealed text, secret2_sealed "
      "text, channels jsonb, is_default boolean, event_id text, at_us text) "
      "ORDER BY u.tenant_id, u.account_id, u.at_us::bigint DESC, u.event_id "
      "DESC "
      "ON CONFLICT (tenant_id, account_id) DO UPDATE SET provider = "
      "EXCLUDED.provider, base_url = EXCLUDED.base_url, from_address = "
      "EXCLUDED.from_address, username = EXCLUDED.username, secret_sealed = "
      "EXCLUDED.secret_sealed, secret2_sealed = EXCLUDED.secret2_sealed, "
      "channels = EXCLUDED.channels, is_default = EXCLUDED.is_default, "
      "event_id = EXCLUDED.event_id, configured_at = EXCLUDED.configured_at "
      "WHERE (p.configured_at, p.event_id) < (EXCLUDED.configured_at, "
      "EXCLUDED.event_id)",
      schema);
  const char *params[] = {json};
  int rc = sql.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                      : sb_pg_exec(sb_batch_pg(b), sql.s, 1, params, err);
  sb_text_free(&sql);
  cJSON_free(json);
  return rc;
}
