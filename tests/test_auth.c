/* Unit tests: tokens (HS256 JWT), the signing secret, roles and the
 * permission table, and `switchboard token`.
 *
 * Tokens with odd headers or claims are forged here with OpenSSL's HMAC and
 * base64 directly, not with sb_jwt_sign, and the known-answer vectors were
 * computed in the shell:
 *   b64u() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
 *   h=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64u)
 *   p=$(printf '%s' '{"sub":"dev",...}' | b64u)
 *   s=$(printf '%s.%s' "$h" "$p" |
 *       openssl dgst -sha256 -hmac "$SECRET" -binary | b64u) */
#include "sb_auth.h"
#include "sb_cmds.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char K1[] = "switchboard-test-secret-32-bytes"; /* 32 bytes */
static const char K2[] = "another-secret-of-thirty-two-by!"; /* 32 bytes */
#define KEY(k) ((const unsigned char *)(k)), (sizeof(k) - 1)

#define T0 1700000000LL /* iat of the fixtures: 2023-11-14T22:13:20Z */

/* ---- helpers ----------------------------------------------------------- */

/* base64url without padding, through OpenSSL's plain base64. */
static void b64u(const void *in, size_t n, char *out) {
  EVP_EncodeBlock((unsigned char *)out, in, (int)n);
  size_t j = 0;
  for (size_t i = 0; out[i]; i++) {
    if (out[i] == '=')
      continue;
    out[j++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
  }
  out[j] = '\0';
}

/* header.payload.HMAC-SHA256(key), each part base64url: a token signed
 * properly over whatever header and payload the test wants. */
char *sbt_forge(const char *header, const char *payload, const char *key) {
  size_t hn = strlen(header), pn = strlen(payload);
  char *t = malloc((hn + pn + 64) * 2);
  b64u(header, hn, t);
  size_t at = strlen(t);
  t[at++] = '.';
  b64u(payload, pn, t + at);
  at += strlen(t + at);
  unsigned char mac[32];
  unsigned int ml = 0;
  HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)t, at, mac, &ml);
  t[at++] = '.';
  b64u(mac, ml, t + at);
  return t;
}

static const char *H = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static sb_claims_t claims(const char *sub, const char *tenant, sb_role_t role,
                          int64_t iat, int64_t exp) {
  sb_claims_t c;
  memset(&c, 0, sizeof c);
  snprintf(c.sub, sizeof c.sub, "%s", sub);
  snprintf(c.tenant, sizeof c.tenant, "%s", tenant);
  c.role = role;
  c.iat = iat;
  c.exp = exp;
  return c;
}

/* Expects verify to refuse token with reason, and checks the message holds
 * neither the secret, the signature nor the token. Returns 1 on failure. */
static int refused(const char *token, const char *key, int64_t now,
                   sb_auth_reason_t reason, int line) {
  sb_err_t err = SB_ERR_INIT;
  sb_claims_t c;
  int rc = sb_jwt_verify((const unsigned char *)key, strlen(key), token, now,
                         &c, &err);
  if (rc != SB_EPERM || c.reason != reason) {
    fprintf(stderr, "line %d: expected %s, got rc %s reason %s: %s\n", line,
            sb_auth_reason_name(reason), sb_err_name(rc),
            sb_auth_reason_name(c.reason), err.msg);
    return 1;
  }
  const char *sig = token ? strrchr(token, '.') : NULL;
  if (err.msg[0] == '\0' || strstr(err.msg, key) != NULL ||
      (sig && strlen(sig) > 8 && strstr(err.msg, sig + 1) != NULL) ||
      (token && strlen(token) > 8 && strstr(err.msg, token) != NULL)) {
    fprintf(stderr, "line %d: message leaks or is empty: %s\n", line, err.msg);
    return 1;
  }
  if (reason != SB_AUTH_EXPIRED && reason != SB_AUTH_NOT_YET_VALID &&
      (c.tenant[0] || c.sub[0])) {
    fprintf(stderr, "line %d: claims of an unverified token kept\n", line);
    return 1;
  }
  return 0;
}
#define REFUSED(tok, key, now, reason)                                         \
  CHECK(refused((tok), (key), (now), (reason), __LINE__) == 0)

/* A forged token with header H over payload, checked for reason. */
#define FORGED_REFUSED(payload, reason)                                        \
  do {                                                                         \
    char *t_ = sbt_forge(H, (payload), K1);                                        \
    int r_ = refused(t_, K1, T0 + 10, (reason), __LINE__);                     \
    free(t_);                                                                  \
    CHECK(r_ == 0);                                                            \
  } while (0)

static int verify_ok(const char *token, const char *key, int64_t now,
                     sb_claims_t *c) {
  sb_err_t err = SB_ERR_INIT;
  int rc = sb_jwt_verify((const unsigned char *)key, strlen(key), token, now, c,
                         &err);
  if (rc != 0)
    fprintf(stderr, "verify refused (%s): %s\n", sb_auth_reason_name(c->reason),
            err.msg);
  return rc;
}

/* ---- tokens ------------------------------------------------------------ */

int test_auth_jwt_roundtrip(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1];
  for (int r = 0; r < SB_ROLE_COUNT; r++) {
    sb_claims_t in = claims("user-42", "acme", (sb_role_t)r, T0, T0 + 3600);
    in.reason = SB_AUTH_EXPIRED; /* ignored when signing */
    CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
    sb_claims_t out;
    CHECK_INT(verify_ok(tok, K1, T0 + 10, &out), 0);
    CHECK_INT(out.reason, SB_AUTH_OK);
    CHECK_STR(out.sub, "user-42");
    CHECK_STR(out.tenant, "acme");
    CHECK_INT(out.role, r);
    CHECK_INT(out.iat, T0);
    CHECK_INT(out.exp, T0 + 3600);
  }
  /* boundaries: the longest sub and tenant, non-ASCII text in sub */
  char sub[SB_AUTH_SUB_MAX + 1], tenant[SB_TENANT_MAX + 1];
  memset(sub, 's', SB_AUTH_SUB_MAX);
  sub[SB_AUTH_SUB_MAX] = '\0';
  memset(tenant, 't', SB_TENANT_MAX);
  tenant[SB_TENANT_MAX] = '\0';
  sb_claims_t in = claims(sub, tenant, SB_ROLE_MANAGER, T0, T0 + 1);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  sb_claims_t out;
  CHECK_INT(verify_ok(tok, K1, T0, &out), 0);
  CHECK_STR(out.sub, sub);
  CHECK_STR(out.tenant, tenant);
  in = claims("Zoë \"quoted\" O'Brien", "A.b_c-9", SB_ROLE_AGENT, 0,
              4102444800LL);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  CHECK_INT(verify_ok(tok, K1, T0, &out), 0);
  CHECK_STR(out.sub, "Zoë \"quoted\" O'Brien");
  CHECK_INT(out.exp, 4102444800LL);

  /* the signer refuses what the verifier would */
  char small[40];
  in = claims("dev", "acme", SB_ROLE_AGENT, T0, T0 + 60);
  CHECK_INT(sb_jwt_sign(KEY(K1), &in, small, sizeof small, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "no room");
  CHECK_STR(small, "");
  const sb_claims_t bad[] = {
      claims("", "acme", SB_ROLE_AGENT, T0, T0 + 60),
      claims("a\tb", "acme", SB_ROLE_AGENT, T0, T0 + 60),
      claims("dev", "ac me", SB_ROLE_AGENT, T0, T0 + 60),
      claims("dev", "", SB_ROLE_AGENT, T0, T0 + 60),
      claims("dev", "acme", (sb_role_t)7, T0, T0 + 60),
      claims("dev", "acme", SB_ROLE_AGENT, T0, T0),
      claims("dev", "acme", SB_ROLE_AGENT, -5, T0),
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sb_err_clear(&err);
    CHECK_INT(sb_jwt_sign(KEY(K1), &bad[i], tok, sizeof tok, &err), SB_EINVAL);
  }
  return 0;
}

