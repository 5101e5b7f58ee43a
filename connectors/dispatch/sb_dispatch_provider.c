/* Each provider's request and answer, in its documented form:
 *   smtp            SMTP (smtp:// with STARTTLS required, or smtps://),
 *                   AUTH with username/secret; Message-ID
 *                   <message_id@switchboard>
 *   twilio          POST {base}/2010-04-01/Accounts/{username = SID}/
 *                   Messages.json, form-encoded, basic auth SID:secret;
 *                   sms and whatsapp ("whatsapp:" addresses);
 *                   StatusCallback (?m=<message id>) when
 *                   webhooks.public_url is set
 *   whatsapp_cloud  POST {base}/v17.0/{username = phone number id}/messages,
 *                   Bearer secret; biz_opaque_callback_data: message id
 *   slack           secret an https:// URL: an incoming webhook, POSTed
 *                   {"text"}; else chat.postMessage ({base}/api/...,
 *                   Bearer secret, channel = the recipient)
 *   fcm             POST {base}/v1/projects/{username = project}/
 *                   messages:send, Bearer an OAuth2 access token (from the
 *                   service-account JSON secret: sb_dispatch_oauth.c; or
 *                   the secret itself);
 *                   UNREGISTERED reported as failed with that error code
 *   sendgrid        POST {base}/v3/mail/send, Bearer secret; custom_args
 *                   sb_message_id; X-Message-Id is the provider's id
 * Only https:// base URLs (TLS verified, against dispatch.ca_file when
 * set). */
#include "sb_dispatch_int.h"

#include "sb_pii.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const default_base[SB_DSP_NPROVIDERS] = {
    NULL, "https://api.twilio.com", "https://graph.facebook.com",
    "https://slack.com", "https://fcm.googleapis.com",
    "https://api.sendgrid.com"};

void sb__dsp_refuse(sb__djob_t *j, const char *detail) {
  j->outcome = SB_DSP_O_BLOCKED;
  snprintf(j->block_reason, sizeof j->block_reason, "no_provider");
  snprintf(j->error_msg, sizeof j->error_msg, "%s", detail);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  sb__djob_t *j = arg;
  size_t len = size * n;
  if (j->resp.len + len <= SB_DSP_RESP_MAX)
    sb_text_put(&j->resp, p, len);
  return len; /* the rest of a long answer is read and dropped */
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  sb__djob_t *j = arg;
  size_t len = size * n;
  char line[256];
  snprintf(line, sizeof line, "%.*s", (int)(len < 255 ? len : 255), p);
  char *colon = strchr(line, ':');
  if (colon == NULL)
    return len;
  *colon = '\0';
  char *v = sb_trim(colon + 1);
  if (strcasecmp(line, "Retry-After") == 0) {
    long long s;
    if (sb_parse_ll(v, &s) == 0 && s >= 0 && s < 86400)
      j->retry_at_ms = sb_now_ms() + s * 1000;
    /* an HTTP date: the backoff decides */
  } else if (strcasecmp(line, "X-Message-Id") == 0) {
    snprintf(j->provider_message_id, sizeof j->provider_message_id, "%s", v);
  }
  return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg) {
  sb__djob_t *j = arg;
  size_t left = j->req.len - j->sent_off, want = size * n;
  if (want > left)
    want = left;
  memcpy(buf, j->req.s + j->sent_off, want);
  j->sent_off += want;
  return want;
}

void sb__dsp_easy_common(sb_dispatch_t *d, CURL *e, const char *url,
                         const char *protocols) {
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->c->dispatch_timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(d->c->dispatch_timeout_ms < 10000
                              ? d->c->dispatch_timeout_ms
                              : 10000));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (d->c->dispatch_ca_file)
    curl_easy_setopt(e, CURLOPT_CAINFO, d->c->dispatch_ca_file);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "switchboard/" SB_VERSION);
}

