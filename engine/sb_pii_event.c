/* Sealing and revealing the PII of whole CloudEvents: see sb_pii_event.h. */
#include "sb_pii_event.h"

#include "sb_codec_int.h"
#include "sb_log.h"
#include "sb_phone_tz.h"
#include "sb_pii.h"
#include "sb_tenant.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HMACS 16 /* matched fields of one event */

typedef struct {
  const sb_fieldattr_t *fa;
  char hex[SB_PII_HMAC_HEX + 1];
  int null; /* the field is absent or null: F_hmac is null too */
  const char *tz; /* a phone's area's zone (sb_phone_tz), for F_tz */
} hmac_t;

typedef struct {
  cJSON *ev, *data;
  const sb_evtype_t *t;
  const char *tenant, *subject, *type;
  int seals;  /* string values to seal */
  int req;    /* index into the key requests, or -1 */
  hmac_t h[MAX_HMACS];
  int nh;
  char subj[200]; /* the prefixed subject (sb.dataSubjectPrefix) */
} ev_t;

static char *why_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *why_fmt(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return strdup(buf);
}

/* The object holding the field of a path ("phone": data; "address.city":
 * data.address when it is an object) and the field's name in it. */
static cJSON *holder(cJSON *data, const char *path, const char **name) {
  const char *dot = strchr(path, '.');
  if (dot == NULL) {
    *name = path;
    return data;
  }
  char first[128];
  size_t n = (size_t)(dot - path);
  if (n >= sizeof first)
    return NULL;
  memcpy(first, path, n);
  first[n] = '\0';
  cJSON *o = cJSON_GetObjectItemCaseSensitive(data, first);
  *name = dot + 1;
  return cJSON_IsObject(o) ? o : NULL;
}

static int card_types(const sb_evtype_t *t) {
  return strcmp(sb_evtype_topic(t), "sb.leads") == 0 ||
         strncmp(sb_evtype_name(t), "payment.", 8) == 0;
}

/* The first string under j (not inside a phone-matched field) holding a
 * card number: its path into out. */
static int find_card(const sb_evtype_t *t, const cJSON *j, const char *path,
                     char *out, size_t outsz) {
  if (cJSON_IsString(j)) {
    if (!sb_pii_has_card_number(j->valuestring))
      return 0;
    size_t na = 0;
    const sb_fieldattr_t *const *pa = sb_evtype_pii_attrs(t, &na);
    for (size_t i = 0; i < na; i++)
      if ((pa[i]->match == SB_PII_MATCH_PHONE ||
           pa[i]->match == SB_PII_MATCH_ADDRESS) &&
          strcmp(pa[i]->path, path) == 0)
        return 0; /* a long phone number (or a device token's digits) may
                     pass the Luhn check */
    snprintf(out, outsz, "%s", path);
    return 1;
  }
  const cJSON *c;
  int i = 0;
  cJSON_ArrayForEach(c, j) {
    char sub[300];
    if (cJSON_IsArray(j))
      snprintf(sub, sizeof sub, "%s", path); /* items share the field */
    else
      snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
               c->string ? c->string : "?");
    if (find_card(t, c, sub, out, outsz)) {
      if (cJSON_IsArray(j) && strlen(out) + 12 < outsz)
        snprintf(out + strlen(out), outsz - strlen(out), "[%d]", i);
      return 1;
    }
    i++;
  }
  return 0;
}

/* How a matched field's value is matched: its sb.match, or, with
 * sb.matchBy, by the channel its sibling names (*channel set to it). */
static sb_pii_match_t match_kind(cJSON *data, const sb_fieldattr_t *fa,
                                 const char **channel) {
  *channel = NULL;
  if (fa->match_by == NULL)
    return (sb_pii_match_t)fa->match;
  const char *name;
  cJSON *h = holder(data, fa->path, &name);
  const cJSON *c = h ? cJSON_GetObjectItemCaseSensitive(h, fa->match_by) : NULL;
  if (!cJSON_IsString(c))
    return (sb_pii_match_t)fa->match;
  *channel = c->valuestring;
  return sb_pii_match_for_channel(c->valuestring);
}

