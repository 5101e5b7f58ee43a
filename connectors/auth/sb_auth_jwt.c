/* Tokens: signing and verifying, and the secret. See sb_auth.h.
 *
 * A token is a compact JWS (RFC 7515) signed with HMAC-SHA256 (RFC 7518
 * "HS256") over a secret kept in the data directory. Verification is strict
 * and in this order, so that nothing an attacker sends is trusted before the
 * signature is checked: size, shape, base64url, header (alg), signature,
 * then claims and times. */
#include "sb_auth_int.h"

#include "sb_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAC_LEN 32                        /* SHA-256 */
#define PART_MAX (SB_JWT_MAX / 4 * 3 + 3) /* decoded size of any part */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

/* Writes b64_len(n) characters and a NUL. */
static void b64_encode(const unsigned char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
    out[o++] = b64url[v & 63];
  }
  if (n - i == 1) {
    unsigned v = (unsigned)in[i] << 16;
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
  } else if (n - i == 2) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
    out[o++] = b64url[v >> 18 & 63];
    out[o++] = b64url[v >> 12 & 63];
    out[o++] = b64url[v >> 6 & 63];
  }
  out[o] = '\0';
}

static int b64_val(char ch) {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '-')
    return 62;
  if (ch == '_')
    return 63;
  return -1;
}

/* Decodes exactly the canonical encoding: the alphabet only, no padding,
 * and the unused low bits of the last character zero (so one byte string
 * has one spelling and a signature cannot be altered unnoticed). out holds
 * n/4*3+2 bytes and gets a NUL after the data. -1 when not canonical. */
static int b64_decode(const char *in, size_t n, unsigned char *out,
                      size_t *outlen) {
  if (n % 4 == 1)
    return -1;
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_val(in[i]);
    if (v < 0)
      return -1;
    acc = (acc << 6 | (unsigned)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return -1;
  out[o] = '\0';
  *outlen = o;
  return 0;
}

/* Parses text (NUL-terminated, n bytes) as one JSON object and nothing
 * after it. Refuses what cJSON would read ambiguously: a NUL byte or a
 * \u0000 escape (cJSON ends the string there), and a key twice (cJSON
 * would answer with the first). NULL when refused. */
static cJSON *parse_object(const unsigned char *text, size_t n) {
  if (memchr(text, '\0', n) != NULL)
    return NULL;
  for (size_t i = 0; i + 1 < n; i++) {
    if (text[i] != '\\')
      continue;
    if (text[i + 1] == 'u' && i + 5 < n && memcmp(text + i + 2, "0000", 4) == 0)
      return NULL;
    i++; /* skip the escaped character */
  }
  cJSON *o = cJSON_ParseWithOpts((const char *)text, NULL, 1);
  if (o == NULL)
    return NULL;
  if (!cJSON_IsObject(o))
    goto bad;
  for (const cJSON *a = o->child; a; a = a->next)
    for (const cJSON *b = a->next; b; b = b->next)
      if (strcmp(a->string, b->string) == 0)
        goto bad;
  return o;
bad:
  cJSON_Delete(o);
  return NULL;
}

/* An integer claim: 1 present and good, 0 absent, -1 not an integer in
 * [0, 2^53]. */
static int int_claim(const cJSON *o, const char *key, int64_t *v) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  if (it == NULL)
    return 0;
  if (!cJSON_IsNumber(it))
    return -1;
  double d = it->valuedouble;
  if (!isfinite(d) || d < 0 || d > INT_CLAIM_MAX || floor(d) != d)
    return -1;
  *v = (int64_t)d;
  return 1;
}

