/* The consent table other processors read (consent.h): its reducer, run
 * by the kit for every event of sb.compliance in every instance of each
 * processor listing it, and the question sb_consent_allows.
 *
 * Keys and values are text, so sb.processor_state reads plainly:
 *   C|tenant|purpose|channel|subject  the latest consent.given/withdrawn:
 *                                     "g|w <at> <expires|0> <event id>"
 *   S|tenant|h|hmac                   suppressions of an address (its
 *   S|tenant|s|subject                HMAC) or of a subject: one line each,
 *       "<opt_out|dnc> <channel|*> <purpose|*> <received> <expires|0>\n",
 *       one per (kind, channel, purpose): the earliest received, the
 *       latest expiry (0, none, above all).
 * The reducer runs with the state of whichever processor lists the table,
 * so it keeps nothing of its own: it resolves its fields on the event's
 * type (sb_codec_field_of). */
#include "consent.h"
#include "consent_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUPP_MAX_LINES 256
#define SUPP_LINE 160

const sb_global_def_t sb_consent_globals[] = {SB_CONSENT_GLOBAL, {0}};

/* ---- shared with the processor --------------------------------------- */

int consent__key(char *out, size_t n, const char *tenant, const char *purpose,
                 const char *channel, const char *subject) {
  int w = snprintf(out, n, "C|%s|%s|%s|%s", tenant, purpose, channel, subject);
  return w < 0 || (size_t)w >= n ? SB_EINVAL : 0;
}

size_t consent__format(const consent_rec_t *r, char *out, size_t n) {
  int w = snprintf(out, n, "%c %" PRId64 " %" PRId64 " %s", r->status, r->at,
                   r->expires, r->event_id);
  return w < 0 ? 0 : (size_t)w >= n ? n - 1 : (size_t)w;
}

int consent__parse(const void *val, size_t len, consent_rec_t *r) {
  char buf[128];
  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, val, len);
  buf[len] = '\0';
  memset(r, 0, sizeof *r);
  char id[32];
  if (sscanf(buf, "%c %" SCNd64 " %" SCNd64 " %31s", &r->status, &r->at,
             &r->expires, id) != 4 ||
      (r->status != 'g' && r->status != 'w') || strlen(id) > 26)
    return -1;
  memcpy(r->event_id, id, strlen(id) + 1);
  return 0;
}

int consent__newer(const consent_rec_t *r, int64_t at, const char *id) {
  if (at != r->at)
    return at > r->at;
  return strcmp(id ? id : "", r->event_id) > 0;
}

/* ---- the reducer ------------------------------------------------------- */

/* A field's handle on ev's own type (SB_FIELD_NONE when it has none). */
static sb_field_t field(const sb_event_t *ev, const char *path) {
  sb_field_t f;
  sb_err_t e = SB_ERR_INIT;
  if (sb_codec_field_of(ev->type, path, &f, &e) != 0)
    memset(&f, 0, sizeof f);
  return f;
}

/* An enum or string field's text, or dflt when absent. */
static const char *text(const sb_event_t *ev, const char *path,
                        const char *dflt) {
  sb_field_t f = field(ev, path);
  const char *v = f.kind == SB_FIELD_ENUM ? sb_event_enum_name(ev, f)
                                          : sb_event_str(ev, f);
  return v != NULL && v[0] != '\0' ? v : dflt;
}

static int fold_consent(sb_global_t *g, const sb_event_t *ev, char status,
                        sb_err_t *err) {
  const char *purpose = text(ev, "purpose", NULL);
  const char *channel = text(ev, "channel", CONSENT_ALL);
  char key[512];
  if (purpose == NULL || ev->subject == NULL ||
      consent__key(key, sizeof key, ev->tenant_id, purpose, channel,
                   ev->subject) != 0)
    return sb_err_set(err, SB_EINVAL, "%s %s: no purpose or subject, or too "
                      "long a key", sb_evtype_name(ev->type), ev->event_id);
  const void *val;
  size_t len;
  consent_rec_t r;
  if (sb_global_find(g, key, &val, &len) == 0 &&
      consent__parse(val, len, &r) == 0 &&
      !consent__newer(&r, ev->occurred_at, ev->event_id))
    return 0; /* older or the same: out of order, or repeated */
  memset(&r, 0, sizeof r);
  r.status = status;
  r.at = ev->occurred_at;
  sb_field_t ex = field(ev, "expires_at");
  r.expires = status == 'g' && sb_event_has(ev, ex) ? sb_event_i64(ev, ex) : 0;
  snprintf(r.event_id, sizeof r.event_id, "%s", ev->event_id);
  char out[128];
  size_t n = consent__format(&r, out, sizeof out);
  return sb_global_put(g, key, out, n, err);
}