static int easy(sb_dispatch_t *d, sb__djob_t *j, const char *url) {
  if ((j->easy = curl_easy_init()) == NULL) {
    j->outcome = SB_DSP_O_RETRY;
    snprintf(j->error_code, sizeof j->error_code, "dispatch_error");
    snprintf(j->error_msg, sizeof j->error_msg, "curl_easy_init failed");
    return -1;
  }
  CURL *e = j->easy;
  sb__dsp_easy_common(d, e, url, "https,smtp,smtps");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
  return 0;
}

/* frees a buffer that held a secret, wiped first */
void sb__dsp_wipe_text(sb_text_t *t) {
  if (t->s)
    sb_pii_wipe(t->s, t->cap);
  sb_text_free(t);
}

static void header(sb__djob_t *j, const char *h) {
  j->hdrs = curl_slist_append(j->hdrs, h);
}

static void bearer(sb__djob_t *j) {
  sb_text_t t = {0};
  sb_text_add(&t, "Authorization: Bearer %s",
              j->acct->token ? j->acct->token : j->acct->secret);
  if (!t.failed)
    header(j, t.s);
  sb__dsp_wipe_text(&t);
}

static void post_json(sb__djob_t *j) {
  header(j, "Content-Type: application/json; charset=utf-8");
  curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
  curl_easy_setopt(j->easy, CURLOPT_POST, 1L);
  curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->req.s);
  curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)j->req.len);
}

/* base + the escaped segment between pre and post */
static int url_with(sb__djob_t *j, const char *base, const char *pre,
                    const char *seg, const char *post, sb_text_t *url) {
  if (seg == NULL || seg[0] == '\0') {
    sb__dsp_refuse(j, "the account has no username (account SID, phone number id or "
              "project)");
    return -1;
  }
  char *esc = curl_easy_escape(j->easy, seg, 0);
  sb_text_add(url, "%s%s%s%s", base, pre, esc ? esc : "", post);
  curl_free(esc);
  return 0;
}

static void form(sb__djob_t *j, const char *k, const char *v) {
  char *esc = curl_easy_escape(j->easy, v, 0);
  sb_text_add(&j->req, "%s%s=%s", j->req.len ? "&" : "", k, esc ? esc : "");
  curl_free(esc);
}

static const char *from_of(sb__djob_t *j) {
  return j->from && j->from[0] ? j->from : j->acct->from_address;
}

static int build_twilio(sb_dispatch_t *d, sb__djob_t *j, const char *base,
                        sb_text_t *url) {
  if (easy(d, j, "") != 0 ||
      url_with(j, base, "/2010-04-01/Accounts/", j->acct->username,
               "/Messages.json", url) != 0)
    return -1;
  int wa = strcmp(j->channel, "whatsapp") == 0;
  char to[400], from[400];
  const char *f = from_of(j);
  snprintf(to, sizeof to, "%s%s", wa && strncmp(j->to, "whatsapp:", 9) ? "whatsapp:" : "", j->to);
  snprintf(from, sizeof from, "%s%s", wa && f && strncmp(f, "whatsapp:", 9) ? "whatsapp:" : "", f ? f : "");
  form(j, "To", to);
  form(j, "From", from);
  form(j, "Body", j->body);
  if (d->c->webhooks_public_url) {
    sb_text_t cb = {0};
    char *t = curl_easy_escape(j->easy, j->tenant, 0);
    char *a = curl_easy_escape(j->easy, j->account_id, 0);
    char *m = curl_easy_escape(j->easy, j->message_id, 0);
    sb_text_add(&cb, "%s/v1/webhooks/twilio/%s/%s/status?m=%s",
                d->c->webhooks_public_url, t, a, m);
    curl_free(t);
    curl_free(a);
    curl_free(m);
    if (!cb.failed)
      form(j, "StatusCallback", cb.s);
    sb_text_free(&cb);
  }
  header(j, "Content-Type: application/x-www-form-urlencoded");
  curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
  curl_easy_setopt(j->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
  curl_easy_setopt(j->easy, CURLOPT_USERNAME, j->acct->username);
  curl_easy_setopt(j->easy, CURLOPT_PASSWORD, j->acct->secret);
  curl_easy_setopt(j->easy, CURLOPT_POST, 1L);
  curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->req.s);
  curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)j->req.len);
  return 0;
}