int test_auth_jwt_expired(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1];
  sb_claims_t in = claims("dev", "acme", SB_ROLE_AGENT, T0, T0 + 3600);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  sb_claims_t out;
  CHECK_INT(verify_ok(tok, K1, T0 + 3599, &out), 0);
  REFUSED(tok, K1, T0 + 3600, SB_AUTH_EXPIRED); /* exp itself is too late */
  REFUSED(tok, K1, T0 + 86400, SB_AUTH_EXPIRED);
  /* the signature was good: the claims say whose token expired */
  CHECK_INT(sb_jwt_verify(KEY(K1), tok, T0 + 3700, &out, &err), SB_EPERM);
  CHECK_STR(sb_auth_reason_name(out.reason), "expired");
  CHECK_STR(out.tenant, "acme");
  CHECK_STR(out.sub, "dev");
  CHECK_HAS(err.msg, "expired 100 s ago");
  /* exp is required */
  FORGED_REFUSED("{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\"}",
                 SB_AUTH_BAD_CLAIMS);
  return 0;
}

int test_auth_jwt_future_iat(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1];
  sb_claims_t out;
  /* issued by a clock 60 s ahead: tolerated; 61 s: refused */
  sb_claims_t in = claims("dev", "acme", SB_ROLE_AGENT, T0 + 60, T0 + 3600);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  CHECK_INT(verify_ok(tok, K1, T0, &out), 0);
  in.iat = T0 + 61;
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  REFUSED(tok, K1, T0, SB_AUTH_NOT_YET_VALID);
  CHECK_INT(sb_jwt_verify(KEY(K1), tok, T0, &out, &err), SB_EPERM);
  CHECK_STR(sb_auth_reason_name(out.reason), "not_yet_valid");
  CHECK_HAS(err.msg, "61 s in the future");
  /* nbf likewise */
  char *t = sbt_forge(H,
                  "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
                  "\"nbf\":1700000070,\"exp\":1700003600}",
                  K1);
  REFUSED(t, K1, T0 + 9, SB_AUTH_NOT_YET_VALID);
  CHECK_INT(verify_ok(t, K1, T0 + 10, &out), 0);
  CHECK_INT(out.iat, 0); /* absent */
  free(t);
  FORGED_REFUSED("{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
                 "\"nbf\":\"soon\",\"exp\":1700003600}",
                 SB_AUTH_BAD_CLAIMS);
  return 0;
}

/* Replaces the payload of tok with payload, keeping header and signature. */
static void swap_payload(char *tok, const char *payload) {
  char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
  char sig[128], enc[1024];
  snprintf(sig, sizeof sig, "%s", d2);
  b64u(payload, strlen(payload), enc);
  snprintf(d1 + 1, SB_JWT_MAX - (size_t)(d1 - tok), "%s%s", enc, sig);
}