/* One suppression line, parsed. */
typedef struct {
  char kind[12], channel[40], purpose[40];
  int64_t received, expires;
} supp_t;

static int supp_parse(const char *line, size_t len, supp_t *s) {
  char buf[SUPP_LINE];
  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, line, len);
  buf[len] = '\0';
  return sscanf(buf, "%11s %39s %39s %" SCNd64 " %" SCNd64, s->kind,
                s->channel, s->purpose, &s->received, &s->expires) == 5
             ? 0
             : -1;
}

/* Merges s into the lines stored at key. */
static int supp_add(sb_global_t *g, const char *key, const supp_t *s,
                    sb_err_t *err) {
  const void *val = NULL;
  size_t len = 0;
  char *out = malloc((size_t)SUPP_MAX_LINES * SUPP_LINE);
  if (out == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t at = 0;
  int lines = 0, merged = 0;
  if (sb_global_find(g, key, &val, &len) == 0) {
    const char *p = val, *end = p + len;
    while (p < end && lines < SUPP_MAX_LINES) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
      supp_t o;
      if (supp_parse(p, l, &o) == 0) {
        if (!merged && strcmp(o.kind, s->kind) == 0 &&
            strcmp(o.channel, s->channel) == 0 &&
            strcmp(o.purpose, s->purpose) == 0) {
          merged = 1;
          if (s->received < o.received)
            o.received = s->received;
          o.expires = o.expires == 0 || s->expires == 0 ? 0
                      : s->expires > o.expires          ? s->expires
                                                        : o.expires;
        }
        at += (size_t)snprintf(out + at, SUPP_LINE, "%s %s %s %" PRId64
                               " %" PRId64 "\n", o.kind, o.channel,
                               o.purpose, o.received, o.expires);
        lines++;
      }
      p += l + 1;
    }
  }
  int rc = 0;
  if (!merged) {
    if (lines >= SUPP_MAX_LINES) {
      free(out);
      return sb_err_set(err, SB_ESTATE, "consent: %s holds %d suppressions "
                        "already", key, lines);
    }
    at += (size_t)snprintf(out + at, SUPP_LINE, "%s %s %s %" PRId64 " %" PRId64
                           "\n", s->kind, s->channel, s->purpose, s->received,
                           s->expires);
  }
  if (!merged || len != at || memcmp(val, out, at) != 0)
    rc = sb_global_put(g, key, out, at, err);
  free(out);
  return rc;
}

static int fold_suppression(sb_global_t *g, const sb_event_t *ev,
                            sb_err_t *err) {
  supp_t s = {0};
  const char *kind = text(ev, "kind", "");
  if (strcmp(kind, "opt_out") != 0 && strcmp(kind, "dnc") != 0)
    return 0; /* a withdrawal: the consent's own key says it */
  snprintf(s.kind, sizeof s.kind, "%s", kind);
  snprintf(s.channel, sizeof s.channel, "%s", text(ev, "channel", CONSENT_ALL));
  snprintf(s.purpose, sizeof s.purpose, "%s", text(ev, "purpose", CONSENT_ALL));
  s.received = ev->occurred_at;
  sb_field_t ex = field(ev, "expires_at");
  s.expires = sb_event_has(ev, ex) ? sb_event_i64(ev, ex) : 0;
  const char *keys[3][2] = {{"h", text(ev, "phone_hmac", NULL)},
                            {"h", text(ev, "email_hmac", NULL)},
                            {"s", ev->subject}};
  for (int i = 0; i < 3; i++) {
    char key[512];
    if (keys[i][1] == NULL)
      continue;
    int w = snprintf(key, sizeof key, "S|%s|%s|%s", ev->tenant_id, keys[i][0],
                     keys[i][1]);
    if (w < 0 || (size_t)w >= sizeof key)
      return sb_err_set(err, SB_EINVAL, "consent: too long a key");
    if (supp_add(g, key, &s, err) != 0)
      return err->code;
  }
  return 0;
}

int sb_consent_reduce(void *state, sb_global_t *g, const sb_event_t *ev,
                      sb_err_t *err) {
  (void)state; /* whichever processor lists the table: not ours */
  const char *type = sb_evtype_name(ev->type);
  if (strcmp(type, "consent.given") == 0)
    return fold_consent(g, ev, 'g', err);
  if (strcmp(type, "consent.withdrawn") == 0)
    return fold_consent(g, ev, 'w', err);
  if (strcmp(type, "consent.opt_out_honoured") == 0)
    return fold_suppression(g, ev, err);
  return 0;
}

