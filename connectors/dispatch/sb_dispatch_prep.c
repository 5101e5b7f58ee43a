/* Before a message is sent: its provider account (comms.providers, the
 * secret unsealed), its sealed fields opened, its template rendered and
 * measured. Refusals become outcomes (message.blocked v2's reasons:
 * no_provider, template_missing, template_variable_missing, too_long;
 * invalid_address for a recipient that cannot be read). */
#include "sb_dispatch_int.h"

#include "sb_pii.h"
#include "sb_pii_event.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCT_TTL_MS 30000 /* a rotation (a newer provider.configured) shows within */
#define REQ_TYPE "message.requested"
#define PROV_TYPE "provider.configured"

const char *const sb__dsp_provider_names[SB_DSP_NPROVIDERS] = {
    "smtp", "twilio", "whatsapp_cloud", "slack", "fcm", "sendgrid"};

static void wipe_free(char *s) {
  if (s) {
    sb_pii_wipe(s, strlen(s));
    free(s);
  }
}

static void acct_clear(sb__dacct_t *a) {
  free(a->base_url);
  free(a->from_address);
  free(a->username);
  wipe_free(a->secret);
  a->base_url = a->from_address = a->username = a->secret = NULL;
}

void sb__dsp_accts_free(sb_dispatch_t *d) {
  while (d->accts) {
    sb__dacct_t *a = d->accts;
    d->accts = a->next;
    acct_clear(a);
    sb__dsp_token_clear(a);
    free(a);
  }
}

static void block(sb__djob_t *j, const char *reason, const char *detail) {
  j->outcome = SB_DSP_O_BLOCKED;
  snprintf(j->block_reason, sizeof j->block_reason, "%s", reason);
  snprintf(j->error_msg, sizeof j->error_msg, "%s", detail);
}

/* Opens v (a column sealed as field of event type) into a new string:
 * 0 and *out; 1 when its key was erased (*out NULL); an error. */