int test_auth_jwt_tampered_payload(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1];
  sb_claims_t in = claims("dev", "acme", SB_ROLE_AGENT, T0, T0 + 3600);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  /* the same claims re-encoded verify: the edits below are what fails */
  char same[SB_JWT_MAX + 1];
  snprintf(same, sizeof same, "%s", tok);
  swap_payload(same, "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
                     "\"iat\":1700000000,\"exp\":1700003600}");
  CHECK_STR(same, tok);
  const char *edits[] = {
      "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"admin\","
      "\"iat\":1700000000,\"exp\":1700003600}",
      "{\"sub\":\"dev\",\"tenant\":\"other\",\"role\":\"agent\","
      "\"iat\":1700000000,\"exp\":1700003600}",
      "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
      "\"iat\":1700000000,\"exp\":1800003600}",
      "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
      "\"iat\":1700000000,\"exp\":1700003600} ",
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    char t[SB_JWT_MAX + 1];
    snprintf(t, sizeof t, "%s", tok);
    swap_payload(t, edits[i]);
    REFUSED(t, K1, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  }
  /* the header too is signed */
  char t[SB_JWT_MAX + 1], hdr[128];
  b64u("{\"typ\":\"JWT\",\"alg\":\"HS256\"}", 27, hdr);
  snprintf(t, sizeof t, "%s%s", hdr, strchr(tok, '.'));
  REFUSED(t, K1, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  return 0;
}

int test_auth_jwt_tampered_signature(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1], t[2 * SB_JWT_MAX];
  sb_claims_t in = claims("dev", "acme", SB_ROLE_AGENT, T0, T0 + 3600);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  char *sig = strrchr(tok, '.') + 1;
  size_t sn = strlen(sig), off = (size_t)(sig - tok);
  CHECK_INT(sn, 43); /* 32 bytes */
  /* every character position altered, one at a time */
  for (size_t i = 0; i + 1 < sn; i++) {
    snprintf(t, sizeof t, "%s", tok);
    t[off + i] = t[off + i] == 'A' ? 'B' : 'A';
    REFUSED(t, K1, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  }
  /* the last character carries 4 unused bits: a non-canonical spelling of
   * the same bytes is refused as malformed, not accepted */
  snprintf(t, sizeof t, "%s", tok);
  t[off + sn - 1] = (t[off + sn - 1] == 'A') ? 'B' : 'A';
  CHECK(sb_jwt_verify(KEY(K1), t, T0 + 10, &in, &err) == SB_EPERM);
  CHECK(in.reason == SB_AUTH_MALFORMED || in.reason == SB_AUTH_BAD_SIGNATURE);
  /* shorter and longer signatures */
  snprintf(t, sizeof t, "%.*s", (int)(off + sn - 3), tok); /* 30 bytes */
  REFUSED(t, K1, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  snprintf(t, sizeof t, "%sAAAA", tok);
  REFUSED(t, K1, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  /* an HS512-sized signature over the same input */
  unsigned char mac[64];
  unsigned int ml = 0;
  HMAC(EVP_sha512(), K1, 32, (unsigned char *)tok, off - 1, mac, &ml);
  memcpy(t, tok, off);
  b64u(mac, ml, t + off);
  REFUSED(t, K1, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  return 0;
}

int test_auth_jwt_bad_alg(void) {
  const char *p = "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"admin\","
                  "\"iat\":1700000000,\"exp\":1700003600}";
  static const struct {
    const char *header;
    sb_auth_reason_t reason;
  } cases[] = {
      {"{\"alg\":\"none\",\"typ\":\"JWT\"}", SB_AUTH_BAD_ALG},
      {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", SB_AUTH_BAD_ALG},
      {"{\"alg\":\"RS256\",\"typ\":\"JWT\"}", SB_AUTH_BAD_ALG},
      {"{\"alg\":\"hs256\"}", SB_AUTH_BAD_ALG},
      {"{\"alg\":\"HS256 \"}", SB_AUTH_BAD_ALG},
      {"{\"alg\":null}", SB_AUTH_BAD_ALG},
      {"{\"alg\":256}", SB_AUTH_BAD_ALG},
      {"{\"typ\":\"JWT\"}", SB_AUTH_BAD_ALG},
      {"{\"ALG\":\"HS256\"}", SB_AUTH_BAD_ALG},
      {"{}", SB_AUTH_BAD_ALG},
      {"{\"alg\":\"HS256\",\"alg\":\"none\"}", SB_AUTH_MALFORMED},
      {"{\"alg\":\"HS256\",\"typ\":\"JWE\"}", SB_AUTH_MALFORMED},
      {"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", SB_AUTH_MALFORMED},
      {"not json", SB_AUTH_MALFORMED},
      {"[\"HS256\"]", SB_AUTH_MALFORMED},
      {"\"HS256\"", SB_AUTH_MALFORMED},
      {"{\"alg\":\"HS256\"} x", SB_AUTH_MALFORMED},
      {"{\"alg\":\"HS256\"", SB_AUTH_MALFORMED},
      {"", SB_AUTH_MALFORMED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *t = sbt_forge(cases[i].header, p, K1);
    int r = refused(t, K1, T0 + 10, cases[i].reason, __LINE__);
    if (r)
      fprintf(stderr, "  header %s\n", cases[i].header);
    free(t);
    CHECK(r == 0);
  }
  /* whitespace and extra header parameters are fine */
  sb_claims_t out;
  char *t = sbt_forge(
      "{ \"typ\" : \"JWT\",\r\n \"alg\" : \"HS256\", \"kid\":\"1\" }", p, K1);
  CHECK_INT(verify_ok(t, K1, T0 + 10, &out), 0);
  free(t);
  /* the classic: alg none and no signature at all */
  char hdr[64], pay[256], tok[400];
  b64u("{\"alg\":\"none\"}", 14, hdr);
  b64u(p, strlen(p), pay);
  snprintf(tok, sizeof tok, "%s.%s.", hdr, pay);
  REFUSED(tok, K1, T0 + 10, SB_AUTH_MALFORMED);
  /* the message names the algorithm, sanitised */
  sb_err_t err = SB_ERR_INIT;
  t = sbt_forge("{\"alg\":\"none\\n<b>\"}", p, K1);
  CHECK_INT(sb_jwt_verify(KEY(K1), t, T0 + 10, &out, &err), SB_EPERM);
  CHECK_HAS(err.msg, "alg is none??b?; only HS256");
  free(t);
  return 0;
}

int test_auth_jwt_parts(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1], t[2 * SB_JWT_MAX];
  sb_claims_t in = claims("dev", "acme", SB_ROLE_AGENT, T0, T0 + 3600);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  sb_claims_t out;
  CHECK_INT(sb_jwt_verify(KEY(K1), NULL, T0, &out, &err), SB_EPERM);
  CHECK_STR(sb_auth_reason_name(out.reason), "missing");
  REFUSED("", K1, T0, SB_AUTH_MISSING);
  REFUSED("abc", K1, T0, SB_AUTH_MALFORMED);
  REFUSED("..", K1, T0, SB_AUTH_MALFORMED);
  REFUSED("...", K1, T0, SB_AUTH_MALFORMED);
  *strrchr(strcpy(t, tok), '.') = '\0'; /* header.payload */
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  snprintf(t, sizeof t, "%s.", tok); /* four parts, the last empty */
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  snprintf(t, sizeof t, "%s.%s", tok, strrchr(tok, '.') + 1);
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  snprintf(t, sizeof t, ".%s", strchr(tok, '.') + 1); /* empty header */
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  /* empty payload */
  snprintf(t, sizeof t, "%.*s.%s", (int)(strchr(tok, '.') - tok), tok,
           strrchr(tok, '.'));
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  sb_err_clear(&err);
  CHECK_INT(sb_jwt_verify(KEY(K1), "a.b.c.d", T0, &out, &err), SB_EPERM);
  CHECK_HAS(err.msg, "4 parts");
  return 0;
}

int test_auth_jwt_base64(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1], t[2 * SB_JWT_MAX];
  sb_claims_t in = claims("dev", "acme", SB_ROLE_AGENT, T0, T0 + 3600);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  size_t d1 = (size_t)(strchr(tok, '.') - tok);
  size_t d2 = (size_t)(strrchr(tok, '.') - tok);
  /* padding on the signature (43 chars: one '=' would pad it to 44) */
  snprintf(t, sizeof t, "%s=", tok);
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  /* padding after the payload */
  snprintf(t, sizeof t, "%.*s=%s", (int)d2, tok, tok + d2);
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  /* standard base64's '+' and '/', spaces, other bytes */
  const char subs[] = {'+', '/', ' ', '\t', '\n', '*', '~', '\x80'};
  for (size_t i = 0; i < sizeof subs; i++) {
    size_t at[] = {0, d1 + 1, d2 + 1};
    for (size_t k = 0; k < 3; k++) {
      snprintf(t, sizeof t, "%s", tok);
      t[at[k] + 2] = subs[i];
      REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
    }
  }
  /* a length no base64 has (4n+1) */
  sb_claims_t out;
  snprintf(t, sizeof t, "eyJhbGciOiJIUzI1NiJ9A%s", tok + d1);
  REFUSED(t, K1, T0 + 10, SB_AUTH_MALFORMED);
  sb_err_clear(&err);
  CHECK_INT(sb_jwt_verify(KEY(K1), t, T0 + 10, &out, &err), SB_EPERM);
  CHECK_HAS(err.msg, "header is not unpadded base64url");
  /* the same header canonically encoded gets further (to the signature) */
  snprintf(t, sizeof t, "eyJhbGciOiJIUzI1NiJ9%s", tok + d1);
  REFUSED(t, K1, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  return 0;
}

int test_auth_jwt_oversize(void) {
  /* a signed payload padded with an extra claim to just fit, then one
   * character too many */
  char pay[SB_JWT_MAX];
  const char *head = "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
                     "\"exp\":1700003600,\"pad\":\"";
  size_t room = 0;
  char *t = NULL;
  /* find the largest pad whose token is <= SB_JWT_MAX */
  for (room = 2800; room < 3100; room++) {
    snprintf(pay, sizeof pay, "%s%0*d\"}", head, (int)room, 0);
    t = sbt_forge(H, pay, K1);
    size_t n = strlen(t);
    free(t);
    if (n > SB_JWT_MAX)
      break;
  }
  snprintf(pay, sizeof pay, "%s%0*d\"}", head, (int)room - 1, 0);
  t = sbt_forge(H, pay, K1);
  CHECK(strlen(t) <= SB_JWT_MAX);
  sb_claims_t out;
  CHECK_INT(verify_ok(t, K1, T0, &out), 0);
  free(t);
  snprintf(pay, sizeof pay, "%s%0*d\"}", head, (int)room, 0);
  t = sbt_forge(H, pay, K1);
  CHECK(strlen(t) > SB_JWT_MAX);
  sb_err_t err = SB_ERR_INIT;
  CHECK_INT(sb_jwt_verify(KEY(K1), t, T0, &out, &err), SB_EPERM);
  CHECK_INT(out.reason, SB_AUTH_MALFORMED);
  CHECK_HAS(err.msg, "longer than 4096 bytes");
  free(t);
  /* a megabyte of junk is refused by its length alone */
  char *big = malloc(1 << 20);
  memset(big, 'A', (1 << 20) - 1);
  big[(1 << 20) - 1] = '\0';
  REFUSED(big, K1, T0, SB_AUTH_MALFORMED);
  free(big);
  /* the signer needs room for the token and its NUL, no more */
  sb_claims_t in = claims("dev", "acme", SB_ROLE_AGENT, T0, T0 + 60);
  char tok[SB_JWT_MAX + 1];
  sb_err_clear(&err);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  size_t tn = strlen(tok);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, tn + 1, &err), &err);
  CHECK_INT(sb_jwt_sign(KEY(K1), &in, tok, tn, &err), SB_EINVAL);
  return 0;
}

int test_auth_jwt_bad_claims(void) {
#define P(rest) "{" rest "}"
#define GOOD_REST "\"iat\":1700000000,\"exp\":1700003600"
  static const char *const bad[] = {
      /* sub */
      P("\"tenant\":\"acme\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"\",\"tenant\":\"acme\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":7,\"tenant\":\"acme\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":null,\"tenant\":\"acme\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"a\\nb\",\"tenant\":\"acme\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"x123456789x123456789x123456789x123456789x123456789"
        "x123456789x123456789x123456789x123456789x123456789"
        "x123456789x123456789x123456789\",\"tenant\":\"acme\","
        "\"role\":\"agent\"," GOOD_REST), /* 130 bytes */
      /* tenant */
      P("\"sub\":\"dev\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"ac me\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"acme/..\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"acmé\",\"role\":\"agent\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":[\"acme\"],\"role\":\"agent\"," GOOD_REST),
      P(
          "\"sub\":\"dev\",\"tenant\":\"t123456789t123456789t123456789"
          "t123456789t123456789t123456789t1234\",\"role\":"
          "\"agent\"," GOOD_REST), /* 65 */
      /* role */
      P("\"sub\":\"dev\",\"tenant\":\"acme\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"root\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"Admin\"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"admin \"," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":0," GOOD_REST),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":[\"admin\"]," GOOD_REST),
      /* times */
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
        "\"exp\":\"1700003600\""),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
        "\"exp\":1700003600.5"),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
        "\"exp\":-1"),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
        "\"exp\":1e300"),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
        "\"exp\":true"),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
        "\"iat\":1700003600,\"exp\":1700003600"),
      P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
        "\"iat\":\"now\",\"exp\":1700003600"),
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *t = sbt_forge(H, bad[i], K1);
    int r = refused(t, K1, T0 + 10, SB_AUTH_BAD_CLAIMS, __LINE__);
    if (r)
      fprintf(stderr, "  payload %s\n", bad[i]);
    free(t);
    CHECK(r == 0);
  }
  /* payloads that are not one JSON object, or are ambiguous */
  static const char *const malformed[] =
      {
          "[1,2]",
          "\"dev\"",
          "nope",
          P(
              "\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":"
              "\"agent\"," GOOD_REST) " {}",
          P("\"sub\":\"dev\",\"tenant\":\"acme\",\"tenant\":\"other\","
            "\"role\":\"agent\"," GOOD_REST),
          P("\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
            "\"role\":\"admin\"," GOOD_REST),
          /* cJSON would end the string at the NUL: "a" */
          P("\"sub\":\"a\\u0000b\",\"tenant\":\"acme\",\"role\":"
            "\"agent\"," GOOD_REST),
      };
  for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
    char *t = sbt_forge(H, malformed[i], K1);
    int r = refused(t, K1, T0 + 10, SB_AUTH_MALFORMED, __LINE__);
    if (r)
      fprintf(stderr, "  payload %s\n", malformed[i]);
    free(t);
    CHECK(r == 0);
  }
  /* unknown claims are ignored; the boundaries pass */
  char *t = sbt_forge(H,
                  P("\"iss\":\"crm\",\"sub\":\"x\",\"tenant\":\"a\","
                    "\"role\":\"supervisor\",\"extra\":{\"n\":[1,2]},"
                    "\"exp\":1700000011"),
                  K1);
  sb_claims_t out;
  CHECK_INT(verify_ok(t, K1, T0 + 10, &out), 0);
  CHECK_INT(out.role, SB_ROLE_SUPERVISOR);
  free(t);
  /* an embedded NUL byte in the decoded payload */
  char pay[128], hdr[64], tok[512];
  const char raw[] = "{\"sub\":\"dev\",\"tenant\":\"acme\",\"role\":\"agent\","
                     "\"exp\":1700003600}\0junk";
  b64u(H, strlen(H), hdr);
  b64u(raw, sizeof raw - 1, pay);
  snprintf(tok, sizeof tok, "%s.%s", hdr, pay);
  unsigned char mac[32];
  unsigned int ml;
  HMAC(EVP_sha256(), K1, 32, (unsigned char *)tok, strlen(tok), mac, &ml);
  size_t at = strlen(tok);
  tok[at++] = '.';
  b64u(mac, ml, tok + at);
  REFUSED(tok, K1, T0 + 10, SB_AUTH_MALFORMED);
