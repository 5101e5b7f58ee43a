/* Recipients named by a lead ("lead:<lead id>", as the automation
 * processor addresses a message): the global table "leads", read from
 * sb.leads by every instance (a message's events are keyed by the message,
 * a lead's by the lead: they are on different partitions).
 *
 *   L|tenant|lead_id  seven '\n'-ended lines: the phone's origin
 *                     ("lead.created" or "lead.updated": the event type its
 *                     envelope's AAD names), the sealed phone, its HMAC,
 *                     its zone; the e-mail's origin, the sealed e-mail, its
 *                     HMAC ("" for none)
 *
 * lead.created sets both; lead.updated replaces what its changed_fields
 * list (phone, email: a listed null clears). Only sealed values are kept
 * (as ingest sealed them): comms never opens them, the dispatcher does,
 * with the origin written beside them in the outbox (to_origin). An erased
 * lead's envelopes no longer open: the dispatcher blocks the message
 * (invalid_address).
 *
 * The table is folded between batches, so automation's request can be
 * handled before the lead.created that triggered it reaches the table
 * (they are on different partitions). A live request (not a rebuild's:
 * a rebuild reads the table to its end first) for a lead the table does
 * not know is parked: its
 * record kept in keyed state ("w|tenant|message_id": the wall-clock time
 * it was first parked, then the record's bytes) and looked at again by a
 * wall-clock timer every PARK_STEP_US until the lead is known or
 * comms.lead_wait_ms has passed since it was first parked (then blocked
 * invalid_address). */
#include "comms_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L_PORIGIN, L_PHONE, L_PHMAC, L_PTZ, L_EORIGIN, L_EMAIL, L_EHMAC, L_N };

#define LEAD_LINE_MAX 1200 /* a sealed 320-character e-mail fits */

static int lead_key(char *key, size_t n, const char *tenant, const char *lead) {
  int k = snprintf(key, n, "L|%s|%s", tenant, lead);
  return k >= 0 && (size_t)k < n ? 0 : -1;
}

/* splits a stored value into its lines (copied into l[]) */
static void lead_split(const void *v, size_t len, char l[L_N][LEAD_LINE_MAX]) {
  const char *p = v, *end = p + len;
  for (int i = 0; i < L_N; i++) {
    l[i][0] = '\0';
    const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (nl == NULL)
      continue;
    size_t n = (size_t)(nl - p);
    if (n < LEAD_LINE_MAX) {
      memcpy(l[i], p, n);
      l[i][n] = '\0';
    }
    p = nl + 1;
  }
}

static void set_line(char *dst, const char *v) {
  size_t n = v ? strlen(v) : 0;
  if (n >= LEAD_LINE_MAX || (v && strchr(v, '\n')))
    n = 0; /* longer than any sealed value of the schemas: not kept */
  memcpy(dst, v ? v : "", n);
  dst[n] = '\0';
}

static int listed(const comms_t *x, const sb_event_t *ev, const char *name) {
  sb_field_t f = x->f[LF_U_CHANGED];
  for (size_t i = 0, n = sb_event_count(ev, f); i < n; i++)
    if (strcmp(sb_event_str_at(ev, f, i), name) == 0)
      return 1;
  return 0;
}

