/* The providers' callback bodies -> items (sb_webhook.h). Pure functions:
 * no I/O, every size bounded, every refusal names what is wrong. */
#include "sb_webhook.h"

#include "sb_codec.h"
#include "sb_kmap.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- form ---------------------------------------------------------------- */

static int hexval(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Decodes s..e into *w (advanced past the NUL written). */
static int form_decode(const char *s, const char *e, char **w, size_t index,
                       sb_err_t *err) {
  char *o = *w, *start = o;
  for (const char *p = s; p < e; p++) {
    if (*p == '+') {
      *o++ = ' ';
    } else if (*p == '%') {
      int a = p + 1 < e ? hexval((unsigned char)p[1]) : -1;
      int b = p + 2 < e ? hexval((unsigned char)p[2]) : -1;
      if (a < 0 || b < 0)
        return sb_err_set(err, SB_EVALIDATE,
                          "form parameter %zu: '%%' not followed by two hex "
                          "digits",
                          index + 1);
      if (a == 0 && b == 0)
        return sb_err_set(err, SB_EVALIDATE,
                          "form parameter %zu: holds a NUL byte (%%00)",
                          index + 1);
      *o++ = (char)(a << 4 | b);
      p += 2;
    } else if (*p == '\0') {
      return sb_err_set(err, SB_EVALIDATE,
                        "form parameter %zu: holds a NUL byte", index + 1);
    } else {
      *o++ = *p;
    }
  }
  *o++ = '\0';
  if (!sb_utf8_valid(start, (size_t)(o - 1 - start)))
    return sb_err_set(err, SB_EVALIDATE,
                      "form parameter %zu: not UTF-8", index + 1);
  *w = o;
  return 0;
}

int sb_whk_form_parse(const char *body, size_t len, sb_whk_form_t *out,
                      sb_err_t *err) {
  memset(out, 0, sizeof *out);
  if (len > SB_WHK_FORM_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "form body of %zu bytes: at most %d are accepted", len,
                      SB_WHK_FORM_MAX);
  out->buf = malloc(len + SB_WHK_FORM_PARAMS * 2 + 2);
  if (out->buf == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  char *w = out->buf;
  const char *p = body, *end = body + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    if (pe > p) {
      if (out->n == SB_WHK_FORM_PARAMS)
        return sb_err_set(err, SB_EVALIDATE,
                          "form: more than %d parameters",
                          SB_WHK_FORM_PARAMS);
      const char *eq = memchr(p, '=', (size_t)(pe - p));
      const char *ne = eq ? eq : pe;
      sb_whk_param_t *prm = &out->p[out->n];
      prm->name = w;
      if (form_decode(p, ne, &w, out->n, err) != 0)
        return err->code;
      prm->value = w;
      if (form_decode(eq ? eq + 1 : pe, pe, &w, out->n, err) != 0)
        return err->code;
      if (prm->name[0] == '\0')
        return sb_err_set(err, SB_EVALIDATE,
                          "form parameter %zu: no name", out->n + 1);
      for (size_t k = 0; k < out->n; k++)
        if (strcmp(out->p[k].name, prm->name) == 0)
          return sb_err_set(err, SB_EVALIDATE,
                            "form parameter '%.64s': given twice", prm->name);
      out->n++;
    }
    p = pe + 1;
  }
  return 0;
}

const char *sb_whk_form_get(const sb_whk_form_t *f, const char *name) {
  for (size_t k = 0; k < f->n; k++)
    if (strcmp(f->p[k].name, name) == 0)
      return f->p[k].value;
  return NULL;
}

void sb_whk_form_free(sb_whk_form_t *f) {
  if (f == NULL)
    return;
  free(f->buf);
  memset(f, 0, sizeof *f);
}

/* ---- batches ------------------------------------------------------------- */

void sb_whk_batch_free(sb_whk_batch_t *b) {
  if (b == NULL)
    return;
  free(b->items);
  free(b->arena);
  memset(b, 0, sizeof *b);
}

/* items for at most nitems, strings for at most bytes (never reallocated:
 * the items point into it) */
static int batch_init(sb_whk_batch_t *b, size_t nitems, size_t bytes,
                      sb_err_t *err) {
  memset(b, 0, sizeof *b);
  b->items = calloc(nitems ? nitems : 1, sizeof *b->items);
  b->arena = malloc(bytes + 1);
  b->cap = bytes + 1;
  if (b->items == NULL || b->arena == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  return 0;
}

/* A copy of s (n bytes) in the arena; NULL when s is NULL or no room. */
static const char *keep(sb_whk_batch_t *b, const char *s, size_t n) {
  if (s == NULL || b->cap - b->used < n + 1)
    return NULL;
  char *d = b->arena + b->used;
  memcpy(d, s, n);
  d[n] = '\0';
  b->used += n + 1;
  return d;
}

static const char *keeps(sb_whk_batch_t *b, const char *s) {
  return s ? keep(b, s, strlen(s)) : NULL;
}

/* "a:b" in the arena */
static const char *keep2(sb_whk_batch_t *b, const char *x, const char *y) {
  char tmp[512];
  int n = snprintf(tmp, sizeof tmp, "%s:%s", x, y);
  if (n < 0 || (size_t)n >= sizeof tmp)
    return NULL;
  return keep(b, tmp, (size_t)n);
}

/* ---- statuses and keywords ---------------------------------------------- */

typedef struct {
  const char *raw, *status;
} map_t;

static const char *lookup(const map_t *m, size_t n, const char *raw) {
  for (size_t i = 0; raw && i < n; i++)
    if (strcmp(m[i].raw, raw) == 0)
      return m[i].status;
  return NULL;
}

const char *sb_whk_twilio_status(const char *raw) {
  static const map_t m[] = {
      {"accepted", "queued"},  {"scheduled", "queued"},
      {"queued", "queued"},    {"sending", "submitted"},
      {"sent", "sent"},        {"delivered", "delivered"},
      {"read", "read"},        {"undelivered", "undelivered"},
      {"failed", "failed"},    {"canceled", "failed"},
  };
  return lookup(m, SB_ARRAY_LEN(m), raw);
}

const char *sb_whk_whatsapp_status(const char *raw) {
  static const map_t m[] = {
      {"sent", "sent"},
      {"delivered", "delivered"},
      {"read", "read"},
      {"failed", "failed"},
  };
  return lookup(m, SB_ARRAY_LEN(m), raw);
}

const char *sb_whk_sendgrid_status(const char *raw) {
  static const map_t m[] = {
      {"processed", "submitted"}, {"deferred", "queued"},
      {"delivered", "delivered"}, {"open", "read"},
      {"bounce", "undelivered"},  {"dropped", "rejected"},
  };
  return lookup(m, SB_ARRAY_LEN(m), raw);
}

const char *sb_whk_stop_keyword(const char *body) {
  static const char *const words[] = {"STOP", "STOPALL", "UNSUBSCRIBE",
                                      "CANCEL", "END", "QUIT"};
  if (body == NULL)
    return NULL;
  const char *s = body, *e = body + strlen(body);
  while (s < e && isspace((unsigned char)*s))
    s++;
  while (e > s && isspace((unsigned char)e[-1]))
    e--;
  for (size_t i = 0; i < SB_ARRAY_LEN(words); i++)
    if (strlen(words[i]) == (size_t)(e - s) &&
        strncasecmp(words[i], s, (size_t)(e - s)) == 0)
      return words[i];
  return NULL;
}

/* ---- Twilio ------------------------------------------------------------- */

static const char *twilio_channel(const char **addr) {
  if (*addr && strncmp(*addr, "whatsapp:", 9) == 0) {
    *addr += 9;
    return "whatsapp";
  }
  return "sms";
}

/* A provider id: 1-128 visible ASCII characters. */
static int id_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 128)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return 1;
}