/* ---- the question ------------------------------------------------------ */

const char *sb_consent_reason_name(sb_consent_reason_t r) {
  switch (r) {
  case SB_CONSENT_ALLOWED: return "allowed";
  case SB_CONSENT_NO_CONSENT: return "no_consent";
  case SB_CONSENT_WITHDRAWN: return "withdrawn";
  case SB_CONSENT_EXPIRED: return "expired";
  case SB_CONSENT_DNC: return "dnc";
  case SB_CONSENT_OPTED_OUT: return "opted_out";
  }
  return "unknown";
}

static int lookup(sb_batch_t *b, const sb_global_def_t *def,
                  const char *tenant, const char *purpose, const char *channel,
                  const char *subject, consent_rec_t *r) {
  char key[512];
  const void *val;
  size_t len;
  return consent__key(key, sizeof key, tenant, purpose, channel, subject) ==
                 0 &&
             sb_global_get(b, def, key, &val, &len) == 0 &&
             consent__parse(val, len, r) == 0
         ? 1
         : 0;
}

static int matches(const char *have, const char *want) {
  return strcmp(have, CONSENT_ALL) == 0 || strcmp(have, want) == 0;
}

int sb_consent_allows_in(sb_batch_t *b, const sb_global_def_t *def,
                         const char *tenant, const char *subject,
                         const char *address_hmac, const char *purpose,
                         const char *channel, int64_t at_us,
                         sb_consent_reason_t *reason) {
  sb_consent_reason_t dummy;
  if (reason == NULL)
    reason = &dummy;
  *reason = SB_CONSENT_NO_CONSENT;
  if (def == NULL || tenant == NULL || subject == NULL || purpose == NULL ||
      channel == NULL || !*tenant || !*subject || !*purpose || !*channel)
    return 0;
  /* the consent: of the channel's own and the every-channel one, the later */
  consent_rec_t own, all, *c = NULL;
  int has_own = lookup(b, def, tenant, purpose, channel, subject, &own);
  int has_all = lookup(b, def, tenant, purpose, CONSENT_ALL, subject, &all);
  if (has_own && has_all)
    c = consent__newer(&own, all.at, all.event_id) ? &all : &own;
  else if (has_own)
    c = &own;
  else if (has_all)
    c = &all;
  /* suppressions of the address and of the subject */
  int dnc = 0, opted = 0;
  const char *keys[2][2] = {{"h", address_hmac}, {"s", subject}};
  for (int k = 0; k < 2; k++) {
    char key[512];
    const void *val;
    size_t len;
    if (keys[k][1] == NULL || keys[k][1][0] == '\0')
      continue;
    int w = snprintf(key, sizeof key, "S|%s|%s|%s", tenant, keys[k][0],
                     keys[k][1]);
    if (w < 0 || (size_t)w >= sizeof key ||
        sb_global_get(b, def, key, &val, &len) != 0)
      continue;
    const char *p = val, *end = p + len;
    while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
      supp_t s;
      p += l + 1;
      if (supp_parse(p - l - 1, l, &s) != 0 || !matches(s.channel, channel) ||
          !matches(s.purpose, purpose) ||
          (s.expires != 0 && at_us >= s.expires))
        continue;
      if (strcmp(s.kind, "dnc") == 0)
        dnc = 1;
      else if (c == NULL || c->status != 'g' || c->at <= s.received)
        opted = 1; /* no consent given since the opt-out */
    }
  }
  if (dnc)
    *reason = SB_CONSENT_DNC;
  else if (opted)
    *reason = SB_CONSENT_OPTED_OUT;
  else if (c == NULL)
    *reason = SB_CONSENT_NO_CONSENT;
  else if (c->status == 'w')
    *reason = SB_CONSENT_WITHDRAWN;
  else if (c->expires != 0 && at_us >= c->expires)
    *reason = SB_CONSENT_EXPIRED;
  else
    *reason = SB_CONSENT_ALLOWED;
  return *reason == SB_CONSENT_ALLOWED;
}

int sb_consent_allows(sb_batch_t *b, const char *tenant, const char *subject,
                      const char *address_hmac, const char *purpose,
                      const char *channel, int64_t at_us,
                      sb_consent_reason_t *reason) {
  return sb_consent_allows_in(b, &sb_consent_globals[0], tenant, subject,
                              address_hmac, purpose, channel, at_us, reason);
}