static int build_whatsapp(sb_dispatch_t *d, sb__djob_t *j, const char *base,
                          sb_text_t *url) {
  if (easy(d, j, "") != 0 ||
      url_with(j, base, "/v17.0/", j->acct->username, "/messages", url) != 0)
    return -1;
  const char *to = j->to[0] == '+' ? j->to + 1 : j->to;
  sb_text_add(&j->req, "{\"messaging_product\":\"whatsapp\","
                       "\"recipient_type\":\"individual\",\"to\":");
  sb_text_json_str(&j->req, to);
  sb_text_add(&j->req, ",\"type\":\"text\",\"text\":{\"preview_url\":false,"
                       "\"body\":");
  sb_text_json_str(&j->req, j->body);
  sb_text_add(&j->req, "},\"biz_opaque_callback_data\":");
  sb_text_json_str(&j->req, j->message_id);
  sb_text_add(&j->req, "}");
  bearer(j);
  post_json(j);
  return 0;
}

static int build_slack(sb_dispatch_t *d, sb__djob_t *j, const char *base,
                       sb_text_t *url) {
  if (easy(d, j, "") != 0)
    return -1;
  if (strncmp(j->acct->secret, "https://", 8) == 0) {
    /* an incoming webhook: the URL is the secret, the channel its own */
    sb_text_add(url, "%s", j->acct->secret);
    sb_text_add(&j->req, "{\"text\":");
    sb_text_json_str(&j->req, j->body);
    sb_text_add(&j->req, "}");
  } else {
    sb_text_add(url, "%s/api/chat.postMessage", base);
    sb_text_add(&j->req, "{\"channel\":");
    sb_text_json_str(&j->req, j->to);
    sb_text_add(&j->req, ",\"text\":");
    sb_text_json_str(&j->req, j->body);
    sb_text_add(&j->req, "}");
    bearer(j);
  }
  post_json(j);
  return 0;
}

static int build_fcm(sb_dispatch_t *d, sb__djob_t *j, const char *base,
                     sb_text_t *url) {
  if (easy(d, j, "") != 0 ||
      url_with(j, base, "/v1/projects/", j->acct->username, "/messages:send",
               url) != 0)
    return -1;
  sb_text_add(&j->req, "{\"message\":{\"token\":");
  sb_text_json_str(&j->req, j->to);
  sb_text_add(&j->req, ",\"notification\":{");
  if (j->subject) {
    sb_text_add(&j->req, "\"title\":");
    sb_text_json_str(&j->req, j->subject);
    sb_text_add(&j->req, ",");
  }
  sb_text_add(&j->req, "\"body\":");
  sb_text_json_str(&j->req, j->body);
  sb_text_add(&j->req, "},\"data\":{\"sb_message_id\":");
  sb_text_json_str(&j->req, j->message_id);
  sb_text_add(&j->req, "}}}");
  bearer(j);
  post_json(j);
  return 0;
}

static int build_sendgrid(sb_dispatch_t *d, sb__djob_t *j, const char *base,
                          sb_text_t *url) {
  if (easy(d, j, "") != 0)
    return -1;
  sb_text_add(url, "%s/v3/mail/send", base);
  const char *f = from_of(j);
  sb_text_add(&j->req, "{\"personalizations\":[{\"to\":[{\"email\":");
  sb_text_json_str(&j->req, j->to);
  sb_text_add(&j->req, "}],\"custom_args\":{\"sb_message_id\":");
  sb_text_json_str(&j->req, j->message_id);
  sb_text_add(&j->req, "}}],\"from\":{\"email\":");
  sb_text_json_str(&j->req, f ? f : "");
  sb_text_add(&j->req, "},\"subject\":");
  sb_text_json_str(&j->req, j->subject ? j->subject : "");
  sb_text_add(&j->req, ",\"content\":[{\"type\":\"text/plain\",\"value\":");
  sb_text_json_str(&j->req, j->body);
  sb_text_add(&j->req, "}]}");
  bearer(j);
  post_json(j);
  return 0;
}