/* Reads and checks an existing secret file; SB_ENOENT when there is none. */
static int read_secret(const char *path, unsigned char *secret, size_t *len,
                       sb_err_t *err) {
  char buf[512];
  int rc = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT)
      return SB_ENOENT; /* the caller says what to do about it */
    return sb_err_set(err, SB_EIO, "cannot open the JWT secret %s: %s", path,
                      strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = sb_err_set(err, SB_EIO, "cannot stat %s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = sb_err_set(err, SB_EINVAL, "the JWT secret %s is not a regular file",
                    path);
    goto out;
  }
  if ((st.st_mode & 077) != 0) {
    rc = sb_err_set(err, SB_EPERM,
                    "the JWT secret %s is accessible to group or others "
                    "(mode %04o): run 'chmod 600 %s'",
                    path, (unsigned)(st.st_mode & 07777), path);
    goto out;
  }
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = sb_err_set(err, SB_EIO, "cannot read %s: %s", path, strerror(errno));
      goto out;
    }
    if (r == 0 || (n += (size_t)r) == sizeof buf - 1)
      break;
  }
  buf[n] = '\0';
  char *hex = sb_trim(buf);
  size_t hn = strlen(hex);
  if (hn < 2 * SB_AUTH_SECRET_MIN || hn > 2 * SB_AUTH_SECRET_MAX || hn % 2) {
    rc = sb_err_set(err, SB_EINVAL,
                    "the JWT secret %s must hold %d to %d hex digits (%d to "
                    "%d bytes); it holds %zu characters",
                    path, 2 * SB_AUTH_SECRET_MIN, 2 * SB_AUTH_SECRET_MAX,
                    SB_AUTH_SECRET_MIN, SB_AUTH_SECRET_MAX, hn);
    goto out;
  }
  for (size_t i = 0; i < hn; i += 2) {
    int hi = sb_hex_nibble(hex[i]), lo = sb_hex_nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(secret, i / 2);
      rc = sb_err_set(err, SB_EINVAL,
                      "the JWT secret %s holds a character that is not a hex "
                      "digit (at offset %zu)",
                      path, i + (hi < 0 ? 0 : 1));
      goto out;
    }
    secret[i / 2] = (unsigned char)(hi << 4 | lo);
  }
  *len = hn / 2;
out:
  OPENSSL_cleanse(buf, sizeof buf);
  close(fd);
  return rc;
}

/* Makes a new secret at path unless one appears meanwhile: written whole to
 * a temporary name, then hard-linked into place, which fails when path
 * exists (rename would replace a secret another process already uses). */
static int create_secret(const char *data_dir, const char *path,
                         sb_err_t *err) {
  char tmp[PATH_MAX], hex[2 * SB_AUTH_SECRET_MIN + 2];
  long pid = (long)getpid();
  int rc;
  if ((rc = sb_mkdir_p(data_dir, 0700, err)) != 0 ||
      (rc = sb_fmt(tmp, sizeof tmp, err, "%s.new.%ld", path, pid)) != 0 ||
      (rc = sb_random_hex(hex, sizeof hex, SB_AUTH_SECRET_MIN, err)) != 0)
    return rc;
  size_t n = strlen(hex);
  hex[n++] = '\n';
  rc = sb_write_file(tmp, hex, n, 0600, err);
  OPENSSL_cleanse(hex, sizeof hex);
  if (rc != 0)
    return rc;
  if (link(tmp, path) != 0 && errno != EEXIST) {
    /* a file system without hard links: replace instead */
    if (rename(tmp, path) != 0) {
      int e = errno;
      unlink(tmp);
      return sb_err_set(err, SB_EIO, "cannot create the JWT secret %s: %s",
                        path, strerror(e));
    }
    return 0;
  }
  unlink(tmp);
  return 0;
}

