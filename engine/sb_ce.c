/* CloudEvents ids (the check and the ULID derived from source + id) and
 * binary content mode: attributes from headers, the data from the body. */
#include "sb_ce.h"

#include "sb_codec_int.h"
#include "sb_ulid.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sb_ce_id_check(const char *id, size_t len, sb_err_t *err) {
  if (len == 0)
    return sb_err_set(err, SB_EVALIDATE, "id: must not be empty");
  if (len > SB_CE_ID_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "id: %zu bytes; at most %d are accepted", len,
                      SB_CE_ID_MAX);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
      return sb_err_set(err, SB_EVALIDATE,
                        "id: a control character (0x%02x) at byte %zu",
                        (unsigned char)id[i], i);
  if (sb__utf8_len((const unsigned char *)id, len) < 0)
    return sb_err_set(err, SB_EVALIDATE, "id: not valid UTF-8");
  return 0;
}

const char *sb_ce_producer_id(const void *v, size_t n, const char *event_id,
                              char out[SB_CE_ID_MAX + 1]) {
  sb_err_t why = SB_ERR_INIT;
  if (v == NULL || n > SB_CE_ID_MAX || memchr(v, '\0', n) != NULL ||
      (strlen(event_id) == n && memcmp(v, event_id, n) == 0))
    return NULL;
  memcpy(out, v, n);
  out[n] = '\0';
  return sb_ce_id_check(out, n, &why) == 0 ? out : NULL;
}

int sb_ce_event_id(const char *tenant, const char *source, const char *id,
                   char out[27], sb_err_t *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, "sb-ce-id", 9) == 1 &&
           EVP_DigestUpdate(ctx, tenant, strlen(tenant) + 1) == 1 &&
           EVP_DigestUpdate(ctx, source, strlen(source) + 1) == 1 &&
           EVP_DigestUpdate(ctx, id, strlen(id)) == 1 &&
           EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 16;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return sb_err_set(err, SB_ECRYPTO, "SHA-256 failed");
  /* 128 bits laid out as a ULID: 48 "time" bits then 80 */
  uint64_t ms = 0;
  for (int i = 0; i < 6; i++)
    ms = ms << 8 | md[i];
  sb_ulid_make(ms, md + 6, out);
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int sb_ce_percent_decode(const char *in, size_t len, char *out,
                         size_t *out_len) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch == '%') {
      int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
      int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return -1;
      ch = (unsigned char)(hi << 4 | lo);
      i += 2;
    }
    if (ch < 0x20 || ch == 0x7f)
      return -1;
    out[o++] = (char)ch;
  }
  out[o] = '\0';
  if (sb__utf8_len((const unsigned char *)out, o) < 0)
    return -1;
  *out_len = o;
  return 0;
}

static const char *prefix_of(sb_ce_binding_t b) {
  return b == SB_CE_HTTP ? "ce-" : "ce_";
}

static int has_prefix(sb_ce_binding_t b, const char *name) {
  return b == SB_CE_HTTP ? strncasecmp(name, "ce-", 3) == 0
                         : strncmp(name, "ce_", 3) == 0;
}

int sb_ce_is_binary(sb_ce_binding_t b, const sb_ce_header_t *h, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (has_prefix(b, h[i].name) &&
        (b == SB_CE_HTTP ? strcasecmp(h[i].name + 3, "specversion")
                         : strcmp(h[i].name + 3, "specversion")) == 0)
      return 1;
  return 0;
}