/* a header value: CR and LF become spaces (no header injection); non-ASCII
 * as an RFC 2047 encoded word */
static void mail_header(sb_text_t *t, const char *name, const char *v) {
  int ascii = 1;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    ascii &= *p < 0x80;
  sb_text_add(t, "%s: ", name);
  if (ascii) {
    for (const char *p = v; *p; p++)
      sb_text_put(t, (*p == '\r' || *p == '\n') ? " " : p, 1);
  } else {
    size_t n = strlen(v);
    if (n > 3000)
      n = 3000;
    unsigned char b64[4100];
    int m = EVP_EncodeBlock(b64, (const unsigned char *)v, (int)n);
    sb_text_add(t, "=?UTF-8?B?%.*s?=", m, (const char *)b64);
  }
  sb_text_put(t, "\r\n", 2);
}

static int build_smtp(sb_dispatch_t *d, sb__djob_t *j, const char *base,
                      sb_text_t *url) {
  if (base == NULL || (strncmp(base, "smtp://", 7) != 0 &&
                       strncmp(base, "smtps://", 8) != 0)) {
    sb__dsp_refuse(j, "an smtp account's base_url must be smtp://host:port "
              "(STARTTLS) or smtps://host:port");
    return -1;
  }
  const char *f = from_of(j);
  if (f == NULL || f[0] == '\0') {
    sb__dsp_refuse(j, "no from address (the message's or the account's)");
    return -1;
  }
  if (easy(d, j, "") != 0)
    return -1;
  sb_text_add(url, "%s", base);
  char mf[400], date[64];
  snprintf(mf, sizeof mf, "<%s>", f);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  mail_header(&j->req, "Date", date);
  mail_header(&j->req, "From", f);
  mail_header(&j->req, "To", j->to);
  mail_header(&j->req, "Subject", j->subject ? j->subject : "");
  sb_text_add(&j->req, "Message-ID: <%s@switchboard>\r\n", j->message_id);
  sb_text_add(&j->req, "MIME-Version: 1.0\r\nContent-Type: text/plain; "
                       "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
  for (const char *p = j->body; *p; p++) { /* bare LF to CRLF */
    if (*p == '\n' && (p == j->body || p[-1] != '\r'))
      sb_text_put(&j->req, "\r", 1);
    sb_text_put(&j->req, p, 1);
  }
  sb_text_put(&j->req, "\r\n", 2);
  snprintf(j->provider_message_id, sizeof j->provider_message_id,
           "%.110s@switchboard", j->message_id);
  char rcpt[400];
  snprintf(rcpt, sizeof rcpt, "<%s>", j->to);
  j->rcpt = curl_slist_append(NULL, rcpt);
  CURL *e = j->easy;
  curl_easy_setopt(e, CURLOPT_MAIL_FROM, mf);
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT, j->rcpt);
  curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
  if (j->acct->username) {
    curl_easy_setopt(e, CURLOPT_USERNAME, j->acct->username);
    curl_easy_setopt(e, CURLOPT_PASSWORD, j->acct->secret);
  }
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(e, CURLOPT_READDATA, j);
  curl_easy_setopt(e, CURLOPT_INFILESIZE, (long)j->req.len);
  return 0;
}

