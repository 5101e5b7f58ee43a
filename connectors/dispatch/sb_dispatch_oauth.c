/* FCM HTTP v1's authorisation as Google documents it for a server: an
 * OAuth2 access token obtained with a service account's key.
 *
 * The account's secret is the service-account JSON Google's console hands
 * out ({"type": "service_account", "client_email", "private_key" (PEM),
 * "private_key_id", "token_uri", ...}). A JWT (RS256, sb_jwt.h) with
 * iss = client_email, scope = firebase.messaging, aud = token_uri, iat =
 * now, exp = now + 1 h is exchanged at token_uri (https:// only; Google's
 * https://oauth2.googleapis.com/token when absent) for an access token
 * (grant_type urn:ietf:params:oauth:grant-type:jwt-bearer), which is sent
 * as the Bearer of every FCM request. It is kept per account, wiped when
 * freed, and fetched again when less than a minute (or half its life,
 * when shorter) is left, or when the account's configuration changes.
 * A secret that is not a JSON object is taken as an access token itself
 * (one minted elsewhere), as before.
 *
 * The exchange runs on libuv's thread pool (a blocking libcurl transfer
 * there, bounded by dispatch.timeout_ms), at most once an hour per
 * account; the message waits for it, and the account's other messages
 * meanwhile are put back for half a second (their attempt given back). Its refusal (4xx, say
 * invalid_grant for a key Google does not know) fails the message for good
 * with the endpoint's error as error_code; no answer, 5xx, 408 or 429 are
 * retried like a provider's. Neither the key, the JWT nor the token is
 * logged or put into an event. */
#include "sb_dispatch_int.h"

#include "sb_jwt.h"
#include "sb_pii.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define GOOGLE_TOKEN_URI "https://oauth2.googleapis.com/token"
#define TOKEN_RESP_MAX 65536
#define JWT_LIFE_S 3600

void sb__dsp_token_clear(sb__dacct_t *a) {
  if (a->token) {
    sb_pii_wipe(a->token, strlen(a->token));
    free(a->token);
  }
  a->token = NULL;
  a->token_refresh_ms = 0;
}

static void result(sb__djob_t *j, int o, const char *status, const char *code,
                   const char *msg) {
  j->outcome = o;
  j->transient_account = o == SB_DSP_O_RETRY;
  if (status)
    snprintf(j->provider_status, sizeof j->provider_status, "%s", status);
  snprintf(j->error_code, sizeof j->error_code, "%s", code);
  sb__dsp_scrub(msg, j->acct->secret, j->error_msg, sizeof j->error_msg);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  sb_text_t *t = arg;
  size_t len = size * n;
  if (t->len + len <= TOKEN_RESP_MAX)
    sb_text_put(t, p, len);
  return len;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The JWT of the service account sa into jwt. 0, or a refusal on j. */
static int make_jwt(const cJSON *sa, const char *token_uri, sb_text_t *jwt,
                    sb__djob_t *j, sb_err_t *err) {
  const char *email = jstr(sa, "client_email"), *key = jstr(sa, "private_key");
  const char *kid = jstr(sa, "private_key_id"), *type = jstr(sa, "type");
  if (type != NULL && strcmp(type, "service_account") != 0) {
    sb__dsp_refuse(j, "the FCM account's secret is JSON but not a service account's");
    return 0;
  }
  if (email == NULL || key == NULL) {
    sb__dsp_refuse(j, "the FCM account's service-account JSON lacks client_email or "
              "private_key");
    return 0;
  }
  sb_text_t h = {0}, c = {0};
  sb_text_add(&h, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
  if (kid) {
    sb_text_add(&h, ",\"kid\":");
    sb_text_json_str(&h, kid);
  }
  sb_text_add(&h, "}");
  long long now = (long long)time(NULL);
  sb_text_add(&c, "{\"iss\":");
  sb_text_json_str(&c, email);
  sb_text_add(&c, ",\"scope\":\"" FCM_SCOPE "\",\"aud\":");
  sb_text_json_str(&c, token_uri);
  sb_text_add(&c, ",\"iat\":%lld,\"exp\":%lld}", now, now + JWT_LIFE_S);
  int rc = 0;
  if (h.failed || c.failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else {
    sb_err_t e = SB_ERR_INIT;
    rc = sb_jwt_rs256(key, h.s, c.s, jwt, &e);
    if (rc == SB_EINVAL) { /* the key: the account's to mend */
      sb__dsp_refuse(j, "the FCM account's private_key is not an RSA key in PEM");
      rc = 0;
    } else if (rc != 0) {
      *err = e;
    }
  }
  sb_text_free(&h);
  sb_text_free(&c);
  return rc;
}

/* POSTs the JWT to token_uri; the answer's status and body. */
static CURLcode exchange(sb_dispatch_t *d, const char *token_uri,
                         const sb_text_t *jwt, long *http, sb_text_t *body,
                         char *errbuf) {
  CURL *e = curl_easy_init();
  if (e == NULL)
    return CURLE_OUT_OF_MEMORY;
  sb_text_t form = {0};
  sb_text_add(&form, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type"
                     "%%3Ajwt-bearer&assertion=");
  sb_text_put(&form, jwt->s, jwt->len); /* base64url and dots: no escaping */
  struct curl_slist *hdrs = curl_slist_append(
      NULL, "Content-Type: application/x-www-form-urlencoded");
  sb__dsp_easy_common(d, e, token_uri, "https");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, form.s);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)form.len);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = form.failed ? CURLE_OUT_OF_MEMORY : curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, http);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(e);
  sb__dsp_wipe_text(&form);
  return rc;
}