static int need_id(const char *v, const char *name, sb_err_t *err) {
  if (v == NULL)
    return sb_err_set(err, SB_EVALIDATE, "%s: missing", name);
  if (!id_ok(v))
    return sb_err_set(err, SB_EVALIDATE,
                      "%s: expected 1 to 128 visible ASCII characters", name);
  return 0;
}

int sb_whk_twilio_parse_status(const sb_whk_form_t *f, const char *message_id,
                               sb_whk_batch_t *out, sb_err_t *err) {
  const char *sid = sb_whk_form_get(f, "MessageSid");
  if (sid == NULL)
    sid = sb_whk_form_get(f, "SmsSid");
  const char *raw = sb_whk_form_get(f, "MessageStatus");
  if (raw == NULL)
    raw = sb_whk_form_get(f, "SmsStatus");
  size_t bytes = 0;
  for (size_t k = 0; k < f->n; k++)
    bytes += strlen(f->p[k].value) + 1;
  if (batch_init(out, 1, bytes * 2 + 1024, err) != 0)
    return err->code;
  if (need_id(sid, "MessageSid", err) != 0)
    return err->code;
  if (raw == NULL)
    return sb_err_set(err, SB_EVALIDATE, "MessageStatus: missing");
  const char *st = sb_whk_twilio_status(raw);
  if (st == NULL)
    return sb_err_set(err, SB_EVALIDATE,
                      "MessageStatus: '%.32s' is not a Twilio message status "
                      "(accepted, scheduled, queued, sending, sent, "
                      "delivered, read, undelivered, failed, canceled)",
                      raw);
  if (message_id != NULL && !id_ok(message_id))
    return sb_err_set(err, SB_EVALIDATE,
                      "m: the message id of the callback URL must be 1 to "
                      "128 visible ASCII characters");
  const char *to = sb_whk_form_get(f, "To");
  const char *code = sb_whk_form_get(f, "ErrorCode");
  sb_whk_item_t *it = &out->items[0];
  it->kind = SB_WHK_STATUS;
  it->channel = twilio_channel(&to);
  it->event_key = keep2(out, sid, raw);
  it->message_id = keeps(out, message_id);
  it->provider_message_id = keeps(out, sid);
  it->status = st;
  it->raw_status = keeps(out, raw);
  it->error_code = code && *code ? keeps(out, code) : NULL;
  const char *msg = sb_whk_form_get(f, "ErrorMessage");
  it->error_message = msg && *msg ? keeps(out, msg) : NULL;
  out->n = 1;
  return 0;
}