int sb__dsp_build(sb_dispatch_t *d, sb__djob_t *j) {
  typedef int (*build_fn)(sb_dispatch_t *, sb__djob_t *, const char *,
                          sb_text_t *);
  static const build_fn builds[SB_DSP_NPROVIDERS] = {
      build_smtp, build_twilio, build_whatsapp, build_slack, build_fcm,
      build_sendgrid};
  int p = j->acct->provider;
  const char *base = j->acct->base_url ? j->acct->base_url : default_base[p];
  if (p != SB_DSP_SMTP && base && strncmp(base, "https://", 8) != 0) {
    sb__dsp_refuse(j, "the account's base_url is not https://");
    return -1;
  }
  sb_text_t url = {0};
  int rc = builds[p](d, j, base, &url);
  if (rc == 0 && (url.failed || j->req.failed)) {
    j->outcome = SB_DSP_O_RETRY;
    snprintf(j->error_code, sizeof j->error_code, "dispatch_error");
    snprintf(j->error_msg, sizeof j->error_msg, "out of memory");
    rc = -1;
  }
  if (rc == 0)
    curl_easy_setopt(j->easy, CURLOPT_URL, url.s);
  /* the URL may hold the secret (a Slack webhook): libcurl copied it */
  sb__dsp_wipe_text(&url);
  return rc;
}

/* ---- answers -------------------------------------------------------------- */

static void outcome(sb__djob_t *j, int o, const char *status, const char *code,
                    const char *msg) {
  j->outcome = o;
  if (status)
    snprintf(j->provider_status, sizeof j->provider_status, "%s", status);
  if (code)
    snprintf(j->error_code, sizeof j->error_code, "%s", code);
  if (msg)
    sb__dsp_scrub(msg, j->acct ? j->acct->secret : NULL, j->error_msg,
                  sizeof j->error_msg);
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void jcode(const cJSON *o, const char *k, char *out, size_t sz) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (cJSON_IsNumber(v))
    snprintf(out, sz, "%lld", (long long)v->valuedouble);
  else if (cJSON_IsString(v))
    snprintf(out, sz, "%s", v->valuestring);
}

/* The error of a 4xx/5xx/ok:false answer, in the provider's form. */
static void error_of(sb__djob_t *j, const cJSON *doc, char *code, size_t codesz,
                     const char **msg) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
  switch (j->acct->provider) {
  case SB_DSP_TWILIO: /* {"code": 21211, "message": ..., "status": 400} */
    jcode(doc, "code", code, codesz);
    *msg = jstr(doc, "message");
    break;
  case SB_DSP_WHATSAPP_CLOUD: /* {"error": {"message", "type", "code"}} */
    jcode(e, "code", code, codesz);
    *msg = jstr(e, "message");
    break;
  case SB_DSP_FCM: { /* {"error": {"code", "message", "status", "details":
                        [{"@type": "...FcmError", "errorCode"}]}} */
    jcode(e, "status", code, codesz);
    const cJSON *det;
    cJSON_ArrayForEach(det, cJSON_GetObjectItemCaseSensitive(e, "details"))
        if (jstr(det, "errorCode")) snprintf(code, codesz, "%s",
                                              jstr(det, "errorCode"));
    *msg = jstr(e, "message");
    break;
  }
  case SB_DSP_SLACK: /* {"ok": false, "error": "channel_not_found"} */
    if (cJSON_IsString(e))
      snprintf(code, codesz, "%s", e->valuestring);
    break;
  case SB_DSP_SENDGRID: { /* {"errors": [{"message", "field"}]} */
    const cJSON *first =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);
    *msg = jstr(first, "message");
    break;
  }
  }
}