/* Checks one plaintext value of a sealed field. */
static char *check_plain(const sb_fieldattr_t *fa, const char *v) {
  if (sb_pii_is_sealed(v))
    return why_fmt("data.%s: holds an sbx1. value: PII is sealed by the "
                   "server; send the plaintext", fa->path);
  long cps = sb__utf8_len((const unsigned char *)v, strlen(v));
  long max = fa->max_length ? fa->max_length : SB__MAX_STRING;
  if (cps < 0)
    return why_fmt("data.%s: not valid UTF-8", fa->path);
  if (cps > max)
    return why_fmt("data.%s: longer than %ld characters (%ld)", fa->path, max,
                   cps);
  return NULL;
}

/* Pass 1: every check, and the match HMACs; nothing changed yet. */
static char *check_event(sb_keys_t *k, ev_t *e, sb_err_t *err, int *fatal) {
  const sb_evtype_t *t = e->t;
  size_t na = 0;
  const sb_fieldattr_t *const *pa = sb_evtype_pii_attrs(t, &na);
  for (size_t i = 0; i < na; i++) {
    const sb_fieldattr_t *fa = pa[i];
    const char *name;
    cJSON *h = holder(e->data, fa->path, &name);
    cJSON *v = h ? cJSON_GetObjectItemCaseSensitive(h, name) : NULL;
    if (fa->is_hmac && v && !cJSON_IsNull(v))
      return why_fmt("data.%s: is computed by the server from data.%.*s; "
                     "leave it out", fa->path, (int)(strlen(fa->path) - 5),
                     fa->path);
    if (!fa->sealed || v == NULL)
      continue;
    if (cJSON_IsString(v)) {
      char *why = check_plain(fa, v->valuestring);
      if (why)
        return why;
      e->seals++;
    } else if (cJSON_IsArray(v)) {
      const cJSON *it;
      cJSON_ArrayForEach(it, v) if (cJSON_IsString(it)) {
        char *why = check_plain(fa, it->valuestring);
        if (why)
          return why;
        e->seals++;
      }
    }
  }
  if (card_types(t)) {
    char where[300];
    if (find_card(t, e->data, "", where, sizeof where))
      return why_fmt("data.%s: looks like a payment card number: send the "
                     "payment processor's token (payment_token) or the last "
                     "four digits (card_last4), never the number", where);
  }
  /* the match HMACs, under the tenant's key */
  unsigned char mk[SB_PII_KEY_LEN];
  int have_key = 0;
  for (size_t i = 0; i < na; i++) {
    const sb_fieldattr_t *fa = pa[i];
    if (!fa->match)
      continue;
    if (e->nh == MAX_HMACS)
      return why_fmt("data.%s: more than %d matched fields", fa->path,
                     MAX_HMACS);
    hmac_t *hm = &e->h[e->nh++];
    hm->fa = fa;
    const char *name;
    cJSON *h = holder(e->data, fa->path, &name);
    cJSON *v = h ? cJSON_GetObjectItemCaseSensitive(h, name) : NULL;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
      hm->null = 1;
      continue;
    }
    if (!have_key) {
      if (sb_keys_match_key(k, e->tenant, mk, err) != 0) {
        *fatal = 1;
        return NULL;
      }
      have_key = 1;
    }
    sb_err_t herr = SB_ERR_INIT;
    const char *channel = NULL;
    sb_pii_match_t kind = match_kind(e->data, fa, &channel);
    if (sb_pii_match_hmac(mk, kind, v->valuestring, hm->hex, &herr) != 0) {
      sb_pii_wipe(mk, sizeof mk);
      if (channel != NULL)
        return why_fmt("data.%s: for channel %s: %s", fa->path, channel,
                       herr.msg);
      return why_fmt("data.%s: %s", fa->path, herr.msg);
    }
    char e164[40];
    /* a phone, or an address that is one (no '@': sb_pii_match_hmac
     * normalised it as a phone) */
    int phone = kind == SB_PII_MATCH_PHONE ||
                (kind == SB_PII_MATCH_ADDRESS &&
                 strchr(v->valuestring, '@') == NULL);
    if (phone &&
        sb_pii_norm_phone(v->valuestring, e164, sizeof e164, &herr) == 0)
      hm->tz = sb_phone_tz(e164);
  }
  sb_pii_wipe(mk, sizeof mk);
  return NULL;
}

