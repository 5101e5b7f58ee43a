/* The Schema Registry API over HTTP (sb_api_registry.h): the token of a
 * Confluent client's Basic auth, authentication's refusals in Confluent's
 * form, then sb_registry_answer. Apart from the answers so that they link
 * without ingest (the fuzz target). */
#include "sb_api_registry.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The token of an Authorization header: Bearer T, or Basic with T as the
 * password (any user name) into tok; "" when there is none. */
static void token_of(const char *auth, char *tok, size_t cap) {
  tok[0] = '\0';
  if (auth == NULL)
    return;
  if (strncasecmp(auth, "Bearer ", 7) == 0) {
    snprintf(tok, cap, "%s", auth + 7);
    return;
  }
  if (strncasecmp(auth, "Basic ", 6) != 0)
    return;
  const char *b64 = auth + 6;
  size_t n = strlen(b64);
  if (n == 0 || n % 4 != 0 || n / 4 * 3 >= cap)
    return;
  unsigned char raw[SB_JWT_MAX * 2];
  if (n / 4 * 3 >= sizeof raw)
    return;
  int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
  if (got < 0)
    return;
  while (got > 0 && n > 0 && b64[n - 1] == '=') /* padding decodes as 0s */
    got--, n--;
  raw[got] = '\0';
  const char *colon = memchr(raw, ':', (size_t)got);
  if (colon != NULL && strlen((const char *)raw) == (size_t)got)
    snprintf(tok, cap, "%s", colon + 1);
  OPENSSL_cleanse(raw, sizeof raw);
}

/* Authentication's refusals in Confluent's form: error_code the status
 * (as Confluent's own 401 and 403 are), the reason's name first in the
 * message. */
static void confluent_error(sb_http_req_t *r, int status, const char *code,
                            const char *message, const char *extra_headers) {
  cJSON *o = cJSON_CreateObject();
  char msg[700];
  snprintf(msg, sizeof msg, "%s: %s", code, message);
  char *text = NULL;
  if (o != NULL && cJSON_AddNumberToObject(o, "error_code", status) &&
      cJSON_AddStringToObject(o, "message", msg))
    text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (text == NULL) {
    sb_http_error(r, status, code, message, extra_headers);
    return;
  }
  sb_http_respond(r, status, SB_REGISTRY_TYPE, text, strlen(text),
                  extra_headers);
  cJSON_free(text);
}

void sb_registry_handle(sb_http_req_t *r, const sb_registry_t *g,
                        sb_ingest_t *in) {
  sb_http_set_error_form(r, confluent_error);
  char tok[SB_JWT_MAX + 2];
  token_of(sb_http_header(r, "Authorization"), tok, sizeof tok);
  sb_claims_t who;
  int denied = sb_ingest_authenticate(in, r, tok, &who) != 0;
  OPENSSL_cleanse(tok, sizeof tok);
  if (denied)
    return; /* answered 401 / 403 / 503 and recorded */
  sb_http_set_error_form(r, NULL);
  size_t len = 0;
  const char *body = sb_http_body(r, &len);
  sb_registry_answer_t a;
  if (sb_registry_answer(g, sb_http_method(r),
                         sb_http_path(r) + strlen(SB_REGISTRY_PREFIX),
                         sb_http_query(r), body, len, &a) != 0) {
    static const char oom[] = "{\"error_code\":50001,\"message\":\"out of "
                              "memory\"}";
    sb_http_respond(r, 500, SB_REGISTRY_TYPE, oom, sizeof oom - 1, NULL);
    return;
  }
  sb_http_respond(r, a.status, a.type, a.body, a.len, NULL);
  free(a.body);
}
