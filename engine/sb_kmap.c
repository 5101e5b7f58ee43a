/* A hash map keyed by (topic, partition, key): see sb_kmap.h. */
#include "sb_kmap.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 16

static uint64_t mix(uint64_t h) { /* MurmurHash3's finaliser */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/* Eight bytes at a time, each word folded in through a multiply and the
 * finaliser's mixing; the per-map seed makes collisions unpredictable. */
static uint64_t hash_of(uint64_t seed, int topic, int32_t partition,
                        const char *key, size_t klen) {
  uint64_t h = seed ^
               mix(((uint64_t)(uint16_t)topic << 32) | (uint32_t)partition) ^
               (klen * 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  for (; i + 8 <= klen; i += 8) {
    uint64_t w;
    memcpy(&w, key + i, 8);
    h = mix(h ^ (w * 0x87c37b91114253d5ULL));
  }
  uint64_t w = 0;
  memcpy(&w, key + i, klen - i);
  return mix(h ^ (w * 0x4cf5ad432745937fULL) ^ klen);
}

int sb_kmap_init(sb_kmap_t *m, size_t item_size, sb_err_t *err) {
  memset(m, 0, sizeof *m);
  if (item_size < sizeof(sb_kmap_hdr_t))
    return sb_err_set(err, SB_EINVAL,
                      "kmap: items of %zu bytes cannot hold "
                      "their header",
                      item_size);
  m->item_size = item_size;
  if (RAND_bytes((unsigned char *)&m->seed, sizeof m->seed) != 1)
    return sb_err_set(err, SB_ECRYPTO, "kmap: no randomness for the seed");
  m->slots = calloc(MIN_SLOTS, sizeof *m->slots);
  if (m->slots == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  m->nslots = MIN_SLOTS;
  return 0;
}

void sb_kmap_free(sb_kmap_t *m) {
  for (size_t i = 0; i < m->n; i++)
    free(((sb_kmap_hdr_t *)sb_kmap_at(m, i))->key);
  for (size_t i = 0; i < m->ntopics; i++)
    free(m->topics[i]);
  free(m->items);
  free(m->slots);
  memset(m, 0, sizeof *m);
}

int sb_kmap_topic_find(const sb_kmap_t *m, const char *topic) {
  for (size_t i = 0; i < m->ntopics; i++)
    if (strcmp(m->topics[i], topic) == 0)
      return (int)i;
  return -1;
}

int sb_kmap_topic(sb_kmap_t *m, const char *topic, sb_err_t *err) {
  int t = sb_kmap_topic_find(m, topic);
  if (t >= 0)
    return t;
  size_t len = strlen(topic);
  if (len == 0 || len > SB_KMAP_TOPIC_MAX)
    return sb_err_set(err, SB_EINVAL, "topic name of %zu bytes (1 to %d)", len,
                      SB_KMAP_TOPIC_MAX);
  if (m->ntopics == SB_KMAP_TOPICS_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "more than %d topics in one processor's "
                      "state (topic %s)",
                      SB_KMAP_TOPICS_MAX, topic);
  char *dup = strdup(topic);
  if (dup == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  m->topics[m->ntopics] = dup;
  return (int)m->ntopics++;
}

const char *sb_kmap_topic_name(const sb_kmap_t *m, uint16_t topic) {
  return topic < m->ntopics ? m->topics[topic] : "";
}

long sb_kmap_find(const sb_kmap_t *m, int topic, int32_t partition,
                  const char *key, size_t klen) {
  if (topic < 0)
    return -1;
  uint64_t h = hash_of(m->seed, topic, partition, key, klen);
  size_t mask = m->nslots - 1;
  for (size_t s = h & mask;; s = (s + 1) & mask) {
    uint32_t v = m->slots[s];
    if (v == 0)
      return -1;
    const sb_kmap_hdr_t *it = sb_kmap_at(m, v - 1);
    if (it->hash == h && it->topic == topic && it->partition == partition &&
        it->klen == klen && memcmp(it->key, key, klen) == 0)
      return (long)(v - 1);
  }
}

static void place(uint32_t *slots, size_t nslots, uint64_t h, uint32_t v) {
  size_t mask = nslots - 1, s = h & mask;
  while (slots[s] != 0)
    s = (s + 1) & mask;
  slots[s] = v;
}

static int grow(sb_kmap_t *m, sb_err_t *err) {
  if (m->n + 1 > m->cap) { /* the items */
    size_t cap = m->cap ? m->cap * 2 : 16;
    if (cap > UINT32_MAX - 1)
      return sb_err_set(err, SB_ENOMEM, "kmap: over %u items", UINT32_MAX - 1);
    unsigned char *p = realloc(m->items, cap * m->item_size);
    if (p == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    m->items = p;
    m->cap = cap;
  }
  if (2 * (m->n + 1) > m->nslots) { /* at most half full */
    size_t ns = m->nslots * 2;
    uint32_t *s = calloc(ns, sizeof *s);
    if (s == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n; i++)
      place(s, ns, ((sb_kmap_hdr_t *)sb_kmap_at(m, i))->hash, (uint32_t)i + 1);
    free(m->slots);
    m->slots = s;
    m->nslots = ns;
  }
  return 0;
}

int sb_kmap_insert(sb_kmap_t *m, int topic, int32_t partition, const char *key,
                   size_t klen, size_t *index, int *created, sb_err_t *err) {
  *created = 0;
  long at = sb_kmap_find(m, topic, partition, key, klen);
  if (at >= 0) {
    *index = (size_t)at;
    return 0;
  }
  if (topic < 0 || (size_t)topic >= m->ntopics || klen > UINT32_MAX)
    return sb_err_set(err, SB_EINVAL, "kmap: bad topic or key");
  if (grow(m, err) != 0)
    return err->code;
  char *k = malloc(klen + 1);
  if (k == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  memcpy(k, key, klen);
  k[klen] = '\0';
  sb_kmap_hdr_t *it = sb_kmap_at(m, m->n);
  memset(it, 0, m->item_size);
  it->hash = hash_of(m->seed, topic, partition, key, klen);
  it->key = k;
  it->klen = (uint32_t)klen;
  it->topic = (uint16_t)topic;
  it->partition = partition;
  place(m->slots, m->nslots, it->hash, (uint32_t)m->n + 1);
  *index = m->n++;
  *created = 1;
  return 0;
}

static size_t slot_of(const sb_kmap_t *m, uint64_t h, uint32_t v) {
  size_t mask = m->nslots - 1, s = h & mask;
  while (m->slots[s] != v)
    s = (s + 1) & mask;
  return s;
}

void sb_kmap_remove(sb_kmap_t *m, size_t index) {
  sb_kmap_hdr_t *it = sb_kmap_at(m, index);
  size_t mask = m->nslots - 1;
  /* backward-shift deletion: no tombstones, probes stay short */
  size_t hole = slot_of(m, it->hash, (uint32_t)index + 1);
  for (size_t s = (hole + 1) & mask; m->slots[s] != 0; s = (s + 1) & mask) {
    size_t home =
        ((sb_kmap_hdr_t *)sb_kmap_at(m, m->slots[s] - 1))->hash & mask;
    /* the entry at s may move into the hole when its home is not in
     * (hole, s], cyclically */
    if (((s - home) & mask) >= ((s - hole) & mask)) {
      m->slots[hole] = m->slots[s];
      hole = s;
    }
  }
  m->slots[hole] = 0;
  free(it->key);
  size_t last = m->n - 1;
  if (index != last) {
    sb_kmap_hdr_t *mv = sb_kmap_at(m, last);
    m->slots[slot_of(m, mv->hash, (uint32_t)last + 1)] = (uint32_t)index + 1;
    memcpy(it, mv, m->item_size);
  }
  m->n--;
}

size_t sb_kmap_item_cost(const sb_kmap_t *m) {
  return m->item_size + 2 * sizeof(uint32_t) + 1; /* item, slots, key's NUL */
}

int sb_utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t i = 0; i < len;) {
    unsigned c = s[i];
    size_t n;
    unsigned min;
    if (c == 0)
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf)
      n = 1, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
      n = 2, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
      n = 3, min = 0x10000;
    else
      return 0;
    if (i + n >= len) /* cut short */
      return 0;
    unsigned cp = c & (0x3f >> n);
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += n + 1;
  }
  return 1;
}

int sb_kmap_dirty_reserve(sb_kmap_dirty_t *d, sb_err_t *err) {
  if (d->n < d->cap)
    return 0;
  size_t cap = d->cap ? d->cap * 2 : 64;
  uint32_t *idx = realloc(d->idx, cap * sizeof *idx);
  if (idx == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  d->idx = idx;
  d->cap = cap;
  return 0;
}

static int idx_desc(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

void sb_kmap_dirty_sweep(sb_kmap_t *m, sb_kmap_dirty_t *d,
                         int (*gone)(void *item, void *arg), void *arg) {
  if (d->n > 1) /* qsort takes no NULL, even for none */
    qsort(d->idx, d->n, sizeof *d->idx, idx_desc);
  for (size_t i = 0; i < d->n; i++)
    if (gone(sb_kmap_at(m, d->idx[i]), arg))
      sb_kmap_remove(m, d->idx[i]);
  d->n = 0;
}

void sb_kmap_dirty_free(sb_kmap_dirty_t *d) {
  free(d->idx);
  memset(d, 0, sizeof *d);
}