static int seal_one(const ev_t *e, const sb_keys_seal_t *key,
                    const sb_fieldattr_t *fa, const char *plain, cJSON **out,
                    sb_err_t *err) {
  size_t n = strlen(plain);
  size_t cap = sb_pii_sealed_len(strlen(key->key_id), n) + 1;
  char stack[1024], *buf = cap <= sizeof stack ? stack : malloc(cap);
  if (buf == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_pii_seal(key->dek, key->key_id, e->tenant, e->type, fa->path,
                       plain, n, buf, cap, err);
  if (rc == 0 && (*out = cJSON_CreateString(buf)) == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  if (buf != stack)
    free(buf);
  return rc;
}

/* Pass 2: the HMACs set, the values sealed. */
static int seal_event(ev_t *e, const sb_keys_seal_t *key, sb_err_t *err) {
  for (int i = 0; i < e->nh; i++) {
    char path[300];
    const char *name;
    snprintf(path, sizeof path, "%s_hmac", e->h[i].fa->path);
    cJSON *h = holder(e->data, path, &name);
    if (h == NULL)
      continue;
    cJSON *nv = e->h[i].null ? cJSON_CreateNull() : cJSON_CreateString(e->h[i].hex);
    if (nv == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(h, name))
      cJSON_ReplaceItemInObjectCaseSensitive(h, name, nv);
    else if (!e->h[i].null)
      cJSON_AddItemToObject(h, name, nv);
    else
      cJSON_Delete(nv);
    /* a phone's F_tz, where the schema has one: its area's zone, computed
     * here like F_hmac (what the client sent is replaced); for an address,
     * null when it is an e-mail address */
    sb_field_t tzf;
    sb_err_t tzerr = SB_ERR_INIT;
    snprintf(path, sizeof path, "%s_tz", e->h[i].fa->path);
    if ((e->h[i].fa->match == SB_PII_MATCH_PHONE ||
         e->h[i].fa->match == SB_PII_MATCH_ADDRESS) &&
        sb_codec_field_of(e->t, path, &tzf, &tzerr) == 0 &&
        (h = holder(e->data, path, &name)) != NULL) {
      cJSON *tv = e->h[i].tz ? cJSON_CreateString(e->h[i].tz) : cJSON_CreateNull();
      if (tv == NULL)
        return sb_err_set(err, SB_ENOMEM, "out of memory");
      if (cJSON_GetObjectItemCaseSensitive(h, name))
        cJSON_ReplaceItemInObjectCaseSensitive(h, name, tv);
      else if (e->h[i].tz)
        cJSON_AddItemToObject(h, name, tv);
      else
        cJSON_Delete(tv);
    }
  }
  if (key == NULL)
    return 0;
  size_t na = 0;
  const sb_fieldattr_t *const *pa = sb_evtype_pii_attrs(e->t, &na);
  for (size_t i = 0; i < na; i++) {
    const sb_fieldattr_t *fa = pa[i];
    if (!fa->sealed)
      continue;
    const char *name;
    cJSON *h = holder(e->data, fa->path, &name);
    cJSON *v = h ? cJSON_GetObjectItemCaseSensitive(h, name) : NULL;
    cJSON *nv = NULL;
    if (cJSON_IsString(v)) {
      if (seal_one(e, key, fa, v->valuestring, &nv, err) != 0)
        return err->code;
      cJSON_ReplaceItemInObjectCaseSensitive(h, name, nv);
    } else if (cJSON_IsArray(v)) {
      int n = cJSON_GetArraySize(v);
      for (int j = 0; j < n; j++) {
        cJSON *it = cJSON_GetArrayItem(v, j);
        if (!cJSON_IsString(it))
          continue;
        if (seal_one(e, key, fa, it->valuestring, &nv, err) != 0)
          return err->code;
        cJSON_ReplaceItemInArray(v, j, nv);
      }
    }
  }
  return 0;
}

const char *sb_pii_data_subject(const cJSON *data, const char *subject) {
  static const char *const names[] = {"lead_id", "subject_id"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *v =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, names[i]));
    if (v != NULL && v[0] != '\0' && strlen(v) <= 128)
      return v;
  }
  return subject;
}

