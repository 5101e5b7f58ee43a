#include "sb_ulid.h"

#include "sb_time.h"

#include <openssl/rand.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void sb_ulid_make(uint64_t ms, const unsigned char rnd[10],
                  char out[SB_ULID_LEN + 1]) {
  /* 128 bits: 48 of time, 80 of randomness, written 5 bits at a time from
   * the top; the first character carries the top 3 bits. */
  unsigned char b[16];
  for (int i = 0; i < 6; i++)
    b[i] = (unsigned char)(ms >> (40 - 8 * i));
  for (int i = 0; i < 10; i++)
    b[6 + i] = rnd[i];
  for (int c = 0; c < SB_ULID_LEN; c++) {
    int bit = c == 0 ? 0 : 3 + (c - 1) * 5; /* first bit of this char */
    int width = c == 0 ? 3 : 5;
    unsigned v = 0;
    for (int k = 0; k < width; k++) {
      int pos = bit + k;
      v = (v << 1) | ((b[pos / 8] >> (7 - pos % 8)) & 1u);
    }
    out[c] = crockford[v];
  }
  out[SB_ULID_LEN] = '\0';
}

int sb_ulid_new(char out[SB_ULID_LEN + 1], sb_err_t *err) {
  unsigned char rnd[10];
  if (RAND_bytes(rnd, sizeof rnd) != 1)
    return sb_err_set(err, SB_ECRYPTO, "OpenSSL RAND_bytes failed");
  sb_ulid_make((uint64_t)(sb_time_now_micros() / 1000), rnd, out);
  return 0;
}

bool sb_ulid_valid(const char *s, size_t len) {
  if (len != SB_ULID_LEN)
    return false;
  if (s[0] < '0' || s[0] > '7') /* 48-bit time: the top char is 0..7 */
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    bool ok = false;
    for (const char *p = crockford; *p && !ok; p++)
      ok = *p == c;
    if (!ok)
      return false;
  }
  return true;
}