#undef P
#undef GOOD_REST
  return 0;
}

int test_auth_jwt_wrong_secret(void) {
  sb_err_t err = SB_ERR_INIT;
  char tok[SB_JWT_MAX + 1];
  sb_claims_t in = claims("dev", "acme", SB_ROLE_ADMIN, T0, T0 + 3600);
  CHECK_OK(sb_jwt_sign(KEY(K1), &in, tok, sizeof tok, &err), &err);
  REFUSED(tok, K2, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  sb_err_clear(&err);
  sb_claims_t out;
  CHECK_INT(sb_jwt_verify(KEY(K2), tok, T0 + 10, &out, &err), SB_EPERM);
  CHECK_HAS(err.msg, "signature does not match");
  CHECK_STR(out.tenant, ""); /* an unverified token says nothing */
  /* a key that is a prefix or an extension of the right one */
  char longer[64];
  snprintf(longer, sizeof longer, "%s!", K1);
  REFUSED(tok, longer, T0 + 10, SB_AUTH_BAD_SIGNATURE);
  /* secrets of the wrong size are the caller's error, not a refusal */
  sb_err_clear(&err);
  CHECK_INT(sb_jwt_verify((const unsigned char *)K1, 31, tok, T0, &out, &err),
            SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(
      sb_jwt_sign((const unsigned char *)K1, 31, &in, tok, sizeof tok, &err),
      SB_EINVAL);
  unsigned char big[65] = {0};
  sb_err_clear(&err);
  CHECK_INT(sb_jwt_sign(big, sizeof big, &in, tok, sizeof tok, &err),
            SB_EINVAL);
  CHECK_OK(sb_jwt_sign(big, 64, &in, tok, sizeof tok, &err), &err);
  return 0;
}

/* ---- known answers ----------------------------------------------------- */

int test_auth_jwt_known_answers(void) {
  /* computed with openssl dgst -sha256 -hmac "$K1" and base64 (see top) */
  static const char v1[] =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiJkZXYiLCJ0ZW5hbnQiOiJhY21lIiwicm9sZSI6ImFnZW50IiwiaWF0IjoxNzAw"
      "MDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9."
      "2Kgg8KtKiDqnGdJgPIywENYpfAs1TXVFpS_sUGMk0UA";
  static const char v2[] =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiJhZ2VudC03QGFjbWUuZXhhbXBsZSIsInRlbmFudCI6ImFjbWUtdWsuMSIsInJv"
      "bGUiOiJzdXBlcnZpc29yIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9."
      "SCEuPzt0Kajh7IQWUcUdfS-A0RfCuvus0Chidxs9-Gc";
  /* properly MACed, but naming alg none / HS512 */
  static const char v_none[] =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
      "eyJzdWIiOiJkZXYiLCJ0ZW5hbnQiOiJhY21lIiwicm9sZSI6ImFkbWluIiwiaWF0IjoxNzAw"
      "MDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9."
      "L3kDAARJdSZ3179nrze3YBFYJZqzSye5EzZ8vh557Xo";
  static const char v_hs512[] =
      "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiJkZXYiLCJ0ZW5hbnQiOiJhY21lIiwicm9sZSI6ImFkbWluIiwiaWF0IjoxNzAw"
      "MDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9."
      "uITqYvxqYjWNdpXhkIL04uCcrrmwzlO2vo08En5wEwU";
  sb_err_t err = SB_ERR_INIT;
  sb_claims_t out;
  CHECK_INT(verify_ok(v1, K1, T0 + 10, &out), 0);
  CHECK_STR(out.sub, "dev");
  CHECK_STR(out.tenant, "acme");
  CHECK_INT(out.role, SB_ROLE_AGENT);
  CHECK_INT(out.exp, 1700003600);
  char tok[SB_JWT_MAX + 1];
  CHECK_OK(sb_jwt_sign(KEY(K1), &out, tok, sizeof tok, &err), &err);
  CHECK_STR(tok, v1); /* byte for byte what the shell made */

  CHECK_INT(verify_ok(v2, K1, T0 + 10, &out), 0);
  CHECK_STR(out.sub, "agent-7@acme.example");
  CHECK_STR(out.tenant, "acme-uk.1");
  CHECK_INT(out.role, SB_ROLE_SUPERVISOR);
  CHECK_INT(out.exp, 4102444800LL); /* beyond 32 bits */
  CHECK_OK(sb_jwt_sign(KEY(K1), &out, tok, sizeof tok, &err), &err);
  CHECK_STR(tok, v2);

  REFUSED(v_none, K1, T0 + 10, SB_AUTH_BAD_ALG);
  REFUSED(v_hs512, K1, T0 + 10, SB_AUTH_BAD_ALG);

  /* RFC 7515 appendix A.1: its HS256 example. The signature checks out
   * with the RFC's key; its claims are not ours (no sub), so the refusal is
   * about claims, which proves the MAC matched. */
  static const char rfc[] =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
      "bS9pc19yb290Ijp0cnVlfQ."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  static const unsigned char rfc_key[64] = {
      0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06,
      0x65, 0x77, 0x7b, 0xa6, 0x8f, 0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54,
      0xc9, 0x28, 0xa9, 0x0f, 0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf, 0xd3,
      0xfb, 0x5a, 0x92, 0xd2, 0x06, 0x47, 0xef, 0x96, 0x8a, 0xb4, 0xc3,
      0x77, 0x62, 0x3d, 0x22, 0x3d, 0x2e, 0x21, 0x72, 0x05, 0x2e, 0x4f,
      0x08, 0xc0, 0xcd, 0x9a, 0xf5, 0x67, 0xd0, 0x80, 0xa3};
  sb_err_clear(&err);
  CHECK_INT(sb_jwt_verify(rfc_key, sizeof rfc_key, rfc, 1300819000, &out, &err),
            SB_EPERM);
  CHECK_STR(sb_auth_reason_name(out.reason), "bad_claims");
  CHECK_HAS(err.msg, "sub");
  unsigned char wrong[64];
  memcpy(wrong, rfc_key, 64);
  wrong[63] ^= 1;
  sb_err_clear(&err);
  CHECK_INT(sb_jwt_verify(wrong, sizeof wrong, rfc, 1300819000, &out, &err),
            SB_EPERM);
  CHECK_STR(sb_auth_reason_name(out.reason), "bad_signature");
  return 0;
}

/* ---- the secret file --------------------------------------------------- */

static int write_text(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  fputs(text, f);
  fclose(f);
  return chmod(path, mode);
}

int test_auth_secret_file(void) {
  sb_err_t err = SB_ERR_INIT;
  char dir[] = "/tmp/sbt-auth-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char data[256], path[300], cmd[300];
  snprintf(data, sizeof data, "%s/new/data", dir); /* not there yet */
  snprintf(path, sizeof path, "%s/jwt.secret", data);
  unsigned char s1[SB_AUTH_SECRET_MAX], s2[SB_AUTH_SECRET_MAX];
  size_t l1 = 99, l2 = 0;

  CHECK_INT(sb_auth_secret_load(data, 0, s1, &l1, &err), SB_ENOENT);
  CHECK_HAS(err.msg, path);
  CHECK_INT(l1, 0);
  sb_err_clear(&err);
  mode_t old = umask(0); /* the file is 0600 whatever the umask */
  int rc = sb_auth_secret_load(data, 1, s1, &l1, &err);
  umask(old);
  CHECK_OK(rc, &err);
  CHECK_INT(l1, 32);
  struct stat st;
  CHECK(stat(path, &st) == 0);
  CHECK_INT(st.st_mode & 0777, 0600);
  CHECK(stat(data, &st) == 0);
  CHECK_INT(st.st_mode & 0777, 0700);
  /* 64 lowercase hex digits and a newline, matching the bytes loaded */
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  char text[200] = {0};
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  CHECK_INT(n, 65);
  CHECK_INT(text[64], '\n');
  for (size_t i = 0; i < 32; i++) {
    char hx[3];
    snprintf(hx, sizeof hx, "%02x", s1[i]);
    CHECK(memcmp(text + 2 * i, hx, 2) == 0);
  }
  /* loaded again (with or without create): the same secret, no new file */
  CHECK_OK(sb_auth_secret_load(data, 1, s2, &l2, &err), &err);
  CHECK_INT(l2, 32);
  CHECK(memcmp(s1, s2, 32) == 0);
  CHECK_OK(sb_auth_secret_load(data, 0, s2, &l2, &err), &err);
  CHECK(memcmp(s1, s2, 32) == 0);
  /* a second data directory gets a different secret */
  char data2[300];
  snprintf(data2, sizeof data2, "%s/other", dir);
  CHECK_OK(sb_auth_secret_load(data2, 1, s2, &l2, &err), &err);
  CHECK(memcmp(s1, s2, 32) != 0);
  /* no temporary files are left behind */
  snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", data);
  CHECK(system(cmd) == 0);

  /* readable by group or others: refused, naming the fix */
  CHECK(chmod(path, 0644) == 0);
  CHECK_INT(sb_auth_secret_load(data, 1, s2, &l2, &err), SB_EPERM);
  CHECK_HAS(err.msg, "chmod 600");
  CHECK_HAS(err.msg, "0644");
  CHECK(strstr(err.msg, text) == NULL);
  sb_err_clear(&err);
  CHECK(chmod(path, 0640) == 0);
  CHECK_INT(sb_auth_secret_load(data, 0, s2, &l2, &err), SB_EPERM);
  sb_err_clear(&err);
  CHECK(chmod(path, 0602) == 0);
  CHECK_INT(sb_auth_secret_load(data, 0, s2, &l2, &err), SB_EPERM);
  sb_err_clear(&err);
  CHECK(chmod(path, 0400) == 0);
  CHECK_OK(sb_auth_secret_load(data, 0, s2, &l2, &err), &err);
  CHECK(memcmp(s1, s2, 32) == 0);
  CHECK(chmod(path, 0600) == 0);

  /* a configured secret: upper case, white space, 64 bytes */
  char hex[200];
  memset(hex, 'A', 128);
  snprintf(hex + 128, sizeof hex - 128, "\n\n");
  char p3[400];
  snprintf(p3, sizeof p3, "%s/jwt.secret", data2);
  CHECK(write_text(p3, hex, 0600) == 0);
  CHECK_OK(sb_auth_secret_load(data2, 0, s2, &l2, &err), &err);
  CHECK_INT(l2, 64);
  CHECK_INT(s2[0], 0xaa);
  CHECK_INT(s2[63], 0xaa);
  /* not hex, too short, too long, odd: refused without echoing the file */
  static const char *const bad[] = {
      "  zz00000000000000000000000000000000000000000000000000000000000000\n",
      "0123456789abcdef\n",
      "",
      "00000000000000000000000000000000000000000000000000000000000000000",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(write_text(p3, bad[i], 0600) == 0);
    sb_err_clear(&err);
    CHECK_INT(sb_auth_secret_load(data2, 1, s2, &l2, &err), SB_EINVAL);
    CHECK_HAS(err.msg, p3);
    if (strlen(bad[i]) > 10)
      CHECK(strstr(err.msg, "0000000000") == NULL);
  }
  memset(hex, '0', 130);
  hex[130] = '\0';
  CHECK(write_text(p3, hex, 0600) == 0);
  sb_err_clear(&err);
  CHECK_INT(sb_auth_secret_load(data2, 0, s2, &l2, &err), SB_EINVAL);
  /* a directory where the file should be */
  CHECK(unlink(p3) == 0 && mkdir(p3, 0700) == 0);
  sb_err_clear(&err);
  CHECK_INT(sb_auth_secret_load(data2, 1, s2, &l2, &err), SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(sb_auth_secret_load("", 1, s2, &l2, &err), SB_ECONFIG);

  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return 0;
}

/* ---- roles and permissions --------------------------------------------- */

int test_auth_names(void) {
  sb_err_t err = SB_ERR_INIT;
  static const char *const names[] = {"admin", "manager", "supervisor",
                                      "agent"};
  for (int i = 0; i < SB_ROLE_COUNT; i++) {
    sb_role_t r;
    CHECK_STR(sb_role_name((sb_role_t)i), names[i]);
    CHECK_OK(sb_role_parse(names[i], &r, &err), &err);
    CHECK_INT(r, i);
  }
  sb_role_t r = SB_ROLE_AGENT;
  CHECK_INT(sb_role_parse("Admin", &r, &err), SB_EINVAL);
  CHECK_STR(err.msg,
            "unknown role 'Admin': use admin, manager, supervisor or agent");
  CHECK_INT(sb_role_parse(NULL, &r, NULL), SB_EINVAL);
  CHECK_INT(sb_role_parse("", &r, NULL), SB_EINVAL);
  CHECK_STR(sb_role_name((sb_role_t)9), "unknown");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_OK), "ok");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_MISSING), "missing");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_MALFORMED), "malformed");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_BAD_ALG), "bad_alg");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_BAD_SIGNATURE), "bad_signature");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_EXPIRED), "expired");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_NOT_YET_VALID), "not_yet_valid");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_BAD_CLAIMS), "bad_claims");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_FORBIDDEN), "forbidden");
  CHECK_STR(sb_auth_reason_name(SB_AUTH_TENANT_MISMATCH), "tenant_mismatch");
  CHECK_STR(sb_auth_reason_name((sb_auth_reason_t)99), "unknown");
  CHECK_HAS(sb_auth_reason_desc(SB_AUTH_EXPIRED), "expired");
  CHECK_STR(sb_perm_name(SB_PERM_POST_EVENT), "post_event");
  CHECK_STR(sb_perm_name(SB_PERM_SUBSCRIBE), "subscribe");
  CHECK_STR(sb_perm_name(SB_PERM_READ_PROJECTION), "read_projection");
  CHECK(sb_tenant_valid("acme-uk_1.x"));
  CHECK(!sb_tenant_valid("acme uk"));
  CHECK(!sb_tenant_valid(NULL));
  CHECK(sb_auth_sub_valid("user@example.com"));
  CHECK(!sb_auth_sub_valid("a\x7f"));
  return 0;
}

