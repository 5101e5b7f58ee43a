#include "sb_ulid.h"

#include "sb_time.h"

#include <openssl/rand.h>
#include <string.h>

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

/* Randomness is drawn from OpenSSL 4 KiB at a time, per thread: a call
 * per id was a visible share of converting an event. */
#define POOL 4096

int sb_ulid_new(char out[SB_ULID_LEN + 1], sb_err_t *err) {
  static _Thread_local unsigned char pool[POOL];
  static _Thread_local size_t used = POOL;
  if (used + 10 > POOL) {
    if (RAND_bytes(pool, POOL) != 1)
      return sb_err_set(err, SB_ECRYPTO, "OpenSSL RAND_bytes failed");
    used = 0;
  }
  sb_ulid_make((uint64_t)(sb_time_now_micros() / 1000), pool + used, out);
  memset(pool + used, 0, 10); /* an id's randomness is used once */
  used += 10;
  return 0;
}

/* 1 for the characters of Crockford's base32 (either case), else 0. */
static const unsigned char is_crockford[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1,
    ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['J'] = 1, ['K'] = 1, ['M'] = 1, ['N'] = 1, ['P'] = 1, ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['j'] = 1, ['k'] = 1,
    ['m'] = 1, ['n'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,
    ['t'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool sb_ulid_valid(const char *s, size_t len) {
  if (len != SB_ULID_LEN)
    return false;
  if (s[0] < '0' || s[0] > '7') /* 48-bit time: the top char is 0..7 */
    return false;
  for (size_t i = 0; i < len; i++)
    if (!is_crockford[(unsigned char)s[i]])
      return false;
  return true;
}
