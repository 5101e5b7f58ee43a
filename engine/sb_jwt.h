/* JSON Web Tokens signed RS256 (RFC 7515/7519), as Google's OAuth2 token
 * endpoint takes them from a service account (the FCM dispatcher's
 * access tokens): base64url(header) "." base64url(claims) "."
 * base64url(RSASSA-PKCS1-v1_5 SHA-256 signature). OpenSSL is wrapped
 * here. */
#ifndef SB_JWT_H
#define SB_JWT_H

#include "sb_err.h"
#include "sb_text.h"

/* Signs header_json and claims_json (the JSON texts, as given) with the
 * RSA private key key_pem (PEM, PKCS#8 or PKCS#1) into out (appended).
 * 0, or SB_EINVAL "...: not an RSA private key in PEM" (the key never
 * quoted), SB_ENOMEM, SB_ECRYPTO. */
int sb_jwt_rs256(const char *key_pem, const char *header_json,
                 const char *claims_json, sb_text_t *out, sb_err_t *err);

#endif