#define POST(role, type)                                                       \
  sb_auth_allows(SB_ROLE_##role, SB_PERM_POST_EVENT, type)
#define SUB(role, topic)                                                       \
  sb_auth_allows(SB_ROLE_##role, SB_PERM_SUBSCRIBE, topic)
#define READ(role, proj)                                                       \
  sb_auth_allows(SB_ROLE_##role, SB_PERM_READ_PROJECTION, proj)

int test_auth_permissions(void) {
  /* no role posts what processors or the engine write */
  static const char *const reserved[] = {
      "lead.scored",
      "lead.assigned",
      "message.blocked",
      "message.submitted",
      "dsar.completed",
      "subject.erased",
      "consent.opt_out_honoured",
      "lead.attempt_recorded",
      "points.awarded",
      "points.reversed",
      "badge.awarded",
      "challenge.score_updated",
      "challenge.won",
      "challenge.opened",
      "challenge.closed",
      "leaderboard.rank_changed",
      "security.login_failed",
      "security.access_denied",
      "security.anything",
      "access.recorded",
  };
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    for (int r = 0; r < SB_ROLE_COUNT; r++)
      CHECK(!sb_auth_allows((sb_role_t)r, SB_PERM_POST_EVENT, reserved[i]));

  /* admin: every other event type, every topic, every projection */
  CHECK(POST(ADMIN, "lead.created"));
  CHECK(POST(ADMIN, "role.granted"));
  CHECK(POST(ADMIN, "role.revoked"));
  CHECK(POST(ADMIN, "campaign.spend_recorded"));
  CHECK(POST(ADMIN, "reward.redemption_decided"));
  static const char *const topics[] = {
      "sb.leads",     "sb.calls",      "sb.agents",       "sb.messages",
      "sb.campaigns", "sb.compliance", "sb.gamification", "sb.deadletter"};
  for (size_t i = 0; i < 8; i++)
    CHECK(SUB(ADMIN, topics[i]));
  CHECK(SUB(ADMIN, "sb.anything.new"));
  CHECK(READ(ADMIN, "audit.log"));
  CHECK(READ(ADMIN, "analytics.call_stats"));

  /* manager and supervisor: operational events, every domain topic */
  const char *floor[] = {"lead.created",           "lead.updated",
                         "lead.recycled",          "lead.dnc_flagged",
                         "call.started",           "call.dispositioned",
                         "voicemail.received",     "agent.logged_in",
                         "agent.skills_changed",   "message.requested",
                         "message.status_updated", "message.opt_out",
                         "campaign.state_changed", "consent.given",
                         "consent.withdrawn",      "dsar.received",
                         "challenge.created"};
  for (size_t i = 0; i < sizeof floor / sizeof floor[0]; i++) {
    CHECK(POST(MANAGER, floor[i]));
    CHECK(POST(SUPERVISOR, floor[i]));
  }
  for (size_t i = 0; i < 7; i++) {
    CHECK(SUB(MANAGER, topics[i]));
    CHECK(SUB(SUPERVISOR, topics[i]));
  }
  CHECK(!SUB(MANAGER, "sb.deadletter"));
  CHECK(!SUB(SUPERVISOR, "sb.deadletter"));
  /* the differences */
  CHECK(POST(MANAGER, "campaign.created"));
  CHECK(POST(MANAGER, "campaign.spend_recorded"));
  CHECK(!POST(SUPERVISOR, "campaign.created"));
  CHECK(!POST(SUPERVISOR, "campaign.spend_recorded"));
  CHECK(POST(MANAGER, "reward.redemption_decided"));
  CHECK(!POST(SUPERVISOR, "reward.redemption_decided"));
  CHECK(READ(MANAGER, "compliance.consent"));
  CHECK(!READ(SUPERVISOR, "compliance.consent"));
  CHECK(READ(SUPERVISOR, "analytics.agent_performance"));
  CHECK(!READ(MANAGER, "audit.log"));
  CHECK(!POST(MANAGER, "role.granted"));
  CHECK(!POST(SUPERVISOR, "role.revoked"));
  /* automation: rules by admins and managers, firings by the processor */
  CHECK(POST(ADMIN, "automation.rules_published"));
  CHECK(POST(MANAGER, "automation.rules_published"));
  CHECK(!POST(SUPERVISOR, "automation.rules_published"));
  CHECK(!POST(AGENT, "automation.rules_published"));
  for (int r = 0; r < SB_ROLE_COUNT; r++)
    CHECK(!sb_auth_allows((sb_role_t)r, SB_PERM_POST_EVENT, "automation.fired"));
  CHECK(READ(MANAGER, "automation.firings"));
  CHECK(!READ(SUPERVISOR, "automation.firings"));
  CHECK(!READ(AGENT, "automation.firings"));

  /* agent: its desk */
  const char *desk[] = {"call.dispositioned", "agent.state_changed",
                        "agent.logged_in",    "agent.logged_out",
                        "lead.updated",       "lead.status_changed",
                        "lead.dnc_flagged",   "consent.withdrawn",
                        "message.requested",  "reward.redemption_requested"};
  for (size_t i = 0; i < sizeof desk / sizeof desk[0]; i++)
    CHECK(POST(AGENT, desk[i]));
  const char *not_desk[] = {"lead.created",      "call.started",
                            "call.ended",        "agent.skills_changed",
                            "consent.given",     "campaign.state_changed",
                            "challenge.created", "reward.redemption_decided",
                            "role.granted",      "dsar.received",
                            "message.inbound"};
  for (size_t i = 0; i < sizeof not_desk / sizeof not_desk[0]; i++)
    CHECK(!POST(AGENT, not_desk[i]));
  CHECK(SUB(AGENT, "sb.calls"));
  CHECK(SUB(AGENT, "sb.leads"));
  CHECK(SUB(AGENT, "sb.agents"));
  CHECK(SUB(AGENT, "sb.messages"));
  CHECK(SUB(AGENT, "sb.gamification"));
  CHECK(!SUB(AGENT, "sb.compliance"));
  CHECK(!SUB(AGENT, "sb.campaigns"));
  CHECK(!SUB(AGENT, "sb.deadletter"));
  CHECK(READ(AGENT, "gamification.leaderboard"));
  /* (per agent: the read API answers an agent its own rows only, and
   * refuses it tables and views that are not per agent) */
  CHECK(READ(AGENT, "analytics.call_stats"));
  CHECK(!READ(AGENT, "assignment.decisions"));
  CHECK(READ(MANAGER, "campaigns.schedule"));
  CHECK(!READ(AGENT, "campaigns.schedule"));
  CHECK(!READ(AGENT, "audit.log"));

  /* exact matches only: no prefix, suffix or case games */
  CHECK(!POST(AGENT, "call.dispositioned.x"));
  CHECK(!POST(AGENT, "Call.Dispositioned"));
  CHECK(!SUB(AGENT, "sb.calls2"));
  CHECK(!SUB(AGENT, "sb.call"));
  CHECK(!POST(MANAGER, "leads.created"));
  CHECK(!POST(ADMIN, ""));
  CHECK(!POST(ADMIN, NULL));
  CHECK(!sb_auth_allows((sb_role_t)9, SB_PERM_SUBSCRIBE, "sb.calls"));
  CHECK(!sb_auth_allows(SB_ROLE_AGENT, (sb_perm_t)9, "sb.calls"));

  /* the messages */
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_auth_check(SB_ROLE_AGENT, SB_PERM_SUBSCRIBE, "sb.calls", &err),
           &err);
  CHECK_INT(
      sb_auth_check(SB_ROLE_ADMIN, SB_PERM_POST_EVENT, "lead.scored", &err),
      SB_EPERM);
  CHECK_STR(err.msg,
            "no role may post lead.scored: it is written by the routing "
            "processor only");
  sb_err_clear(&err);
  CHECK_INT(sb_auth_check(SB_ROLE_ADMIN, SB_PERM_POST_EVENT,
                          "security.login_failed", &err),
            SB_EPERM);
  CHECK_HAS(err.msg, "the engine only");
  sb_err_clear(&err);
  CHECK_INT(
      sb_auth_check(SB_ROLE_AGENT, SB_PERM_SUBSCRIBE, "sb.compliance", &err),
      SB_EPERM);
  CHECK_STR(err.msg, "role agent may not subscribe to sb.compliance");
  sb_err_clear(&err);
  CHECK_INT(sb_auth_check(SB_ROLE_SUPERVISOR, SB_PERM_READ_PROJECTION,
                          "audit.log\n<script>", &err),
            SB_EPERM);
  CHECK_STR(err.msg, "role supervisor may not read audit.log??script?");
  sb_err_clear(&err);
  CHECK_INT(sb_auth_check(SB_ROLE_AGENT, SB_PERM_POST_EVENT, NULL, &err),
            SB_EPERM);
  return 0;
}

int test_auth_tenant_check(void) {
  sb_claims_t c = claims("dev", "acme", SB_ROLE_ADMIN, T0, T0 + 60);
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_auth_tenant_check(&c, "acme", &err), &err);
  CHECK_OK(sb_auth_tenant_check(&c, NULL, &err), &err); /* takes the token's */
  CHECK_OK(sb_auth_tenant_check(&c, "", &err), &err);
  CHECK_INT(sb_auth_tenant_check(&c, "globex", &err), SB_EPERM);
  CHECK_STR(err.msg, "the token's tenant is acme; the event names globex");
  /* admin included, and no near misses */
  const char *others[] = {"ACME", "acme ", "acme2", "acm", "*"};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    sb_err_clear(&err);
    CHECK_INT(sb_auth_tenant_check(&c, others[i], &err), SB_EPERM);
  }
  /* what the event says is shown, but never raw */
  sb_err_clear(&err);
  CHECK_INT(sb_auth_tenant_check(&c, "evil\r\nX-Injected: 1", &err), SB_EPERM);
  CHECK_STR(err.msg,
            "the token's tenant is acme; the event names evil??X-Injected:?1");
  char huge[300];
  memset(huge, 'z', sizeof huge - 1);
  huge[sizeof huge - 1] = '\0';
  sb_err_clear(&err);
  CHECK_INT(sb_auth_tenant_check(&c, huge, &err), SB_EPERM);
  CHECK(strlen(err.msg) < 140);
  CHECK_HAS(err.msg, "...");
  return 0;
}