int sb_whk_twilio_parse_inbound(const sb_whk_form_t *f, sb_whk_batch_t *out,
                                sb_err_t *err) {
  const char *sid = sb_whk_form_get(f, "MessageSid");
  if (sid == NULL)
    sid = sb_whk_form_get(f, "SmsSid");
  size_t bytes = 0;
  for (size_t k = 0; k < f->n; k++)
    bytes += strlen(f->p[k].value) + 1;
  if (batch_init(out, 1, bytes * 2 + 1024, err) != 0)
    return err->code;
  if (need_id(sid, "MessageSid", err) != 0)
    return err->code;
  const char *from = sb_whk_form_get(f, "From");
  const char *to = sb_whk_form_get(f, "To");
  const char *body = sb_whk_form_get(f, "Body");
  if (from == NULL || *from == '\0')
    return sb_err_set(err, SB_EVALIDATE, "From: missing");
  const char *nm = sb_whk_form_get(f, "NumMedia");
  int nmedia = 0;
  if (nm != NULL && *nm) {
    char *e;
    long v = strtol(nm, &e, 10);
    if (*e != '\0' || v < 0 || v > SB_WHK_MEDIA_MAX)
      return sb_err_set(err, SB_EVALIDATE,
                        "NumMedia: expected 0 to %d", SB_WHK_MEDIA_MAX);
    nmedia = (int)v;
  }
  sb_whk_item_t *it = &out->items[0];
  it->kind = SB_WHK_INBOUND;
  it->channel = twilio_channel(&from);
  if (to && strncmp(to, "whatsapp:", 9) == 0)
    to += 9;
  it->event_key = keeps(out, sid);
  it->provider_message_id = keeps(out, sid);
  it->from = keeps(out, from);
  it->to = to && *to ? keeps(out, to) : NULL;
  it->body = keeps(out, body);
  for (int i = 0; i < nmedia; i++) {
    char name[24];
    snprintf(name, sizeof name, "MediaUrl%d", i);
    const char *u = sb_whk_form_get(f, name);
    if (u == NULL)
      return sb_err_set(err, SB_EVALIDATE, "%s: missing (NumMedia is %d)",
                        name, nmedia);
    it->media[it->nmedia++] = keeps(out, u);
  }
  it->keyword = sb_whk_stop_keyword(body);
  if (it->keyword)
    it->method = "keyword", it->address = it->from;
  out->n = 1;
  return 0;
}

