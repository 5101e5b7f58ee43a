/* analytics: messages (sb.messages) -> messages_hour.
 *
 * Per message, in keyed state ("m/<tenant>/<message id>"), the first time
 * it reached each status: requested (message.requested), blocked
 * (message.blocked), submitted (message.submitted, or a status update
 * "submitted"), sent, delivered, failed (a status update failed, rejected
 * or undelivered) and read; its channel (message.requested's, else the
 * others'), provider (message.submitted's, else a status update's) and
 * campaign. Its rows, one per status in the hour it was first reached, by
 * channel, provider and campaign, are a function of those facts, so a
 * status repeated by the provider, a duplicated event or a late one counts
 * once and where it belongs. The facts are dropped
 * analytics.message_retain_s (event time) after the message's first
 * event (or after the partition's latest event when it came, if later); a
 * status arriving after that counts again, without the channel it no
 * longer knows. */
#include "analytics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_VER 1u

enum { S_REQUESTED, S_BLOCKED, S_SUBMITTED, S_SENT, S_DELIVERED, S_FAILED,
       S_READ, NS };

typedef struct {
  uint32_t ver;
  int32_t p_channel, p_provider, p_campaign;
  int64_t first_us, at[NS];
  char channel[16], provider[AN_ID_MAX], campaign[AN_ID_MAX];
} msg_t;

typedef struct an_messages_s {
  sb_etype_ref_t requested, blocked, submitted, status;
  sb_field_t rq_id, rq_channel, rq_campaign;
  sb_field_t bl_id, bl_channel, bl_campaign;
  sb_field_t su_id, su_channel, su_provider;
  sb_field_t st_id, st_status, st_channel, st_provider;
} an_messages_t;

const sb_table_def_t an_messages_hour = {
    .name = "messages_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"channel", SB_COL_TEXT, 0},
            {"provider", SB_COL_TEXT, 0},
            {"campaign_id", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"requested", SB_COL_INT8, SB_MERGE_SUM},
            {"blocked", SB_COL_INT8, SB_MERGE_SUM},
            {"submitted", SB_COL_INT8, SB_MERGE_SUM},
            {"sent", SB_COL_INT8, SB_MERGE_SUM},
            {"delivered", SB_COL_INT8, SB_MERGE_SUM},
            {"failed", SB_COL_INT8, SB_MERGE_SUM},
            {"read", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "channel",
                                 "provider", "campaign_id", NULL},
    .retention_class = "message",
    .retention_col = "hour_start",
};