/* ---- switchboard token ------------------------------------------------- */

/* Runs `switchboard token ARGS...` in this process; stdout and stderr go
 * to out and errs. Returns the exit code. */
static int run_token(char *out, size_t outsz, char *errs, size_t errsz,
                     const char *const *args) {
  static const sb_cmd_t *const cmds[] = {&sb_cmd_token, NULL};
  char *argv[32];
  int argc = 0;
  argv[argc++] = "switchboard";
  argv[argc++] = "token";
  for (; *args && argc < 31; args++)
    argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  char p1[] = "/tmp/sbt-tok-out-XXXXXX", p2[] = "/tmp/sbt-tok-err-XXXXXX";
  int f1 = mkstemp(p1), f2 = mkstemp(p2);
  fflush(stdout);
  fflush(stderr);
  int s1 = dup(1), s2 = dup(2);
  dup2(f1, 1);
  dup2(f2, 2);
  int rc = sb_cli_main(cmds, argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(s1, 1);
  dup2(s2, 2);
  close(s1);
  close(s2);
  ssize_t n1 = pread(f1, out, outsz - 1, 0);
  ssize_t n2 = pread(f2, errs, errsz - 1, 0);
  out[n1 > 0 ? n1 : 0] = '\0';
  errs[n2 > 0 ? n2 : 0] = '\0';
  close(f1);
  close(f2);
  unlink(p1);
  unlink(p2);
  return rc;
}

int test_token_cmd(void) {
  unsetenv("SWITCHBOARD_CONFIG");
  unsetenv("SWITCHBOARD_HOME");
  char dir[] = "/tmp/sbt-token-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char data[256], out[8192], errs[8192];
  snprintf(data, sizeof data, "%s/data", dir);

  /* first run: creates the secret, says so on stderr only */
  const char *a1[] = {"--tenant",   "acme", "--role", "agent",
                      "--data-dir", data,   NULL};
  CHECK_INT(run_token(out, sizeof out, errs, sizeof errs, a1), 0);
  CHECK_HAS(errs, "created the signing secret");
  CHECK_HAS(errs, "jwt.secret");
  size_t n = strlen(out);
  CHECK(n > 20 && out[n - 1] == '\n' && strchr(out, '\n') == out + n - 1);
  out[n - 1] = '\0';
  CHECK(strstr(errs, out) == NULL);
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t len = 0;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_auth_secret_load(data, 0, secret, &len, &err), &err);
  sb_claims_t c;
  int64_t now = (int64_t)time(NULL);
  CHECK_OK(sb_jwt_verify(secret, len, out, now, &c, &err), &err);
  CHECK_STR(c.sub, "dev");
  CHECK_STR(c.tenant, "acme");
  CHECK_INT(c.role, SB_ROLE_AGENT);
  CHECK(c.exp - c.iat == 3600);
  CHECK(c.iat >= now - 5 && c.iat <= now);

  /* second run: the same secret, nothing on stderr */
  const char *a2[] = {
      "--tenant", "globex.eu", "--role=supervisor", "--sub", "u-17",
      "--ttl",    "60",        "--data-dir",        data,    NULL};
  CHECK_INT(run_token(out, sizeof out, errs, sizeof errs, a2), 0);
  CHECK_STR(errs, "");
  out[strlen(out) - 1] = '\0';
  CHECK_OK(sb_jwt_verify(secret, len, out, now, &c, &err), &err);
  CHECK_STR(c.sub, "u-17");
  CHECK_STR(c.tenant, "globex.eu");
  CHECK_INT(c.role, SB_ROLE_SUPERVISOR);
  CHECK_INT(c.exp - c.iat, 60);
  const char *a3[] = {"--tenant", "a",          "--role", "admin", "--ttl",
                      "86400",    "--data-dir", data,     NULL};
  CHECK_INT(run_token(out, sizeof out, errs, sizeof errs, a3), 0);

  /* usage errors: exit 2, a message naming the flag, nothing on stdout */
  static const struct {
    const char *args[12];
    const char *msg;
  } bad[] = {
      {{"--role", "agent"}, "--tenant and --role are required"},
      {{"--tenant", "acme"}, "--tenant and --role are required"},
      {{"--tenant", "ac me", "--role", "agent"}, "--tenant must be"},
      {{"--tenant", "acme", "--role", "root"}, "--role must be admin"},
      {{"--tenant", "acme", "--role", "Agent"}, "--role must be admin"},
      {{"--tenant", "acme", "--role", "agent", "--sub", ""}, "--sub must be"},
      {{"--tenant", "acme", "--role", "agent", "--ttl", "0"}, "--ttl must be"},
      {{"--tenant", "acme", "--role", "agent", "--ttl", "-5"}, "--ttl must be"},
      {{"--tenant", "acme", "--role", "agent", "--ttl", "1h"}, "--ttl must be"},
      {{"--tenant", "acme", "--role", "agent", "--ttl", "86401"},
       "--ttl must be"},
      {{"--tenant", "acme", "--role", "agent", "extra"}, "unexpected argument"},
      {{"--tenant", "acme", "--role"}, "needs a value"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *args[16] = {"--data-dir", data};
    size_t k = 2;
    for (size_t j = 0; bad[i].args[j]; j++)
      args[k++] = bad[i].args[j];
    args[k] = NULL;
    int rc = run_token(out, sizeof out, errs, sizeof errs, args);
    if (rc != 2 || strstr(errs, bad[i].msg) == NULL || out[0] != '\0') {
      fprintf(stderr, "case %zu: rc %d, stderr: %s\n", i, rc, errs);
      return 1;
    }
  }
  /* a secret file others can read: exit 1, the fix named */
  char path[300];
  snprintf(path, sizeof path, "%s/jwt.secret", data);
  CHECK(chmod(path, 0644) == 0);
  CHECK_INT(run_token(out, sizeof out, errs, sizeof errs, a1), 1);
  CHECK_HAS(errs, "chmod 600");
  CHECK_STR(out, "");
  /* --help */
  const char *h[] = {"--help", NULL};
  CHECK_INT(run_token(out, sizeof out, errs, sizeof errs, h), 0);
  CHECK_HAS(out, "usage: switchboard token --tenant TENANT --role ROLE");
  CHECK_HAS(out, "--sub ID");
  CHECK_HAS(out, "--ttl SECONDS");
  CHECK_HAS(out, "--data-dir DIR");

  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return 0;
}