int sb_auth_secret_load(const char *data_dir, int create, unsigned char *secret,
                        size_t *len, sb_err_t *err) {
  char path[PATH_MAX];
  *len = 0;
  if (data_dir == NULL || *data_dir == '\0')
    return sb_err_set(err, SB_ECONFIG, "no data directory for the JWT secret");
  if (sb_fmt(path, sizeof path, err, "%s/%s", data_dir, SB_AUTH_SECRET_FILE))
    return SB_EINVAL;
  int rc = read_secret(path, secret, len, err);
  if (rc == SB_ENOENT && create) {
    if ((rc = create_secret(data_dir, path, err)) != 0)
      return rc;
    rc = read_secret(path, secret, len, err);
  }
  if (rc == SB_ENOENT)
    return sb_err_set(err, SB_ENOENT,
                      "no JWT secret at %s: 'switchboard up' or 'switchboard "
                      "token' creates one",
                      path);
  return rc;
}

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static int check_secret(const unsigned char *secret, size_t len,
                        sb_err_t *err) {
  if (secret == NULL || len < SB_AUTH_SECRET_MIN || len > SB_AUTH_SECRET_MAX)
    return sb_err_set(err, SB_EINVAL, "the JWT secret must be %d to %d bytes",
                      SB_AUTH_SECRET_MIN, SB_AUTH_SECRET_MAX);
  return 0;
}

static int hmac(const unsigned char *secret, size_t len, const char *data,
                size_t n, unsigned char mac[MAC_LEN], sb_err_t *err) {
  unsigned int maclen = 0;
  if (HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)data, n, mac,
           &maclen) == NULL ||
      maclen != MAC_LEN)
    return sb_err_set(err, SB_ECRYPTO, "OpenSSL HMAC-SHA256 failed");
  return 0;
}

int sb_jwt_sign(const unsigned char *secret, size_t len, const sb_claims_t *c,
                char *out, size_t outsz, sb_err_t *err) {
  if (outsz > 0)
    out[0] = '\0';
  int rc;
  if ((rc = check_secret(secret, len, err)) != 0 ||
      (rc = sb_auth_claims_check(c, err)) != 0)
    return rc;
  char *payload = NULL;
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !cJSON_AddStringToObject(o, "sub", c->sub) ||
      !cJSON_AddStringToObject(o, "tenant", c->tenant) ||
      !cJSON_AddStringToObject(o, "role", sb_role_name(c->role)) ||
      !cJSON_AddNumberToObject(o, "iat", (double)c->iat) ||
      !cJSON_AddNumberToObject(o, "exp", (double)c->exp) ||
      (payload = cJSON_PrintUnformatted(o)) == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory signing a token");
    goto out;
  }
  size_t hl = sizeof jwt_header - 1, pl = strlen(payload);
  size_t need = b64_len(hl) + 1 + b64_len(pl) + 1 + b64_len(MAC_LEN);
  if (need > SB_JWT_MAX) {
    rc = sb_err_set(err, SB_EINVAL,
                    "the token would be %zu bytes; the limit is %d", need,
                    SB_JWT_MAX);
    goto out;
  }
  if (need + 1 > outsz) {
    rc = sb_err_set(err, SB_EINVAL,
                    "no room for the token: %zu bytes needed, %zu given",
                    need + 1, outsz);
    goto out;
  }
  b64_encode((const unsigned char *)jwt_header, hl, out);
  size_t at = strlen(out);
  out[at++] = '.';
  b64_encode((const unsigned char *)payload, pl, out + at);
  at += strlen(out + at);
  unsigned char mac[MAC_LEN];
  if ((rc = hmac(secret, len, out, at, mac, err)) != 0) {
    out[0] = '\0';
    goto out;
  }
  out[at++] = '.';
  b64_encode(mac, MAC_LEN, out + at);
out:
  cJSON_free(payload);
  cJSON_Delete(o);
  return rc;
}

/* Refuses a token: sets the reason and a message. The claims are emptied
 * unless keep (the signature was good). */
