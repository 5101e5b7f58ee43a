/* What keyed state (sb_kstate.h) and timers (sb_timers.h) share: entries
 * per (topic, partition, key) in an sb_kmap, each with a committed and a
 * pending side, the dirty list of those a batch changed, a memory budget,
 * and their rows in PostgreSQL under the processor's schema. Here: the
 * checks of a schema name, a partition and a key; new/free; adding an
 * entry within the budget; the end of a batch's sweep; dropping a
 * partition; the one-statement flush of the dirty entries (sorted by
 * topic, partition and key) and the one-query load of a topic's
 * partitions; replay's schema rename.
 *
 * An owner embeds an sb_kstore_t as its first member and describes itself
 * with an sb_kstore_kind_t (static, outliving the store): its callbacks get
 * the store back and may cast it to the owner. Error messages start with
 * the kind's words ("keyed state of <schema>: ..."). Entries use the
 * header's has and pend (sb_kmap_hdr_t): pend 0 is "the batch did nothing
 * to it", any other value is the owner's. Not thread-safe. */
#ifndef SB_KSTORE_H
#define SB_KSTORE_H

#include "sb_err.h"
#include "sb_kmap.h"
#include "sb_pg.h"
#include "sb_text.h"

#include <stddef.h>
#include <stdint.h>

#define SB_KSTORE_SCHEMA_MAX 63 /* bytes of a schema name */
#define SB_KSTORE_COLS_MAX 8    /* text arrays one flush statement takes */

typedef struct sb_kstore_s sb_kstore_t;

typedef struct sb_kstore_kind_s {
  const char *what;       /* "keyed state", "timers" */
  const char *budget_key; /* the budget's configuration key */
  const char *advice;     /* past the budget: "raise it, or <advice>" */
  size_t key_max;         /* bytes of a key */
  size_t item_size;       /* of an entry, an sb_kmap_hdr_t first */
  /* Frees what the entry points to; returns the bytes of it the budget
   * counted beyond its entry cost. NULL: nothing. */
  size_t (*release)(void *item);
  /* The partition goes: what the owner keeps for it besides its entries.
   * NULL: nothing. */
  void (*drop_partition)(sb_kstore_t *s, int topic, int32_t partition);
  /* Takes row r of the load query (see sb_kstore_load) into topic. */
  int (*load_row)(sb_kstore_t *s, int topic, const sb_pg_rows_t *rows, int r,
                  sb_err_t *err);
  /* The flush statement: $1 the schema; $2, $3, $4 text arrays of the
   * dirty entries' topics, partitions and keys, in that order; then
   * flush_cols - 3 arrays that flush_entry fills for each entry (sep is ""
   * for the first, "," after) and, when flush_more is not NULL, arrays it
   * fills itself (each opened with "{"; closed here). */
  const char *flush_sql;
  int flush_cols;   /* arrays filled per entry: 3 to SB_KSTORE_COLS_MAX */
  int flush_arrays; /* all arrays, flush_cols to SB_KSTORE_COLS_MAX */
  void (*flush_entry)(sb_text_t *arr, const sb_kmap_hdr_t *e, const char *sep);
  void (*flush_more)(sb_kstore_t *s, sb_text_t *arr);
  /* The load query: $1 the schema, $2 the topic, $3 an int[] of
   * partitions. */
  const char *load_sql;
} sb_kstore_kind_t;

struct sb_kstore_s {
  const sb_kstore_kind_t *kind;
  char schema[SB_KSTORE_SCHEMA_MAX + 1];
  size_t budget, bytes; /* the most memory it may take; what it takes */
  sb_kmap_t map;
  sb_kmap_dirty_t dirty; /* indices of the entries with pend != 0 */
};

/* A new store of this kind for the processor writing to schema
 * ([a-z][a-z0-9_]*, at most 63 bytes; copied; SB_EINVAL naming it
 * otherwise): owner_size zeroed bytes (the owner's struct, its store
 * first), set up. *out is the caller's (sb_kstore_free, then free), NULL
 * on failure. */
int sb_kstore_new(const sb_kstore_kind_t *kind, size_t owner_size,
                  const char *schema, size_t byte_budget, sb_kstore_t **out,
                  sb_err_t *err);
/* Releases every entry and frees the map and the dirty list (not s).
 * Accepts NULL. */
void sb_kstore_free(sb_kstore_t *s);

/* SB_EINVAL for a negative partition, naming it and topic. */
int sb_kstore_check_partition(const sb_kstore_t *s, const char *topic,
                              int32_t partition, sb_err_t *err);
/* The key's length, or SB_EINVAL naming what is wrong with the address:
 * no topic or key, a negative partition, a key empty, longer than the
 * kind's key_max or not UTF-8 without NUL. */
int sb_kstore_check_key(const sb_kstore_t *s, const char *topic,
                        int32_t partition, const char *key, size_t *klen,
                        sb_err_t *err);

/* The index of the entry of (topic, partition, key), or -1. */
long sb_kstore_find(const sb_kstore_t *s, const char *topic, int32_t partition,
                    const char *key, size_t klen);

/* What an entry costs beyond its values: the item, its slots, its key and
 * its place in the dirty list. */
size_t sb_kstore_entry_cost(const sb_kstore_t *s, size_t klen);
/* SB_ENOMEM: the store would take want bytes (at key), over its budget. */
int sb_kstore_over_budget(const sb_kstore_t *s, size_t want, const char *key,
                          sb_err_t *err);
/* The entry of (topic, partition, key) in *idx, added (zeroed, its cost
 * counted) when absent; SB_ENOMEM naming the key, and nothing changes,
 * when the bytes held, extra and a new entry's cost would pass the budget
 * (extra: what the caller adds to it after; not counted here). */
int sb_kstore_add(sb_kstore_t *s, int topic, int32_t partition, const char *key,
                  size_t klen, size_t extra, size_t *idx, sb_err_t *err);
/* The batch changed entry idx: listed as dirty unless it is already (room
 * taken beforehand with sb_kmap_dirty_reserve). */
void sb_kstore_mark(sb_kstore_t *s, size_t idx, uint8_t pend);
/* End of a batch, once the owner has settled each dirty entry (pend 0):
 * those left with no committed value (has 0) go, their cost given back;
 * the dirty list is emptied. */
void sb_kstore_sweep(sb_kstore_t *s);

/* The partition was revoked: its entries go (released, their bytes given
 * back), the dirty list is listed again, and the kind's drop_partition is
 * called. topic < 0 (one never seen): nothing. */
void sb_kstore_drop(sb_kstore_t *s, int topic, int32_t partition);

/* Writes the dirty entries (and what flush_more adds) in one statement,
 * inside the caller's transaction; errors prefixed "<what> of <schema>: ".
 * The caller skips it when there is nothing to write. */
int sb_kstore_flush(sb_kstore_t *s, sb_pg_t *pg, sb_err_t *err);
/* Loads topic's partitions (n) with the kind's load query, each row by
 * load_row, after dropping what was held for them; on failure drops them
 * again and prefixes "loading the <what> of <topic>: ". */
int sb_kstore_load(sb_kstore_t *s, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err);

/* Replay's swap, in the caller's transaction: the rows of each table (n)
 * stored for schema from become schema to's, whose own are deleted first.
 * Errors prefixed "moving the <what> of <from> to <to>: ". */
int sb_kstore_rename_schema(sb_pg_t *pg, const char *what,
                            const char *const *tables, size_t n,
                            const char *from, const char *to, sb_err_t *err);

#endif