int sb_pii_event_needs_seal(const sb_schemas_t *s, const cJSON *ev) {
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
  const sb_evtype_t *t =
      cJSON_IsString(type) ? sb_schemas_by_type(s, type->valuestring) : NULL;
  return t != NULL && (sb_evtype_has_pii(t) || card_types(t));
}

int sb_pii_seal_events(sb_keys_t *k, const sb_schemas_t *s, cJSON *const *evs,
                       size_t n, char **why, sb_err_t *err) {
  ev_t *e = calloc(n + 1, sizeof *e);
  sb_keys_seal_t *reqs = calloc(n + 1, sizeof *reqs);
  int rc = 0;
  size_t nreq = 0;
  const sb_evtype_t *last_t = NULL;
  if (e == NULL || reqs == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    why[i] = NULL;
    e[i].req = -1;
    cJSON *ev = evs[i];
    cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    cJSON *tenant = cJSON_GetObjectItemCaseSensitive(ev, "tenantid");
    cJSON *subject = cJSON_GetObjectItemCaseSensitive(ev, "subject");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    const sb_evtype_t *t = NULL;
    if (cJSON_IsString(type)) { /* batches run of one type: looked up once */
      if (last_t == NULL || strcmp(sb_evtype_name(last_t), type->valuestring))
        last_t = sb_schemas_by_type(s, type->valuestring);
      t = last_t;
    }
    /* anything the codec refuses anyway is left to it */
    if (t == NULL || !cJSON_IsObject(data) || !cJSON_IsString(tenant) ||
        !sb_tenant_valid(tenant->valuestring) || !cJSON_IsString(subject) ||
        subject->valuestring[0] == '\0')
      continue;
    e[i].ev = ev;
    e[i].data = data;
    e[i].t = t;
    e[i].type = sb_evtype_name(t);
    e[i].tenant = tenant->valuestring;
    e[i].subject = sb_pii_data_subject(data, subject->valuestring);
    const char *dsp = sb_evtype_data_subject_prefix(t);
    if (dsp != NULL && e[i].subject == subject->valuestring) {
      /* the subject (at most 128 by the schema; longer is refused by the
       * codec, so truncation here never seals anything) */
      snprintf(e[i].subj, sizeof e[i].subj, "%s%s", dsp, subject->valuestring);
      e[i].subject = e[i].subj;
    }
    if (!sb_evtype_has_pii(t) && !card_types(t))
      continue;
    int fatal = 0;
    why[i] = check_event(k, &e[i], err, &fatal);
    if (fatal) {
      rc = err->code;
      goto out;
    }
    if (why[i] != NULL) {
      e[i].ev = NULL;
      continue;
    }
    if (e[i].seals > 0) {
      e[i].req = (int)nreq;
      reqs[nreq].tenant = e[i].tenant;
      reqs[nreq].subject = e[i].subject;
      nreq++;
    }
  }
  if ((rc = sb_keys_for_seal(k, reqs, nreq, err)) != 0)
    goto out;
  for (size_t i = 0; i < n && rc == 0; i++)
    if (e[i].ev != NULL && (e[i].nh > 0 || e[i].req >= 0))
      rc = seal_event(&e[i], e[i].req >= 0 ? &reqs[e[i].req] : NULL, err);
out:
  if (rc != 0)
    for (size_t i = 0; i < n; i++) {
      free(why[i]);
      why[i] = NULL;
    }
  if (reqs)
    sb_pii_wipe(reqs, (n + 1) * sizeof *reqs);
  free(reqs);
  free(e);
  return rc;
}