static int refuse(sb_claims_t *out, int keep, sb_auth_reason_t reason,
                  sb_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int refuse(sb_claims_t *out, int keep, sb_auth_reason_t reason,
                  sb_err_t *err, const char *fmt, ...) {
  if (!keep)
    memset(out, 0, sizeof *out);
  out->reason = reason;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sb_err_set(err, SB_EPERM, "%s", msg);
}

/* Checks the header (decoded, NUL-terminated). 0 or a refusal. */
static int check_header(const unsigned char *h, size_t n, sb_claims_t *out,
                        sb_err_t *err) {
  cJSON *o = parse_object(h, n);
  if (o == NULL)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token's header is not a JSON object");
  int rc = 0;
  const cJSON *alg = cJSON_GetObjectItemCaseSensitive(o, "alg");
  const cJSON *typ = cJSON_GetObjectItemCaseSensitive(o, "typ");
  if (alg == NULL) {
    rc = refuse(out, 0, SB_AUTH_BAD_ALG, err,
                "the token's header names no alg; only HS256 is accepted");
  } else if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0) {
    char safe[32];
    const char *a = cJSON_IsString(alg) ? sb__auth_safe_text(alg->valuestring,
                                                             safe, sizeof safe)
                                        : "(not a string)";
    rc = refuse(out, 0, SB_AUTH_BAD_ALG, err,
                "the token's alg is %s; only HS256 is accepted", a);
  } else if (typ != NULL &&
             (!cJSON_IsString(typ) || strcmp(typ->valuestring, "JWT") != 0)) {
    rc = refuse(out, 0, SB_AUTH_MALFORMED, err,
                "the token's header has a typ other than JWT");
  } else if (cJSON_GetObjectItemCaseSensitive(o, "crit") != NULL) {
    /* RFC 7515 4.1.11: unknown critical extensions must be refused */
    rc = refuse(out, 0, SB_AUTH_MALFORMED, err,
                "the token's header has crit extensions, which are not "
                "supported");
  }
  cJSON_Delete(o);
  return rc;
}

/* Reads and checks the claims (decoded, NUL-terminated) into out; *nbf is
 * the nbf claim, or -1 when absent. */
static int read_claims(const unsigned char *p, size_t n, sb_claims_t *out,
                       int64_t *nbf, sb_err_t *err) {
  cJSON *o = parse_object(p, n);
  if (o == NULL)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token's payload is not a JSON object");
  int rc = 0;
  const cJSON *sub = cJSON_GetObjectItemCaseSensitive(o, "sub");
  const cJSON *tenant = cJSON_GetObjectItemCaseSensitive(o, "tenant");
  const cJSON *role = cJSON_GetObjectItemCaseSensitive(o, "role");
  int64_t exp = 0, iat = 0;
  *nbf = -1;
  int has_exp = int_claim(o, "exp", &exp);
  int has_iat = int_claim(o, "iat", &iat);
  int has_nbf = int_claim(o, "nbf", nbf);
  sb_role_t r = SB_ROLE_AGENT;
  if (!cJSON_IsString(sub) || !sb_auth_sub_valid(sub->valuestring)) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's sub is missing or not 1 to %d bytes of text",
                SB_AUTH_SUB_MAX);
  } else if (!cJSON_IsString(tenant) ||
             !sb_tenant_valid(tenant->valuestring)) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's tenant is missing or not 1 to %d of A-Z a-z 0-9 "
                ". _ -",
                SB_TENANT_MAX);
  } else if (sb_tenant_reserved(tenant->valuestring)) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's tenant begins with '_', which is reserved for "
                "the engine; no token may name it");
  } else if (!cJSON_IsString(role) ||
             sb_role_parse(role->valuestring, &r, NULL) != 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's role is missing or not one of admin, manager, "
                "supervisor, agent");
  } else if (has_exp <= 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err, "the token's exp is %s",
                has_exp == 0 ? "missing" : "not a whole number of seconds");
  } else if (has_iat < 0 || has_nbf < 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's %s is not a whole number of seconds",
                has_iat < 0 ? "iat" : "nbf");
  } else if (has_iat && iat >= exp) {
    rc = refuse(out, 0, SB_AUTH_BAD_CLAIMS, err,
                "the token's exp is not after its iat");
  } else {
    /* lengths were checked by the validators */
    memcpy(out->sub, sub->valuestring, strlen(sub->valuestring) + 1);
    memcpy(out->tenant, tenant->valuestring, strlen(tenant->valuestring) + 1);
    out->role = r;
    out->iat = iat;
    out->exp = exp;
  }
  if (has_nbf <= 0)
    *nbf = -1;
  cJSON_Delete(o);
  return rc;
}

