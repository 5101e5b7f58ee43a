/* PII on the way in and out: the envelope every sb.pii string field is
 * stored as, the keyed HMAC that matching uses instead of plaintext, and
 * masking. Pure functions over keys the caller holds (sb_keys.h finds
 * them); only this file and sb_keys.c use OpenSSL for PII.
 *
 * The envelope (issue 12's shared contract):
 *
 *   sbx1.<key_id>.<base64url-nopad(nonce12 || ciphertext || tag16)>
 *
 * AES-256-GCM under the data key named by key_id, a random 96-bit nonce,
 * AAD = tenant_id "\0" event type "\0" field path ("phone",
 * "address.city", "media_urls"), so a value moved to another tenant, event
 * type or field does not decrypt. key_id is "<subject-hash16hex>-<gen>"
 * (sb_keys.h). A value beginning with "sbx1." is ciphertext; "sbx1.erased"
 * is what a field reads as once its key was destroyed.
 *
 * Matching: for a field marked "sb.match" ("phone", "email", or "address":
 * an e-mail when it holds '@', else a phone) ingest stores beside it, in
 * F_hmac, the lowercase hex HMAC-SHA256 of the normalised value under the
 * tenant's HMAC key: phone as E.164 "+<digits>" (separators " -.()"
 * dropped, "00" read as "+"; 7 to 15 digits after the "+", the first not
 * 0; a number without "+" or "00" is refused: its country is unknown),
 * e-mail trimmed and lower-cased (one '@', something on each side). */
#ifndef SB_PII_H
#define SB_PII_H

#include "sb_err.h"

#include <stddef.h>

#define SB_PII_PREFIX "sbx1."
#define SB_PII_ERASED "sbx1.erased"
#define SB_PII_KEY_LEN 32   /* AES-256 data keys, HMAC keys */
#define SB_PII_NONCE_LEN 12
#define SB_PII_TAG_LEN 16
#define SB_PII_KEYID_MAX 32 /* "<16 hex>-<gen>": 16 + 1 + 10 digits */
#define SB_PII_HMAC_HEX 64

typedef enum {
  SB_PII_MATCH_NONE = 0,
  SB_PII_MATCH_PHONE,
  SB_PII_MATCH_EMAIL,
  SB_PII_MATCH_ADDRESS, /* e-mail when it holds '@', else phone */
  /* not schema kinds: what an "address" with sb.matchBy becomes */
  SB_PII_MATCH_SLACK, /* a channel or user id (C0123ABCD), #name, or an
                         https:// incoming-webhook URL */
  SB_PII_MATCH_PUSH,  /* a device token: 20 to 320 of [A-Za-z0-9_:.-] */
} sb_pii_match_t;

/* How an address on a channel is matched: sms and whatsapp a phone, email
 * an e-mail address, slack a Slack channel, push a device token; any
 * other (or NULL) SB_PII_MATCH_ADDRESS (by its form). */
sb_pii_match_t sb_pii_match_for_channel(const char *channel);

/* 1 when v is ciphertext (begins with "sbx1."). */
int sb_pii_is_sealed(const char *v);

/* Bytes of the envelope of a plaintext of plain_len bytes under a key id
 * of keyid_len characters (without the NUL). */
size_t sb_pii_sealed_len(size_t keyid_len, size_t plain_len);
/* The longest envelope of a field of at most max_cps code points (4 bytes
 * each in UTF-8) under any key id: the bound the codec applies to a sealed
 * value of a field whose sb.maxLength is max_cps. */
long sb_pii_sealed_max(long max_cps);

/* Seals plain (plain_len bytes) into out (outsz bytes, NUL-terminated).
 * aad_tenant, aad_type and aad_field make the AAD. SB_EINVAL when out is
 * too small, SB_ECRYPTO when OpenSSL fails. */
int sb_pii_seal(const unsigned char key[SB_PII_KEY_LEN], const char *key_id,
                const char *aad_tenant, const char *aad_type,
                const char *aad_field, const char *plain, size_t plain_len,
                char *out, size_t outsz, sb_err_t *err);

/* The key id of an envelope into key_id (SB_PII_KEYID_MAX + 1 bytes):
 * 0, or SB_EDECODE when v is not an envelope (or is "sbx1.erased"). */
int sb_pii_key_id(const char *v, char *key_id, sb_err_t *err);

/* Opens an envelope into out (outsz bytes, NUL-terminated; the plaintext
 * is never longer than the envelope). SB_EDECODE when v is not an
 * envelope; SB_ECRYPTO "...: authentication failed (GCM tag): the value
 * was altered, or belongs to another tenant, event type or field" when the
 * tag does not verify. out is wiped on failure. */
int sb_pii_open(const unsigned char key[SB_PII_KEY_LEN], const char *v,
                const char *aad_tenant, const char *aad_type,
                const char *aad_field, char *out, size_t outsz, size_t *outlen,
                sb_err_t *err);

/* Normalises a phone number to E.164 ("+14155550123") into out (at least
 * 17 bytes). SB_EVALIDATE with the reason when it is not one. */
int sb_pii_norm_phone(const char *in, char *out, size_t outsz, sb_err_t *err);
/* Normalises an e-mail address (trimmed, lower-cased) into out.
 * SB_EVALIDATE when it is not one (or does not fit). */
int sb_pii_norm_email(const char *in, char *out, size_t outsz, sb_err_t *err);

/* The match HMAC of value: normalised by kind, then HMAC-SHA256 under key,
 * as 64 lowercase hex digits and a NUL in out. SB_EVALIDATE when value does
 * not normalise (the reason, without the value). */
int sb_pii_match_hmac(const unsigned char key[SB_PII_KEY_LEN],
                      sb_pii_match_t kind, const char *value,
                      char out[SB_PII_HMAC_HEX + 1], sb_err_t *err);

/* A masked form of a plaintext value for a viewer not allowed to see it:
 * phone "+1******4567" ('+', the first digit, '*' for the rest but the last
 * four), e-mail "a***@example.com", anything else "***". Into out (always
 * NUL-terminated). */
void sb_pii_mask(sb_pii_match_t kind, const char *plain, char *out,
                 size_t outsz);

/* 1 when s holds a payment card number: 13 to 19 digits in a row
 * (separated by nothing, single spaces or dashes) that pass the Luhn
 * check. */
int sb_pii_has_card_number(const char *s);

/* base64url without padding of n bytes into out (NUL-terminated); the
 * length written, or -1 when out is too small. */
long sb_b64url_encode(const unsigned char *in, size_t n, char *out,
                      size_t outsz);
/* Decodes base64url without padding; the bytes written, or -1 when in is
 * not that form or out is too small. */
long sb_b64url_decode(const char *in, size_t n, unsigned char *out,
                      size_t outsz);

/* HMAC-SHA256 of msg under a 32-byte key into out (32 bytes): 0, or -1
 * when OpenSSL fails. */
int sb_pii_hmac_sha256(const unsigned char key[SB_PII_KEY_LEN],
                       const void *msg, size_t n, unsigned char out[32]);

/* AES-256-GCM as fetched once (OpenSSL 3 fetches an algorithm on every
 * EVP_aes_256_gcm() init otherwise, under a lock). For sb_keys. */
const void *sb__pii_aes_gcm(void);

/* Wipes n bytes so the compiler keeps the stores. */
void sb_pii_wipe(void *p, size_t n);

#endif