static int open_sealed(sb_dispatch_t *d, const char *tenant, const char *type,
                       const char *field, const char *v, char **out,
                       sb_err_t *err) {
  *out = NULL;
  size_t sz = strlen(v) + 1;
  char *p = malloc(sz);
  if (p == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_pii_open_field(d->keys, tenant, type, field, v, p, sz, err);
  if (rc < 0 || rc == 1) {
    wipe_free(p);
    return rc;
  }
  *out = p; /* 0: opened; 2: it was not sealed, taken as it is */
  return 0;
}

static int parse_provider(const char *name) {
  for (int i = 0; i < SB_DSP_NPROVIDERS; i++)
    if (name && strcmp(name, sb__dsp_provider_names[i]) == 0)
      return i;
  return -1;
}

static char *dup_or_null(const char *v) { return v ? strdup(v) : NULL; }

/* The account of j: named, or the tenant's default for the channel. */
static int account(sb_dispatch_t *d, sb__djob_t *j, sb_err_t *err) {
  int64_t now = sb_now_ms();
  sb__dacct_t *a = NULL;
  if (j->account_id[0])
    for (a = d->accts; a; a = a->next)
      if (strcmp(a->tenant, j->tenant) == 0 &&
          strcmp(a->account_id, j->account_id) == 0)
        break;
  if (a && a->secret && now - a->loaded_ms < ACCT_TTL_MS) {
    j->acct = a;
    return 0;
  }
  static const char q[] =
      "SELECT account_id, provider, base_url, from_address, username,"
      " secret_sealed, event_id FROM comms.providers WHERE tenant_id = $1 AND"
      " (account_id = $2 OR ($2 = '' AND is_default AND $3 = ANY(channels)))"
      " ORDER BY account_id LIMIT 1";
  const char *params[] = {j->tenant, j->account_id, j->channel};
  sb_pg_rows_t *r = NULL;
  if (sb_pg_rows(d->pg, q, 3, params, &r, err) != 0) {
    if (sb_err_sqlstate_is(err, "42P01")) {
      *err = (sb_err_t)SB_ERR_INIT;
      block(j, "no_provider", "comms.providers does not exist");
      return 0;
    }
    return err->code;
  }
  int rc = 0;
  if (sb_pg_rows_count(r) == 0) {
    block(j, "no_provider",
          j->account_id[0] ? "the message's provider account is not configured"
                           : "the tenant has no default provider account for "
                             "the channel");
    goto out;
  }
  const char *acct_id = sb_pg_rows_get(r, 0, 0);
  if (a == NULL || strcmp(a->account_id, acct_id) != 0)
    for (a = d->accts; a; a = a->next)
      if (strcmp(a->tenant, j->tenant) == 0 &&
          strcmp(a->account_id, acct_id) == 0)
        break;
  if (a == NULL) {
    if ((a = calloc(1, sizeof *a)) == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      goto out;
    }
    snprintf(a->tenant, sizeof a->tenant, "%s", j->tenant);
    snprintf(a->account_id, sizeof a->account_id, "%s", acct_id);
    a->next = d->accts;
    d->accts = a;
  }
  int prov = parse_provider(sb_pg_rows_get(r, 0, 1));
  const char *sealed = sb_pg_rows_get(r, 0, 5);
  if (prov < 0 || sealed == NULL) {
    block(j, "no_provider", prov < 0 ? "the account's provider is unknown"
                                     : "the account has no secret");
    goto out;
  }
  char *secret = NULL;
  if ((rc = open_sealed(d, j->tenant, PROV_TYPE, "secret", sealed, &secret,
                        err)) != 0) {
    if (rc == 1) { /* its key was erased */
      rc = 0;
      block(j, "no_provider", "the account's secret was erased");
    }
    goto out;
  }
  /* breaker state stays; the access token too, unless the account changed */
  if (strcmp(a->event_id, sb_pg_rows_get(r, 0, 6) ? sb_pg_rows_get(r, 0, 6) : "") != 0)
    sb__dsp_token_clear(a);
  acct_clear(a);
  a->provider = prov;
  a->base_url = dup_or_null(sb_pg_rows_get(r, 0, 2));
  a->from_address = dup_or_null(sb_pg_rows_get(r, 0, 3));
  a->username = dup_or_null(sb_pg_rows_get(r, 0, 4));
  a->secret = secret;
  snprintf(a->event_id, sizeof a->event_id, "%s",
           sb_pg_rows_get(r, 0, 6) ? sb_pg_rows_get(r, 0, 6) : "");
  a->loaded_ms = now;
  j->acct = a;
  snprintf(j->account_id, sizeof j->account_id, "%s", a->account_id);
out:
  sb_pg_rows_free(r);
  return rc;
}

/* ---- templates ------------------------------------------------------------ */

long sb__dsp_cps(const char *s) {
  long n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static const cJSON *lookup(const cJSON *vars, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(vars, name);
  if (v != NULL)
    return v;
  /* a dotted path through nested objects: lead.first_name */
  char path[256];
  snprintf(path, sizeof path, "%s", name);
  char *save = NULL;
  v = vars;
  for (char *k = strtok_r(path, ".", &save); k && v;
       k = strtok_r(NULL, ".", &save))
    v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, k) : NULL;
  return v;
}

int sb__dsp_render(const char *tmpl, const void *vars_, sb_text_t *out,
                   char *missing, size_t missingsz) {
  const cJSON *vars = vars_;
  const char *p = tmpl;
  while (*p) {
    const char *open = strstr(p, "{{");
    if (open == NULL) {
      sb_text_put(out, p, strlen(p));
      break;
    }
    sb_text_put(out, p, (size_t)(open - p));
    const char *close = strstr(open + 2, "}}");
    if (close == NULL) { /* not a placeholder: kept as written */
      sb_text_put(out, open, strlen(open));
      break;
    }
    const char *a = open + 2, *b = close;
    while (a < b && (*a == ' ' || *a == '\t'))
      a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
      b--;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(b - a), a);
    const cJSON *v = (b - a) < (long)sizeof name ? lookup(vars, name) : NULL;
    if (cJSON_IsString(v)) {
      sb_text_put(out, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
      char num[64];
      if (v->valuedouble == (double)(long long)v->valuedouble)
        snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
      else
        snprintf(num, sizeof num, "%.15g", v->valuedouble);
      sb_text_put(out, num, strlen(num));
    } else {
      snprintf(missing, missingsz, "%s", name);
      return SB_ENOENT;
    }
    p = close + 2;
  }
  return out->failed ? SB_ENOMEM : 0;
}

static long default_max(const char *channel) {
  static const struct {
    const char *ch;
    long max;
  } defs[] = {{"sms", 1600},  {"whatsapp", 4096}, {"slack", 40000},
              {"push", 4096}, {"email", 100000}};
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
    if (strcmp(defs[i].ch, channel) == 0)
      return defs[i].max;
  return 4096;
}

/* Renders one template into *dst (replaced); 0, 1 when blocked, or an
 * error. */
static int render_into(sb__djob_t *j, const char *tmpl, const cJSON *vars,
                       char **dst, sb_err_t *err) {
  sb_text_t t = {0};
  char missing[256] = "";
  int rc = sb__dsp_render(tmpl, vars, &t, missing, sizeof missing);
  if (rc == SB_ENOENT) {
    char detail[300];
    snprintf(detail, sizeof detail, "variable %s has no value", missing);
    block(j, "template_variable_missing", detail);
    sb_text_free(&t);
    return 1;
  }
  if (rc != 0 || t.failed) {
    sb_text_free(&t);
    return sb_err_set(err, SB_ENOMEM, "out of memory rendering a template");
  }
  sb_text_put(&t, "", 1);
  wipe_free(*dst);
  *dst = t.s; /* ownership moved */
  return 0;
}

static int render(sb_dispatch_t *d, sb__djob_t *j, const char *vars_text,
                  long *max_len, sb_err_t *err) {
  static const char q[] =
      "SELECT subject_template, body_template, max_length FROM comms.templates"
      " WHERE tenant_id = $1 AND template_id = $2 AND ($3 = '' OR"
      " version::text = $3) AND channel::text = $4"
      " ORDER BY published_at DESC LIMIT 1";
  const char *params[] = {j->tenant, j->template_id, j->template_version,
                          j->channel};
  sb_pg_rows_t *r = NULL;
  cJSON *vars = NULL;
  int rc = sb_pg_rows(d->pg, q, 4, params, &r, err);
  if (rc != 0) {
    if (!sb_err_sqlstate_is(err, "42P01"))
      return rc;
    *err = (sb_err_t)SB_ERR_INIT;
  }
  if (r == NULL || sb_pg_rows_count(r) == 0) {
    block(j, "template_missing", "the message's template is not published");
    goto out;
  }
  if (vars_text && vars_text[0]) {
    vars = cJSON_Parse(vars_text);
    if (!cJSON_IsObject(vars)) {
      block(j, "template_variable_missing",
            "the message's variables are not a JSON object");
      goto out;
    }
  }
  const char *sub = sb_pg_rows_get(r, 0, 0), *body = sb_pg_rows_get(r, 0, 1);
  const char *max = sb_pg_rows_get(r, 0, 2);
  long long m = 0;
  if (max && sb_parse_ll(max, &m) == 0 && m > 0)
    *max_len = (long)m;
  if ((rc = render_into(j, body ? body : "", vars, &j->body, err)) != 0)
    goto out;
  if (sub && (rc = render_into(j, sub, vars, &j->subject, err)) != 0)
    goto out;
out:
  cJSON_Delete(vars);
  sb_pg_rows_free(r);
  return rc < 0 ? rc : 0;
}

int sb__dsp_prepare(sb_dispatch_t *d, sb__djob_t *j, sb_err_t *err) {
  /* the sealed columns, opened in place */
  struct {
    char **slot;
    const char *field;
  } cols[] = {{&j->to, "to_address"},
              {&j->subject, "subject_line"},
              {&j->body, "body"}};
  char *vars = NULL;
  int rc = 0;
  /* the recipient: the request's, or the lead's address comms resolved */
  char to_type[40] = REQ_TYPE;
  const char *colon = strchr(j->to_origin, ':');
  if (colon != NULL && (size_t)(colon - j->to_origin) < sizeof to_type) {
    memcpy(to_type, j->to_origin, (size_t)(colon - j->to_origin));
    to_type[colon - j->to_origin] = '\0';
    cols[0].field = colon + 1;
  } else if (j->to_origin[0]) {
    block(j, "invalid_address", "the recipient's origin is not type:field");
    goto out;
  }
  for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
    char *sealed = *cols[i].slot, *plain = NULL;
    if (sealed == NULL)
      continue;
    rc = open_sealed(d, j->tenant, i == 0 ? to_type : REQ_TYPE, cols[i].field,
                     sealed, &plain, err);
    free(sealed);
    *cols[i].slot = plain;
    if (rc < 0)
      goto out;
    if (rc == 1 && i == 0) {
      block(j, "invalid_address", "the recipient's data was erased");
      rc = 0;
      goto out;
    }
    rc = 0;
  }
  if (j->to == NULL || j->to[0] == '\0') {
    block(j, "invalid_address", "the message has no recipient");
    goto out;
  }
  if (strncmp(j->to, "lead:", 5) == 0) { /* never resolved: never sent */
    block(j, "invalid_address", "the recipient names a lead, unresolved");
    goto out;
  }
  if (j->req.len > 0) { /* variables_sealed, carried from the claim */
    rc = open_sealed(d, j->tenant, REQ_TYPE, "template_variables_json",
                     j->req.s, &vars, err);
    sb_pii_wipe(j->req.s, j->req.len);
    j->req.len = 0;
    if (rc < 0)
      goto out;
    rc = 0;
  }
  if ((rc = account(d, j, err)) != 0 || j->outcome != SB_DSP_O_NONE)
    goto out;
  if (j->acct->provider == SB_DSP_FCM &&
      ((rc = sb__dsp_fcm_auth(d, j, err)) != 0 || j->outcome != SB_DSP_O_NONE))
    goto out;
  long max_len = default_max(j->channel);
  if (j->template_id[0]) {
    if ((rc = render(d, j, vars, &max_len, err)) != 0 ||
        j->outcome != SB_DSP_O_NONE)
      goto out;
  } else if (j->body == NULL) {
    block(j, "template_missing", "the message has neither a template nor a body");
    goto out;
  }
  long n = sb__dsp_cps(j->body);
  if (n > max_len) {
    char detail[128];
    snprintf(detail, sizeof detail, "%ld characters, at most %ld", n, max_len);
    block(j, "too_long", detail);
  }
out:
  wipe_free(vars);
  return rc;
}