/* ---- JSON helpers --------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A Unix time in seconds as a string ("1683229471") or a number. */
static long long jtime_us(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  double d = -1;
  if (cJSON_IsNumber(v))
    d = v->valuedouble;
  else if (cJSON_IsString(v)) {
    char *e;
    long long s = strtoll(v->valuestring, &e, 10);
    if (*e == '\0' && e != v->valuestring)
      d = (double)s;
  }
  if (!(d > 0 && d < 32503680000.0)) /* up to year 3000 */
    return 0;
  return (long long)d * 1000000;
}

static int json_body(const char *body, size_t len, cJSON **doc,
                     sb_err_t *err) {
  if (len > SB_WHK_JSON_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "body of %zu bytes: at most %d are accepted", len,
                      SB_WHK_JSON_MAX);
  return sb_json_parse(body, len, doc, err);
}

/* A number or a string as text into buf. */
static const char *jcode(const cJSON *v, char *buf, size_t sz) {
  if (cJSON_IsString(v))
    return v->valuestring;
  if (cJSON_IsNumber(v) && v->valuedouble >= -1e15 && v->valuedouble <= 1e15) {
    snprintf(buf, sz, "%lld", (long long)v->valuedouble);
    return buf;
  }
  return NULL;
}

/* ---- WhatsApp ------------------------------------------------------------ */

static int wa_status(sb_whk_batch_t *b, const cJSON *s, size_t index,
                     sb_err_t *err) {
  const char *id = jstr(s, "id"), *raw = jstr(s, "status");
  if (need_id(id, "statuses[].id", err) != 0 || raw == NULL)
    return raw ? err->code
               : sb_err_set(err, SB_EVALIDATE, "status %zu: status missing",
                            index + 1);
  const char *st = sb_whk_whatsapp_status(raw);
  if (st == NULL) { /* one Meta adds later: the batch's others still count */
    b->ignored++;
    return 0;
  }
  /* not one of our message ids (we send 1 to 128 visible ASCII): the
   * provider's id stands in */
  const char *ours = jstr(s, "biz_opaque_callback_data");
  if (ours != NULL && !id_ok(ours))
    ours = NULL;
  sb_whk_item_t *it = &b->items[b->n];
  it->kind = SB_WHK_STATUS;
  it->channel = "whatsapp";
  it->event_key = keep2(b, id, raw);
  it->message_id = keeps(b, ours);
  it->provider_message_id = keeps(b, id);
  it->status = st;
  it->raw_status = keeps(b, raw);
  it->reported_at_us = jtime_us(s, "timestamp");
  const cJSON *errs = cJSON_GetObjectItemCaseSensitive(s, "errors");
  const cJSON *e0 = cJSON_IsArray(errs) ? errs->child : NULL;
  if (cJSON_IsObject(e0)) {
    char buf[32];
    it->error_code =
        keeps(b, jcode(cJSON_GetObjectItemCaseSensitive(e0, "code"), buf,
                       sizeof buf));
    const char *m = jstr(e0, "message");
    it->error_message = keeps(b, m ? m : jstr(e0, "title"));
  }
  if (it->event_key == NULL)
    return sb_err_set(err, SB_EVALIDATE, "status %zu: too long", index + 1);
  b->n++;
  return 0;
}