/* ---- the way out ------------------------------------------------------------ */

sb_pii_view_t sb_pii_view_for(const char *role, int owns) {
  if (role && (strcmp(role, "admin") == 0 || strcmp(role, "manager") == 0))
    return SB_PII_VIEW_CLEAR;
  if (role && strcmp(role, "agent") == 0 && owns)
    return SB_PII_VIEW_CLEAR;
  return SB_PII_VIEW_MASKED;
}

/* The value a sealed string shows in view; NULL to leave it. */
static cJSON *reveal_one(sb_keys_t *k, const char *tenant, const char *type,
                         const sb_fieldattr_t *fa, const char *v,
                         sb_pii_view_t view, int *failed, sb_err_t *err) {
  char key_id[SB_PII_KEYID_MAX + 1];
  unsigned char dek[SB_PII_KEY_LEN];
  if (strcmp(v, SB_PII_ERASED) == 0)
    return NULL;
  if (!sb_pii_is_sealed(v)) {
    /* written before sealing (an older schema, or a path that did not
     * seal): plaintext, masked all the same for who may not see it */
    if (view != SB_PII_VIEW_MASKED)
      return NULL;
    char m[400];
    sb_pii_mask((sb_pii_match_t)fa->match, v, m, sizeof m);
    cJSON *o = cJSON_CreateString(m);
    if (o == NULL)
      sb_err_set(err, SB_ENOMEM, "out of memory");
    return o;
  }
  sb_err_t kerr = SB_ERR_INIT;
  if (sb_pii_key_id(v, key_id, &kerr) != 0) {
    (*failed)++;
    return cJSON_CreateString(SB_PII_ERASED);
  }
  int rc = sb_keys_for_open(k, tenant, key_id, dek, &kerr);
  if (rc == 1 || (rc != 0 && kerr.code == SB_ENOENT))
    return cJSON_CreateString(SB_PII_ERASED);
  if (rc != 0) {
    sb_err_set(err, kerr.code, "%s", kerr.msg);
    return NULL;
  }
  size_t cap = strlen(v) + 1;
  char stack[1024], *plain = cap <= sizeof stack ? stack : malloc(cap);
  cJSON *out = NULL;
  if (plain == NULL) {
    sb_pii_wipe(dek, sizeof dek);
    sb_err_set(err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  if (sb_pii_open(dek, v, tenant, type, fa->path, plain, cap, NULL, &kerr) !=
      0) {
    (*failed)++;
    sb_log(SB_LOG_WARN, "pii", "a sealed field does not open",
           SB_F_STR("tenant", tenant), SB_F_STR("type", type),
           SB_F_STR("field", fa->path), SB_F_STR("error", kerr.msg), SB_F_END);
    out = cJSON_CreateString(SB_PII_ERASED);
  } else if (view == SB_PII_VIEW_MASKED) {
    char m[400];
    sb_pii_mask((sb_pii_match_t)fa->match, plain, m, sizeof m);
    out = cJSON_CreateString(m);
  } else {
    out = cJSON_CreateString(plain);
  }
  sb_pii_wipe(plain, cap);
  sb_pii_wipe(dek, sizeof dek);
  if (plain != stack)
    free(plain);
  if (out == NULL)
    sb_err_set(err, SB_ENOMEM, "out of memory");
  return out;
}

int sb_pii_reveal(sb_keys_t *k, const sb_schemas_t *s, cJSON *ce,
                  sb_pii_view_t view, int *failed, sb_err_t *err) {
  int nfail = 0;
  if (failed)
    *failed = 0;
  if (view == SB_PII_VIEW_SEALED)
    return 0;
  cJSON *type = cJSON_GetObjectItemCaseSensitive(ce, "type");
  cJSON *tenant = cJSON_GetObjectItemCaseSensitive(ce, "tenantid");
  cJSON *data = cJSON_GetObjectItemCaseSensitive(ce, "data");
  const sb_evtype_t *t =
      cJSON_IsString(type) ? sb_schemas_by_type(s, type->valuestring) : NULL;
  if (t == NULL || !sb_evtype_has_pii(t) || !cJSON_IsObject(data) ||
      !cJSON_IsString(tenant))
    return 0;
  /* into a copy first: on an error the event stays as it was */
  cJSON *copy = cJSON_Duplicate(data, 1);
  if (copy == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = 0;
  size_t na = 0;
  const sb_fieldattr_t *const *pa = sb_evtype_pii_attrs(t, &na);
  for (size_t i = 0; i < na && rc == 0; i++) {
    const sb_fieldattr_t *fa = pa[i];
    if (!fa->sealed)
      continue;
    const char *name;
    cJSON *h = holder(copy, fa->path, &name);
    cJSON *v = h ? cJSON_GetObjectItemCaseSensitive(h, name) : NULL;
    if (cJSON_IsString(v)) {
      cJSON *nv = reveal_one(k, tenant->valuestring, sb_evtype_name(t), fa,
                             v->valuestring, view, &nfail, err);
      if (nv)
        cJSON_ReplaceItemInObjectCaseSensitive(h, name, nv);
      else if (err->code)
        rc = err->code;
    } else if (cJSON_IsArray(v)) {
      int n = cJSON_GetArraySize(v);
      for (int j = 0; j < n && rc == 0; j++) {
        cJSON *it = cJSON_GetArrayItem(v, j);
        if (!cJSON_IsString(it))
          continue;
        cJSON *nv = reveal_one(k, tenant->valuestring, sb_evtype_name(t), fa,
                               it->valuestring, view, &nfail, err);
        if (nv)
          cJSON_ReplaceItemInArray(v, j, nv);
        else if (err->code)
          rc = err->code;
      }
    }
  }
  if (rc != 0) {
    cJSON_Delete(copy);
    return rc;
  }
  cJSON_ReplaceItemInObjectCaseSensitive(ce, "data", copy);
  if (failed)
    *failed = nfail;
  return 0;
}

int sb_pii_open_field(sb_keys_t *k, const char *tenant, const char *type,
                      const char *field, const char *v, char *out,
                      size_t outsz, sb_err_t *err) {
  if (outsz < strlen(v) + 1 || outsz < sizeof SB_PII_ERASED)
    return sb_err_set(err, SB_EINVAL, "pii: %s: buffer too small", field);
  if (!sb_pii_is_sealed(v)) {
    memcpy(out, v, strlen(v) + 1);
    return 2;
  }
  char key_id[SB_PII_KEYID_MAX + 1];
  unsigned char dek[SB_PII_KEY_LEN];
  sb_err_t kerr = SB_ERR_INIT;
  int rc = strcmp(v, SB_PII_ERASED) == 0 ? 1 : sb_pii_key_id(v, key_id, err);
  if (rc == 0)
    rc = sb_keys_for_open(k, tenant, key_id, dek, &kerr);
  if (rc == 1 || (rc != 0 && kerr.code == SB_ENOENT)) {
    memcpy(out, SB_PII_ERASED, sizeof SB_PII_ERASED);
    return 1;
  }
  if (rc != 0)
    return kerr.code ? sb_err_set(err, kerr.code, "%s", kerr.msg) : rc;
  rc = sb_pii_open(dek, v, tenant, type, field, out, outsz, NULL, err);
  sb_pii_wipe(dek, sizeof dek);
  return rc;
}