/* application/json, or any type with a +json suffix, parameters aside */
static int json_media(const char *ct) {
  size_t n = strcspn(ct, "; \t");
  if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
    return 1;
  return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

int sb_ce_from_binary(sb_ce_binding_t b, const sb_ce_header_t *h, size_t n,
                      const char *content_type, const char *body,
                      size_t body_len, cJSON **out, sb_err_t *err) {
  *out = NULL;
  const char *pfx = prefix_of(b);
  cJSON *ev = cJSON_CreateObject();
  char *val = malloc(SB_CE_ATTR_MAX + 1);
  int rc = 0;
  if (ev == NULL || val == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (!has_prefix(b, h[i].name))
      continue;
    const char *an = h[i].name + 3;
    char name[64];
    size_t nl = strlen(an);
    if (nl == 0 || nl >= sizeof name) {
      rc = sb_err_set(err, SB_EVALIDATE,
                      "%s%.64s: an attribute name is 1 to 63 characters",
                      pfx, an);
      break;
    }
    /* CloudEvents attribute names are a-z and 0-9; HTTP header names are
     * case-insensitive, so they are compared in lower case */
    for (size_t k = 0; k <= nl; k++)
      name[k] = b == SB_CE_HTTP ? (char)tolower((unsigned char)an[k]) : an[k];
    for (size_t k = 0; k < nl; k++)
      if (!((name[k] >= 'a' && name[k] <= 'z') ||
            (name[k] >= '0' && name[k] <= '9'))) {
        rc = sb_err_set(err, SB_EVALIDATE,
                        "%s%s: not a CloudEvents attribute name (a-z, 0-9)",
                        pfx, an);
        break;
      }
    if (rc != 0)
      break;
    if (strcmp(name, "data") == 0 || strcmp(name, "datacontenttype") == 0 ||
        strcmp(name, "data_base64") == 0) {
      rc = sb_err_set(err, SB_EVALIDATE,
                      "%s%s: in binary mode the data is the body and its "
                      "type the content-type header",
                      pfx, name);
      break;
    }
    if (cJSON_GetObjectItemCaseSensitive(ev, name) != NULL) {
      rc = sb_err_set(err, SB_EVALIDATE, "%s%s: given more than once", pfx,
                      name);
      break;
    }
    size_t vl = h[i].len;
    if (vl > SB_CE_ATTR_MAX) {
      rc = sb_err_set(err, SB_EVALIDATE,
                      "%s%s: %zu bytes; at most %d are accepted", pfx, name,
                      vl, SB_CE_ATTR_MAX);
      break;
    }
    if (b == SB_CE_HTTP) {
      if (sb_ce_percent_decode(h[i].value, vl, val, &vl) != 0) {
        rc = sb_err_set(err, SB_EVALIDATE,
                        "%s%s: not a valid value (a %% not followed by two "
                        "hex digits, a control character, or bytes that "
                        "are not UTF-8 once decoded)",
                        pfx, name);
        break;
      }
    } else {
      memcpy(val, h[i].value, vl);
      val[vl] = '\0';
      if (memchr(val, '\0', vl) != NULL ||
          sb__utf8_len((const unsigned char *)val, vl) < 0) {
        rc = sb_err_set(err, SB_EVALIDATE, "%s%s: not UTF-8 text", pfx, name);
        break;
      }
    }
    if (cJSON_AddStringToObject(ev, name, val) == NULL)
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  if (rc != 0)
    goto out;
  static const char *const required[] = {"specversion", "id", "source",
                                         "type"};
  for (size_t i = 0; i < sizeof required / sizeof *required; i++)
    if (cJSON_GetObjectItemCaseSensitive(ev, required[i]) == NULL) {
      rc = sb_err_set(err, SB_EVALIDATE,
                      "%s%s: missing required attribute (binary mode)", pfx,
                      required[i]);
      goto out;
    }
  if (body_len == 0)
    goto out; /* no data */
  if (content_type == NULL || !json_media(content_type)) {
    rc = sb_err_set(err, SB_EINVAL,
                    "content-type %.64s: an event's data is a JSON object: "
                    "send it as application/json",
                    content_type ? content_type : "(none)");
    goto out;
  }
  cJSON *data = NULL;
  if (sb_json_parse(body, body_len, &data, err) != 0) {
    sb_err_prefix(err, "data: ");
    rc = err->code;
    goto out;
  }
  cJSON_AddItemToObject(ev, "datacontenttype",
                        cJSON_CreateString("application/json"));
  cJSON_AddItemToObject(ev, "data", data);
out:
  free(val);
  if (rc != 0) {
    cJSON_Delete(ev);
    return rc;
  }
  *out = ev;
  return 0;
}