static int wa_message(sb_whk_batch_t *b, const cJSON *m, const char *to,
                      size_t index, sb_err_t *err) {
  const char *id = jstr(m, "id"), *from = jstr(m, "from");
  if (need_id(id, "messages[].id", err) != 0)
    return err->code;
  if (from == NULL || *from == '\0' || strlen(from) > 32)
    return sb_err_set(err, SB_EVALIDATE,
                      "message %zu: from missing or longer than 32", index + 1);
  const char *body = NULL;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "text");
  const cJSON *btn = cJSON_GetObjectItemCaseSensitive(m, "button");
  const cJSON *ia = cJSON_GetObjectItemCaseSensitive(m, "interactive");
  if (cJSON_IsObject(t))
    body = jstr(t, "body");
  else if (cJSON_IsObject(btn))
    body = jstr(btn, "text");
  else if (cJSON_IsObject(ia)) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(ia, "button_reply");
    if (!cJSON_IsObject(r))
      r = cJSON_GetObjectItemCaseSensitive(ia, "list_reply");
    body = cJSON_IsObject(r) ? jstr(r, "title") : NULL;
  }
  /* WhatsApp gives the number without its '+': E.164 with it */
  char e164[40];
  snprintf(e164, sizeof e164, "%s%s", from[0] == '+' ? "" : "+", from);
  sb_whk_item_t *it = &b->items[b->n];
  it->kind = SB_WHK_INBOUND;
  it->channel = "whatsapp";
  it->event_key = keeps(b, id);
  it->provider_message_id = it->event_key;
  it->from = keeps(b, e164);
  it->to = to;
  it->body = keeps(b, body);
  it->reported_at_us = jtime_us(m, "timestamp");
  it->keyword = sb_whk_stop_keyword(body);
  if (it->keyword)
    it->method = "keyword", it->address = it->from;
  if (it->event_key == NULL || it->from == NULL)
    return sb_err_set(err, SB_EVALIDATE, "message %zu: too long", index + 1);
  b->n++;
  return 0;
}

/* The opening both JSON parsers share: out emptied, body parsed into
 * *doc (the caller's, cJSON_Delete), out's room made for its items. 0, or
 * the error (nothing to free). */
static int json_open(const char *body, size_t len, sb_whk_batch_t *out,
                     cJSON **doc, sb_err_t *err) {
  *doc = NULL;
  memset(out, 0, sizeof *out);
  if (json_body(body, len, doc, err) != 0)
    return err->code;
  if (batch_init(out, SB_WHK_MAX_ITEMS, len * 2 + 1024, err) != 0) {
    cJSON_Delete(*doc);
    *doc = NULL;
    return err->code;
  }
  return 0;
}

int sb_whk_whatsapp_parse(const char *body, size_t len, sb_whk_batch_t *out,
                          sb_err_t *err) {
  cJSON *doc = NULL;
  if (json_open(body, len, out, &doc, err) != 0)
    return err->code;
  int rc = 0;
  const char *obj = jstr(doc, "object");
  if (obj == NULL || strcmp(obj, "whatsapp_business_account") != 0) {
    rc = sb_err_set(err, SB_EVALIDATE,
                    "object: expected \"whatsapp_business_account\"");
    goto out;
  }
  const cJSON *entry = cJSON_GetObjectItemCaseSensitive(doc, "entry");
  if (!cJSON_IsArray(entry)) {
    rc = sb_err_set(err, SB_EVALIDATE, "entry: expected an array");
    goto out;
  }
  size_t ns = 0, nm = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, entry) {
    const cJSON *changes = cJSON_GetObjectItemCaseSensitive(e, "changes");
    if (!cJSON_IsArray(changes)) {
      rc = sb_err_set(err, SB_EVALIDATE, "entry[].changes: expected an array");
      goto out;
    }
    const cJSON *ch;
    cJSON_ArrayForEach(ch, changes) {
      const char *field = jstr(ch, "field");
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(ch, "value");
      if (field == NULL || strcmp(field, "messages") != 0 ||
          !cJSON_IsObject(v)) {
        out->ignored++;
        continue;
      }
      const cJSON *md = cJSON_GetObjectItemCaseSensitive(v, "metadata");
      const char *to = keeps( /* once: every message of the change has it */
          out, cJSON_IsObject(md) ? jstr(md, "display_phone_number") : NULL);
      const cJSON *sts = cJSON_GetObjectItemCaseSensitive(v, "statuses");
      const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(v, "messages");
      const cJSON *x;
      if (!cJSON_IsArray(sts))
        sts = NULL;
      if (!cJSON_IsArray(msgs))
        msgs = NULL;
      cJSON_ArrayForEach(x, sts) {
        if (out->n == SB_WHK_MAX_ITEMS) {
          rc = sb_err_set(err, SB_EVALIDATE, "more than %d statuses and "
                          "messages in one body", SB_WHK_MAX_ITEMS);
          goto out;
        }
        if ((rc = wa_status(out, x, ns++, err)) != 0)
          goto out;
      }
      cJSON_ArrayForEach(x, msgs) {
        if (out->n == SB_WHK_MAX_ITEMS) {
          rc = sb_err_set(err, SB_EVALIDATE, "more than %d statuses and "
                          "messages in one body", SB_WHK_MAX_ITEMS);
          goto out;
        }
        if ((rc = wa_message(out, x, to, nm++, err)) != 0)
          goto out;
      }
    }
  }
