/* Token buckets by key (sb_rate.h). */
#include "sb_rate.h"

#include <stdlib.h>

#define PROBE 8

typedef struct {
  uint64_t hash; /* 0: free */
  double tokens;
  int64_t at_us; /* when tokens was last brought up to date */
} bucket_t;

struct sb_rate_s {
  bucket_t *b;
  size_t mask;
  uint32_t burst;
  int64_t period_us;
};

static uint64_t hash_of(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; s && *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h | 1;
}

int sb_rate_new(size_t slots, uint32_t burst, int64_t period_us,
                sb_rate_t **out, sb_err_t *err) {
  *out = NULL;
  size_t cap = PROBE;
  while (cap < slots)
    cap *= 2;
  sb_rate_t *r = calloc(1, sizeof *r);
  if (r == NULL || (r->b = calloc(cap, sizeof *r->b)) == NULL) {
    free(r);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  r->mask = cap - 1;
  r->burst = burst;
  r->period_us = period_us > 0 ? period_us : 1;
  *out = r;
  return 0;
}

void sb_rate_free(sb_rate_t *r) {
  if (r == NULL)
    return;
  free(r->b);
  free(r);
}

/* The bucket's tokens at now_us. */
static double level(const sb_rate_t *r, const bucket_t *b, int64_t now_us) {
  if (b->hash == 0)
    return r->burst;
  double t = b->tokens;
  if (now_us > b->at_us)
    t += (double)(now_us - b->at_us) * r->burst / (double)r->period_us;
  return t > r->burst ? r->burst : t;
}

/* The bucket of key, up to date, made (full) when missing. */
static bucket_t *bucket(sb_rate_t *r, const char *key, int64_t now_us) {
  uint64_t h = hash_of(key);
  bucket_t *fullest = NULL;
  double most = -1;
  for (size_t k = 0; k < PROBE; k++) {
    bucket_t *b = &r->b[(h + k) & r->mask];
    if (b->hash == h || b->hash == 0) {
      b->tokens = level(r, b, now_us);
      b->hash = h;
      b->at_us = now_us;
      return b;
    }
    double l = level(r, b, now_us);
    if (l > most) {
      most = l;
      fullest = b;
    }
  }
  fullest->hash = h; /* the run is full: the fullest bucket is reused */
  fullest->tokens = r->burst;
  fullest->at_us = now_us;
  return fullest;
}

int sb_rate_take(sb_rate_t *r, const char *key, int64_t now_us) {
  if (r == NULL || r->burst == 0)
    return 1;
  bucket_t *b = bucket(r, key, now_us);
  if (b->tokens < 1)
    return 0;
  b->tokens -= 1;
  return 1;
}

void sb_rate_give(sb_rate_t *r, const char *key, int64_t now_us) {
  if (r == NULL || r->burst == 0)
    return;
  bucket_t *b = bucket(r, key, now_us);
  b->tokens = b->tokens + 1 > r->burst ? r->burst : b->tokens + 1;
}