int an_messages_new(an_t *a, an_messages_t **out, sb_err_t *err) {
  an_messages_t *m = calloc(1, sizeof *m);
  if (m == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const sb_schemas_t *s = a->schemas;
  static const char *const rq = "message.requested",
                           *const bl = "message.blocked",
                           *const su = "message.submitted",
                           *const st = "message.status_updated";
  const an_field_t fields[] = {
      {rq, "message_id", &m->rq_id},      {rq, "channel", &m->rq_channel},
      {rq, "campaign_id", &m->rq_campaign}, {bl, "message_id", &m->bl_id},
      {bl, "channel", &m->bl_channel},    {bl, "campaign_id", &m->bl_campaign},
      {su, "message_id", &m->su_id},      {su, "channel", &m->su_channel},
      {su, "provider", &m->su_provider},  {st, "message_id", &m->st_id},
      {st, "status", &m->st_status},      {st, "channel", &m->st_channel},
      {st, "provider", &m->st_provider},
  };
  int rc = sb_codec_type(s, rq, &m->requested, err);
  if (rc == 0)
    rc = sb_codec_type(s, bl, &m->blocked, err);
  if (rc == 0)
    rc = sb_codec_type(s, su, &m->submitted, err);
  if (rc == 0)
    rc = sb_codec_type(s, st, &m->status, err);
  if (rc == 0)
    rc = an_resolve(s, fields, sizeof fields / sizeof fields[0], err);
  if (rc != 0) {
    free(m);
    return rc;
  }
  *out = m;
  return 0;
}

void an_messages_free(an_messages_t *m) { free(m); }

static int contrib(sb_batch_t *b, const char *tenant, const msg_t *m,
                   int64_t sign, sb_err_t *err) {
  for (int s = 0; s < NS; s++) {
    if (m->at[s] == 0)
      continue;
    sb_val_t v[6 + NS] = {
        SB_V_TEXT(tenant),
        SB_V_TIMESTAMPTZ(sb_tenant_hour_start(b, tenant, m->at[s])),
        SB_V_TEXT(m->channel),
        SB_V_TEXT(m->provider),
        SB_V_TEXT(m->campaign),
        SB_V_DATE(sb_tenant_day(b, tenant, m->at[s])),
    };
    for (int i = 0; i < NS; i++)
      v[6 + i] = (sb_val_t)SB_V_INT8(i == s ? sign : 0);
    if (sb_rows_add(b, &an_messages_hour, v, err) != 0)
      return err->code;
  }
  return 0;
}

static int status_of(const char *st) {
  static const struct {
    const char *name;
    int s;
  } map[] = {{"submitted", S_SUBMITTED}, {"sent", S_SENT},
             {"delivered", S_DELIVERED}, {"read", S_READ},
             {"failed", S_FAILED},       {"rejected", S_FAILED},
             {"undelivered", S_FAILED}};
  for (size_t i = 0; st && i < sizeof map / sizeof map[0]; i++)
    if (strcmp(st, map[i].name) == 0)
      return map[i].s;
  return -1; /* queued: not a figure */
}

int an_messages_event(an_t *a, sb_batch_t *b, const sb_event_t *ev,
                      int *mine, sb_err_t *err) {
  an_messages_t *k = a->messages;
  const char *id = NULL, *channel = NULL, *provider = NULL, *campaign = NULL;
  int s = -1, pch = 0;
  if (sb_event_type_is(ev, k->requested)) {
    id = sb_event_str(ev, k->rq_id);
    channel = sb_event_enum_name(ev, k->rq_channel);
    pch = 3;
    campaign = sb_event_str(ev, k->rq_campaign);
    s = S_REQUESTED;
  } else if (sb_event_type_is(ev, k->blocked)) {
    id = sb_event_str(ev, k->bl_id);
    channel = sb_event_enum_name(ev, k->bl_channel);
    pch = 2;
    campaign = sb_event_str(ev, k->bl_campaign);
    s = S_BLOCKED;
  } else if (sb_event_type_is(ev, k->submitted)) {
    id = sb_event_str(ev, k->su_id);
    channel = sb_event_enum_name(ev, k->su_channel);
    pch = 2;
    provider = sb_event_str(ev, k->su_provider);
    s = S_SUBMITTED;
  } else if (sb_event_type_is(ev, k->status)) {
    id = sb_event_str(ev, k->st_id);
    channel = sb_event_enum_name(ev, k->st_channel);
    pch = 1;
    provider = sb_event_str(ev, k->st_provider);
    s = status_of(sb_event_enum_name(ev, k->st_status));
  }
  *mine = id != NULL;
  if (id == NULL)
    return 0;
  char key[2 * AN_ID_MAX + 8];
  snprintf(key, sizeof key, "m/%s/%s", ev->tenant_id, id);
  msg_t old, now;
  const void *v;
  size_t len;
  int had = sb_state_get(b, key, &v, &len) == 0 && len == sizeof old;
  if (had)
    memcpy(&old, v, sizeof old);
  if (!had || old.ver != MSG_VER) {
    memset(&old, 0, sizeof old);
    old.ver = MSG_VER;
    had = 0;
  }
  now = old;
  int64_t t = ev->occurred_at;
  now.first_us = an_min_t(now.first_us, t);
  if (s >= 0)
    now.at[s] = an_min_t(now.at[s], t);
  an_pick(now.channel, sizeof now.channel, &now.p_channel, channel, pch);
  an_pick(now.provider, AN_ID_MAX, &now.p_provider, provider,
          s == S_SUBMITTED ? 2 : 1);
  an_pick(now.campaign, AN_ID_MAX, &now.p_campaign, campaign, 2);
  if (had && memcmp(&old, &now, sizeof now) == 0)
    return 0;
  if ((had && contrib(b, ev->tenant_id, &old, -1, err) != 0) ||
      contrib(b, ev->tenant_id, &now, 1, err) != 0 ||
      sb_state_put(b, key, &now, sizeof now, err) != 0)
    return err->code;
  if (!had)
    return sb_timer_set(b, key,
                        an_due(a, ev->topic, ev->partition, now.first_us,
                               a->message_retain_s),
                        SB_TIMER_EVENT, err);
  return 0;
}

int an_messages_timer(an_t *a, sb_batch_t *b, const sb_timer_t *t,
                      sb_err_t *err) {
  (void)a;
  return sb_state_del(b, t->key, err);
}