int comms__reduce_lead(void *state, sb_global_t *g, const sb_event_t *ev,
                       sb_err_t *err) {
  comms_t *x = state;
  int created = sb_event_type_is(ev, x->t[CT_LEAD_CREATED]);
  if (!created && !sb_event_type_is(ev, x->t[CT_LEAD_UPDATED]))
    return 0;
  const int *f = created ? (const int[]){LF_C_LEAD, LF_C_PHONE, LF_C_PHMAC,
                                         LF_C_PTZ, LF_C_EMAIL, LF_C_EHMAC}
                         : (const int[]){LF_U_LEAD, LF_U_PHONE, LF_U_PHMAC,
                                         LF_U_PTZ, LF_U_EMAIL, LF_U_EHMAC};
  const char *lead = sb_event_str(ev, x->f[f[0]]);
  char key[400];
  if (lead == NULL || lead_key(key, sizeof key, ev->tenant_id, lead) != 0)
    return 0; /* not a lead this table can name */
  char l[L_N][LEAD_LINE_MAX];
  const void *v = NULL;
  size_t len = 0;
  if (created || sb_global_find(g, key, &v, &len) != 0)
    len = 0;
  lead_split(v, len, l);
  const char *type = created ? "lead.created" : "lead.updated";
  int phone = created || listed(x, ev, "phone"),
      email = created || listed(x, ev, "email");
  if (!phone && !email)
    return 0;
  if (phone) {
    const char *p = sb_event_str(ev, x->f[f[1]]);
    set_line(l[L_PORIGIN], p ? type : NULL);
    set_line(l[L_PHONE], p);
    set_line(l[L_PHMAC], p ? sb_event_str(ev, x->f[f[2]]) : NULL);
    set_line(l[L_PTZ], p ? sb_event_str(ev, x->f[f[3]]) : NULL);
  }
  if (email) {
    const char *e = sb_event_str(ev, x->f[f[4]]);
    set_line(l[L_EORIGIN], e ? type : NULL);
    set_line(l[L_EMAIL], e);
    set_line(l[L_EHMAC], e ? sb_event_str(ev, x->f[f[5]]) : NULL);
  }
  if (!l[L_PHONE][0] && !l[L_EMAIL][0])
    return sb_global_del(g, key, err);
  size_t n = 0;
  for (int i = 0; i < L_N; i++)
    n += strlen(l[i]) + 1;
  char *nv = malloc(n), *o = nv;
  if (nv == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (int i = 0; i < L_N; i++) {
    size_t k = strlen(l[i]);
    memcpy(o, l[i], k);
    o[k] = '\n';
    o += k + 1;
  }
  int rc = sb_global_put(g, key, nv, n, err);
  free(nv);
  return rc;
}

int comms__lead_address(sb_batch_t *b, const char *tenant, const char *lead,
                        const char *channel, comms_to_t *out, char *why,
                        size_t whysz) {
  memset(out, 0, sizeof *out);
  char key[400];
  const void *v = NULL;
  size_t len = 0;
  int phone = channel && (strcmp(channel, "sms") == 0 ||
                          strcmp(channel, "whatsapp") == 0);
  int email = channel && strcmp(channel, "email") == 0;
  char id[101];
  comms__copy(id, sizeof id, lead);
  if (!phone && !email) {
    snprintf(why, whysz, "a lead has no %s address (lead %s)",
             channel ? channel : "?", id);
    return SB_EVALIDATE;
  }
  if (lead_key(key, sizeof key, tenant, lead) != 0 ||
      sb_global_get(b, COMMS_G_LEADS, key, &v, &len) != 0) {
    snprintf(why, whysz, "lead %s is unknown (or has neither phone nor "
             "e-mail address)", id);
    return SB_ENOENT;
  }
  char l[L_N][LEAD_LINE_MAX];
  lead_split(v, len, l);
  int o = phone ? L_PORIGIN : L_EORIGIN;
  if (!l[o + 1][0]) {
    snprintf(why, whysz, "lead %s has no %s", id,
             phone ? "phone number" : "e-mail address");
    return SB_EVALIDATE;
  }
  const char *origin = strcmp(l[o], "lead.updated") == 0 ? "lead.updated"
                                                          : "lead.created";
  snprintf(out->origin, sizeof out->origin, "%s:%s", origin,
           phone ? "phone" : "email");
  comms__copy(out->sealed, sizeof out->sealed, l[o + 1]);
  comms__copy(out->hmac, sizeof out->hmac, l[o + 2]);
  if (phone)
    comms__copy(out->tz, sizeof out->tz, l[L_PTZ]);
  return 0;
}

#define PARK_STEP_US 500000 /* half a second between looks */

int comms__park(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                int64_t since, int *parked, sb_err_t *err) {
  *parked = 0;
  int64_t now = sb_wall_us();
  if (x->lead_wait_us <= 0 || ev->value == NULL ||
      (since != 0 && now - since >= x->lead_wait_us))
    return 0;
  char key[400];
  int k = snprintf(key, sizeof key, "w|%s|%s", ev->tenant_id, ev->subject);
  if (k < 0 || (size_t)k >= sizeof key)
    return 0;
  if (since == 0)
    since = now;
  size_t n = sizeof since + ev->value_len;
  unsigned char *v = malloc(n);
  if (v == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  memcpy(v, &since, sizeof since);
  memcpy(v + sizeof since, ev->value, ev->value_len);
  int rc = sb_state_put(b, key, v, n, err);
  free(v);
  if (rc == 0)
    rc = sb_timer_set(b, key, now + PARK_STEP_US, SB_TIMER_WALL, err);
  *parked = rc == 0;
  return rc;
}

int comms__parked_timer(comms_t *x, sb_batch_t *b, const sb_timer_t *t,
                        sb_err_t *err) {
  const void *v = NULL;
  size_t len = 0;
  int64_t since;
  if (strncmp(t->key, "w|", 2) != 0 ||
      sb_state_get(b, t->key, &v, &len) != 0 || len <= sizeof since)
    return 0;
  memcpy(&since, v, sizeof since);
  size_t n = len - sizeof since;
  unsigned char *rec = malloc(n);
  if (rec == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  memcpy(rec, (const unsigned char *)v + sizeof since, n);
  sb_event_t ev;
  int rc = sb_state_del(b, t->key, err);
  if (rc == 0)
    rc = sb_codec_decode(x->codec, rec, n, &ev, err);
  if (rc == 0)
    rc = comms__request_decide(x, b, &ev, since, err);
  free(rec);
  return rc;
}