out:
  cJSON_Delete(doc);
  return rc;
}

/* ---- SendGrid ------------------------------------------------------------ */

static int sg_event(sb_whk_batch_t *b, const cJSON *ev, size_t index,
                    sb_err_t *err) {
  if (!cJSON_IsObject(ev))
    return sb_err_set(err, SB_EVALIDATE, "event %zu: expected an object",
                      index + 1);
  const char *raw = jstr(ev, "event");
  if (raw == NULL)
    return sb_err_set(err, SB_EVALIDATE, "event %zu: event missing",
                      index + 1);
  const char *st = sb_whk_sendgrid_status(raw);
  const char *method = strcmp(raw, "unsubscribe") == 0   ? "unsubscribe_link"
                       : strcmp(raw, "spamreport") == 0 ? "spam_complaint"
                                                        : NULL;
  if (st == NULL && method == NULL) {
    b->ignored++; /* click, group_unsubscribe, ...: not a status */
    return 0;
  }
  const char *eid = jstr(ev, "sg_event_id");
  if (!id_ok(eid))
    return sb_err_set(err, SB_EVALIDATE,
                      "event %zu: sg_event_id missing or not 1 to 128 "
                      "visible ASCII characters",
                      index + 1);
  const char *smid = jstr(ev, "sg_message_id");
  const char *ours = jstr(ev, "sb_message_id");
  if (ours != NULL && !id_ok(ours))
    ours = NULL; /* not one of ours: the provider's id stands in */
  if (ours == NULL && !id_ok(smid))
    return sb_err_set(err, SB_EVALIDATE,
                      "event %zu: neither sb_message_id nor sg_message_id",
                      index + 1);
  sb_whk_item_t *it = &b->items[b->n];
  it->channel = "email";
  it->event_key = keeps(b, eid);
  it->message_id = keeps(b, ours);
  it->provider_message_id = id_ok(smid) ? keeps(b, smid) : NULL;
  it->raw_status = keeps(b, raw);
  it->reported_at_us = jtime_us(ev, "timestamp");
  if (st != NULL) {
    it->kind = SB_WHK_STATUS;
    it->status = st;
    char buf[32];
    const char *code =
        jcode(cJSON_GetObjectItemCaseSensitive(ev, "status"), buf, sizeof buf);
    it->error_code = code && *code ? keeps(b, code) : NULL;
    const char *why = jstr(ev, "reason");
    it->error_message = why && *why ? keeps(b, why) : NULL;
  } else {
    const char *email = jstr(ev, "email");
    if (email == NULL || *email == '\0')
      return sb_err_set(err, SB_EVALIDATE, "event %zu: %s without email",
                        index + 1, raw);
    it->kind = SB_WHK_OPT_OUT;
    it->method = method;
    it->address = keeps(b, email);
  }
  if (it->event_key == NULL)
    return sb_err_set(err, SB_EVALIDATE, "event %zu: too long", index + 1);
  b->n++;
  return 0;
}

int sb_whk_sendgrid_parse(const char *body, size_t len, sb_whk_batch_t *out,
                          sb_err_t *err) {
  cJSON *doc = NULL;
  if (json_open(body, len, out, &doc, err) != 0)
    return err->code;
  int rc = 0;
  if (!cJSON_IsArray(doc)) {
    rc = sb_err_set(err, SB_EVALIDATE, "expected a JSON array of events");
    goto out;
  }
  if (cJSON_GetArraySize(doc) > SB_WHK_MAX_ITEMS) {
    rc = sb_err_set(err, SB_EVALIDATE, "more than %d events in one body",
                    SB_WHK_MAX_ITEMS);
    goto out;
  }
  size_t i = 0;
  const cJSON *ev;
  cJSON_ArrayForEach(ev, doc) {
    if ((rc = sg_event(out, ev, i++, err)) != 0)
      goto out;
  }
out:
  cJSON_Delete(doc);
  return rc;
}