/* One part of a token: decodes it into buf (PART_MAX + 1 bytes). */
static int decode_part(const char *s, size_t n, const char *what,
                       unsigned char *buf, size_t *len, sb_claims_t *out,
                       sb_err_t *err) {
  if (n == 0)
    return refuse(out, 0, SB_AUTH_MALFORMED, err, "the token's %s is empty",
                  what);
  if (b64_decode(s, n, buf, len) != 0)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token's %s is not unpadded base64url", what);
  return 0;
}

int sb_jwt_verify(const unsigned char *secret, size_t len, const char *token,
                  int64_t now_s, sb_claims_t *out, sb_err_t *err) {
  memset(out, 0, sizeof *out);
  out->reason = SB_AUTH_OK;
  if (check_secret(secret, len, err) != 0)
    return SB_EINVAL;
  if (token == NULL || *token == '\0')
    return refuse(out, 0, SB_AUTH_MISSING, err, "no token was presented");
  size_t n = strnlen(token, SB_JWT_MAX + 1);
  if (n > SB_JWT_MAX)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token is longer than %d bytes", SB_JWT_MAX);
  size_t parts = 1;
  for (size_t i = 0; i < n; i++)
    parts += token[i] == '.';
  if (parts != 3)
    return refuse(out, 0, SB_AUTH_MALFORMED, err,
                  "the token has %zu part%s separated by '.'; a JWT has 3",
                  parts, parts == 1 ? "" : "s");
  const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
  size_t hn = (size_t)(d1 - token), pn = (size_t)(d2 - d1 - 1);
  size_t sn = n - (size_t)(d2 + 1 - token);

  int rc;
  unsigned char *h = malloc(3 * (PART_MAX + 1));
  if (h == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory verifying a token");
  unsigned char *p = h + PART_MAX + 1, *sig = p + PART_MAX + 1;
  size_t hl = 0, pl = 0, sl = 0;
  if ((rc = decode_part(token, hn, "header", h, &hl, out, err)) != 0 ||
      (rc = decode_part(d1 + 1, pn, "payload", p, &pl, out, err)) != 0 ||
      (rc = decode_part(d2 + 1, sn, "signature", sig, &sl, out, err)) != 0 ||
      (rc = check_header(h, hl, out, err)) != 0)
    goto out;

  unsigned char mac[MAC_LEN];
  if ((rc = hmac(secret, len, token, (size_t)(d2 - token), mac, err)) != 0)
    goto out;
  /* the length is no secret; the bytes are compared in constant time */
  if (sl != MAC_LEN || CRYPTO_memcmp(mac, sig, MAC_LEN) != 0) {
    rc = refuse(out, 0, SB_AUTH_BAD_SIGNATURE, err,
                "the token's signature does not match: it was signed with "
                "another secret, or altered");
    goto out;
  }

  int64_t nbf = -1;
  if ((rc = read_claims(p, pl, out, &nbf, err)) != 0)
    goto out;
  /* From here the claims are the token's own: a refusal keeps them. */
  if (out->exp <= now_s)
    rc = refuse(out, 1, SB_AUTH_EXPIRED, err, "the token expired %lld s ago",
                (long long)(now_s - out->exp));
  else if (out->iat > now_s + SB_AUTH_FUTURE_LEEWAY_S)
    rc = refuse(out, 1, SB_AUTH_NOT_YET_VALID, err,
                "the token's iat is %lld s in the future (at most %d s of "
                "clock skew is allowed)",
                (long long)(out->iat - now_s), SB_AUTH_FUTURE_LEEWAY_S);
  else if (nbf > now_s + SB_AUTH_FUTURE_LEEWAY_S)
    rc = refuse(out, 1, SB_AUTH_NOT_YET_VALID, err,
                "the token is not valid for another %lld s (nbf)",
                (long long)(nbf - now_s));
out:
  free(h);
  return rc;
}