typedef struct {
  uv_work_t w;
  sb_dispatch_t *d;
  sb__djob_t *j;
  char token_uri[512];
  sb_text_t jwt, body;
  long http;
  CURLcode cc;
  char errbuf[CURL_ERROR_SIZE];
  int64_t started_ms;
} fetch_t;

static void fetch_work(uv_work_t *w) { /* on the thread pool */
  fetch_t *f = w->data;
  f->cc = exchange(f->d, f->token_uri, &f->jwt, &f->http, &f->body, f->errbuf);
}

/* the answer, on the loop: the account's token, or j's outcome */
static void fetch_done(uv_work_t *w, int status) {
  fetch_t *f = w->data;
  sb__djob_t *j = f->j;
  sb__dacct_t *a = j->acct;
  a->fetching = 0;
  j->waiting = 0;
  char status_s[24];
  snprintf(status_s, sizeof status_s, "%ld", f->http);
  if (status != 0 || f->cc != CURLE_OK) {
    char msg[SB_DSP_MSG_MAX];
    snprintf(msg, sizeof msg, "FCM access token: %s",
             f->errbuf[0] ? f->errbuf
                          : status ? "cancelled" : curl_easy_strerror(f->cc));
    result(j, SB_DSP_O_RETRY, NULL, "oauth_unreachable", msg);
    goto out;
  }
  sb_text_put(&f->body, "", 1);
  cJSON *doc = cJSON_Parse(f->body.s);
  const char *tok = jstr(doc, "access_token");
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(doc, "expires_in");
  if (f->http == 200 && tok != NULL && tok[0] && cJSON_IsNumber(exp) &&
      exp->valuedouble > 0) {
    int64_t life = (int64_t)(exp->valuedouble * 1000);
    int64_t margin = life / 2 < 60000 ? life / 2 : 60000;
    sb__dsp_token_clear(a);
    if ((a->token = strdup(tok)) == NULL)
      result(j, SB_DSP_O_RETRY, NULL, "dispatch_error", "out of memory");
    /* its life counts from the request */
    a->token_refresh_ms = f->started_ms + life - margin;
  } else {
    const char *code = jstr(doc, "error"), *desc = jstr(doc, "error_description");
    char msg[SB_DSP_MSG_MAX], ecode[64];
    snprintf(ecode, sizeof ecode, "%s", code ? code : "oauth_error");
    snprintf(msg, sizeof msg, "FCM access token refused (HTTP %ld)%s%s",
             f->http, desc ? ": " : "", desc ? desc : "");
    int transient = f->http >= 500 || f->http == 408 || f->http == 429 ||
                    f->http == 200;
    result(j, transient ? SB_DSP_O_RETRY : SB_DSP_O_FAILED, status_s, ecode,
           msg);
  }
  if (tok != NULL)
    sb_pii_wipe((char *)tok, strlen(tok));
  cJSON_Delete(doc);
out:
  sb__dsp_wipe_text(&f->jwt);
  sb__dsp_wipe_text(&f->body);
  sb_dispatch_t *d = f->d;
  free(f);
  sb__dsp_launch(d, j);
}

int sb__dsp_fcm_auth(sb_dispatch_t *d, sb__djob_t *j, sb_err_t *err) {
  sb__dacct_t *a = j->acct;
  const char *s = a->secret;
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
    s++;
  if (*s != '{')
    return 0; /* an access token itself */
  int64_t now = sb_now_ms();
  if (a->token != NULL && now < a->token_refresh_ms)
    return 0;
  if (a->fetching) { /* another message of the account fetches it */
    j->outcome = SB_DSP_O_DEFER;
    j->retry_at_ms = now + 500;
    return 0;
  }
  cJSON *sa = cJSON_Parse(s);
  if (!cJSON_IsObject(sa)) {
    cJSON_Delete(sa);
    sb__dsp_refuse(j, "the FCM account's secret is neither an access token nor a "
              "service-account JSON object");
    return 0;
  }
  fetch_t *f = calloc(1, sizeof *f);
  if (f == NULL) {
    cJSON_Delete(sa);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  const char *uri = jstr(sa, "token_uri");
  snprintf(f->token_uri, sizeof f->token_uri, "%s", uri ? uri : GOOGLE_TOKEN_URI);
  int rc = 0;
  if (strncmp(f->token_uri, "https://", 8) != 0 || strlen(f->token_uri) > 500)
    sb__dsp_refuse(j, "the FCM account's token_uri is not an https:// URL");
  else
    rc = make_jwt(sa, f->token_uri, &f->jwt, j, err);
  /* the key leaves memory with the parsed JSON */
  cJSON *k = cJSON_GetObjectItemCaseSensitive(sa, "private_key");
  if (cJSON_IsString(k))
    sb_pii_wipe(k->valuestring, strlen(k->valuestring));
  cJSON_Delete(sa);
  if (rc == 0 && j->outcome == SB_DSP_O_NONE) {
    f->d = d;
    f->j = j;
    f->started_ms = now;
    f->w.data = f;
    if (uv_queue_work(&d->loop, &f->w, fetch_work, fetch_done) == 0) {
      a->fetching = 1;
      j->waiting = 1;
      return 0; /* f is fetch_done's */
    }
    rc = sb_err_set(err, SB_EIO, "cannot queue the FCM token exchange");
  }
  sb__dsp_wipe_text(&f->jwt);
  free(f);
  return rc;
}
