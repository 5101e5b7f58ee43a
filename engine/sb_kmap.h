/* A hash map keyed by (topic, partition, key), for the state a processor
 * keeps per Kafka partition (sb_kstate, sb_timers).
 *
 * Open addressing with linear probing over a slot table of 32-bit indices
 * into a dense array of items, kept at most half full: a find or an insert
 * is O(1) on average, a removal moves the last item into the hole (its
 * index changes; nothing else's does). Each item starts with an
 * sb_kmap_hdr_t followed by the user's fields (item_size bytes in all,
 * zeroed when inserted). The hash is seeded per map from OpenSSL's
 * randomness, so keys an attacker chooses do not collide by design.
 *
 * Pointers to items are valid until the next insert (the array may move);
 * indices until the next removal. Not thread-safe. */
#ifndef SB_KMAP_H
#define SB_KMAP_H

#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

#define SB_KMAP_TOPICS_MAX 64 /* distinct topics one map holds */
#define SB_KMAP_TOPIC_MAX 249 /* bytes of a topic name (Kafka's bound) */

typedef struct sb_kmap_hdr_s {
  uint64_t hash;
  char *key;      /* owned by the map; NUL-terminated */
  uint32_t klen;  /* strlen(key) */
  uint16_t topic; /* index into the map's topics (sb_kmap_topic_name) */
  uint8_t has;    /* the owner's (sb_kstore.h): a committed value exists */
  uint8_t pend;   /* the owner's: what the batch did to it, 0 nothing */
  int32_t partition;
} sb_kmap_hdr_t;

typedef struct sb_kmap_s {
  unsigned char *items; /* n items of item_size bytes */
  size_t item_size, n, cap;
  uint32_t *slots; /* nslots (a power of two); 0 empty, else index + 1 */
  size_t nslots;
  uint64_t seed;
  char *topics[SB_KMAP_TOPICS_MAX];
  size_t ntopics;
} sb_kmap_t;

/* item_size >= sizeof(sb_kmap_hdr_t). Free with sb_kmap_free. */
int sb_kmap_init(sb_kmap_t *m, size_t item_size, sb_err_t *err);
/* Frees the keys, items, slots and topics; not what the user's fields
 * point to (free those first). Accepts a zeroed map. */
void sb_kmap_free(sb_kmap_t *m);

/* The topic's index, or -1 when the map has not seen it. */
int sb_kmap_topic_find(const sb_kmap_t *m, const char *topic);
/* The topic's index, interning it: SB_EINVAL past SB_KMAP_TOPICS_MAX
 * topics or for a name empty or longer than SB_KMAP_TOPIC_MAX. */
int sb_kmap_topic(sb_kmap_t *m, const char *topic, sb_err_t *err);
const char *sb_kmap_topic_name(const sb_kmap_t *m, uint16_t topic);

/* The item's index, or -1. */
long sb_kmap_find(const sb_kmap_t *m, int topic, int32_t partition,
                  const char *key, size_t klen);
/* Finds or adds the item; *index is its index, *created 1 when it was
 * added (its user fields zeroed). */
int sb_kmap_insert(sb_kmap_t *m, int topic, int32_t partition, const char *key,
                   size_t klen, size_t *index, int *created, sb_err_t *err);
/* Removes the item at index (its key freed): the last item takes its
 * index. */
void sb_kmap_remove(sb_kmap_t *m, size_t index);

static inline void *sb_kmap_at(const sb_kmap_t *m, size_t index) {
  return m->items + index * m->item_size;
}

/* The indices of the items a batch changed (pending until it commits or
 * is dropped), shared by keyed state and timers. */
typedef struct sb_kmap_dirty_s {
  uint32_t *idx;
  size_t n, cap;
} sb_kmap_dirty_t;
/* Room for one more index; SB_ENOMEM (err may be NULL). */
int sb_kmap_dirty_reserve(sb_kmap_dirty_t *d, sb_err_t *err);
/* Removes the listed items that gone() says are gone (it accounts for
 * them), highest index first: a removal moves the last item into the hole,
 * one already visited. Empties the list. */
void sb_kmap_dirty_sweep(sb_kmap_t *m, sb_kmap_dirty_t *d,
                         int (*gone)(void *item, void *arg), void *arg);
void sb_kmap_dirty_free(sb_kmap_dirty_t *d);

/* Bytes the map spends on one item beyond its key: the item and its share
 * of the slots. For memory budgets. */
size_t sb_kmap_item_cost(const sb_kmap_t *m);

/* Whether key (klen bytes) is well-formed UTF-8 without NUL bytes: what
 * PostgreSQL's text takes. */
int sb_utf8_valid(const char *s, size_t len);

#endif