void sb__dsp_answer(sb_dispatch_t *d, sb__djob_t *j, CURLcode rc) {
  long http = 0;
  curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &http);
  char status[24];
  snprintf(status, sizeof status, "%ld", http);
  sb_text_put(&j->resp, "", 1);
  j->resp.len--;
  if (j->acct->provider == SB_DSP_SMTP) {
    if (rc == CURLE_OK) {
      outcome(j, SB_DSP_O_SENT, "250", NULL, NULL);
    } else if (rc == CURLE_LOGIN_DENIED || (http >= 500 && http < 600)) {
      outcome(j, SB_DSP_O_FAILED, status,
              rc == CURLE_LOGIN_DENIED ? "auth" : status, curl_easy_strerror(rc));
    } else {
      outcome(j, SB_DSP_O_RETRY, http ? status : NULL,
              rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport",
              j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
      j->transient_account = 1;
    }
    return;
  }
  if (rc != CURLE_OK) {
    outcome(j, SB_DSP_O_RETRY, NULL,
            rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport",
            j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
    j->transient_account = 1;
    return;
  }
  cJSON *doc = cJSON_ParseWithLength(j->resp.s, j->resp.len);
  char code[SB_DSP_FIELD] = "";
  const char *msg = NULL;
  if (http == 429) {
    outcome(j, SB_DSP_O_RETRY, status, "429", "rate limited by the provider");
    if (j->retry_at_ms > 0 && j->acct->paused_until_ms < j->retry_at_ms)
      j->acct->paused_until_ms = j->retry_at_ms;
  } else if (http == 408 || http >= 500) {
    error_of(j, doc, code, sizeof code, &msg);
    outcome(j, SB_DSP_O_RETRY, status, code[0] ? code : status,
            msg ? msg : "provider unavailable");
    j->transient_account = 1;
    j->retry_at_ms = 0; /* a 5xx's Retry-After is advice: backoff */
  } else if (http == 401 && j->acct->provider == SB_DSP_FCM && j->acct->token) {
    /* our access token expired or was revoked early: another, and again */
    error_of(j, doc, code, sizeof code, &msg);
    sb__dsp_token_clear(j->acct);
    outcome(j, SB_DSP_O_RETRY, status, code[0] ? code : status,
            msg ? msg : "access token refused");
    j->retry_at_ms = 0;
  } else if (http >= 400 || http < 200 || http >= 300) {
    error_of(j, doc, code, sizeof code, &msg);
    if (!code[0] && j->acct->provider == SB_DSP_SLACK && doc == NULL)
      snprintf(code, sizeof code, "%.64s", j->resp.s); /* webhook: text */
    outcome(j, SB_DSP_O_FAILED, status, code[0] ? code : status,
            msg ? msg : "refused by the provider");
  } else {
    /* accepted: the provider's id */
    const char *id = NULL, *pst = NULL;
    switch (j->acct->provider) {
    case SB_DSP_TWILIO:
      id = jstr(doc, "sid");
      pst = jstr(doc, "status");
      break;
    case SB_DSP_WHATSAPP_CLOUD:
      id = jstr(cJSON_GetArrayItem(
                    cJSON_GetObjectItemCaseSensitive(doc, "messages"), 0),
                "id");
      break;
    case SB_DSP_FCM:
      id = jstr(doc, "name");
      break;
    case SB_DSP_SLACK:
      if (doc != NULL) { /* chat.postMessage: 200 with ok true or false */
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(doc, "ok");
        if (!cJSON_IsTrue(ok)) {
          error_of(j, doc, code, sizeof code, &msg);
          int rl = strcmp(code, "ratelimited") == 0;
          outcome(j, rl ? SB_DSP_O_RETRY : SB_DSP_O_FAILED, status,
                  code[0] ? code : "error", "refused by Slack");
          goto out;
        }
        id = jstr(doc, "ts");
      }
      break;
    case SB_DSP_SENDGRID:
      break; /* X-Message-Id, read with the headers */
    }
    if (id)
      snprintf(j->provider_message_id, sizeof j->provider_message_id, "%s", id);
    outcome(j, SB_DSP_O_SENT, pst ? pst : status, NULL, NULL);
  }
out:
  cJSON_Delete(doc);
  (void)d;
}
