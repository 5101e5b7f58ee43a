/* Timers (sb_timers.h) against the fixture's PostgreSQL: wall clock and
 * event time, order, replace and cancel, pending vs committed, reload after
 * a restart or a crash, event time kept across restarts, bounds, and the
 * ids of events a timer emits. Transactions are the test's own, as the
 * pipeline's will be, as switchboard_app. */
#include "sb_pg.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_timers.h"
#include "sb_ulid.h"
#include "sb_util.h"
#include "sbt_kstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T "sb.gamification"

/* What fired, "key@due/partition" a timer, space-separated. */
typedef struct {
  char log[4096];
  sb_timers_t *t;
  const char *rearm; /* a key the callback sets again, 1000 later */
  const char *cancel; /* a key the callback cancels */
  int fail_at;       /* the call (1-based) that fails; 0: none */
  int calls;
} fired_t;

static int on_timer(void *arg, const sb_timer_t *tm) {
  fired_t *f = arg;
  size_t used = strlen(f->log);
  snprintf(f->log + used, sizeof f->log - used, "%s%s@%lld/%d",
           used ? " " : "", tm->key, (long long)tm->due_us, (int)tm->partition);
  if (++f->calls == f->fail_at)
    return SB_EINVAL;
  if (f->cancel != NULL &&
      sb_timers_cancel(f->t, tm->topic, tm->partition, f->cancel, NULL) != 0)
    return SB_EINVAL;
  if (f->rearm != NULL && strcmp(tm->key, f->rearm) == 0)
    return sb_timers_set(f->t, tm->topic, tm->partition, tm->key,
                         tm->due_us + 1000, tm->kind, NULL);
  return 0;
}

static const char *fire(sb_timers_t *t, int64_t now, fired_t *f) {
  memset(f, 0, sizeof *f);
  f->t = t;
  size_t n = 0;
  if (sb_timers_due(t, now, on_timer, f, &n) != 0)
    return "(failed)";
  if (n != (size_t)f->calls)
    return "(miscounted)";
  return f->log;
}

int test_timers_wall_and_event(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_timers_t *t = NULL;
  fired_t f;
  const int32_t parts[] = {0, 1};
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_timers_new("tproc", 1 << 20, &t, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 2, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "b", 2000, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 1, "a", 2000, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "a", 2000, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 1, "c", 1000, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "late", 9000, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "e1", 1500, SB_TIMER_EVENT, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 1, "e2", 1500, SB_TIMER_EVENT, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "gone", 10, SB_TIMER_WALL, &err), &err);
  /* set again replaces; cancel removes */
  CHECK_OK(sb_timers_set(t, T, 0, "late", 500, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_cancel(t, T, 0, "gone", &err), &err);
  CHECK_OK(sb_timers_cancel(t, T, 0, "never", &err), &err);
  CHECK_INT(sb_timers_get(t, T, 0, "gone", NULL, NULL), SB_ENOENT);
  int64_t due;
  sb_timer_kind_t kind;
  CHECK_INT(sb_timers_get(t, T, 0, "late", &due, &kind), 0);
  CHECK_INT(due, 500);
  CHECK_INT(kind, SB_TIMER_WALL);

  CHECK_STR(fire(t, 499, &f), "");
  /* by due time, then key, then partition; event timers wait */
  CHECK_STR(fire(t, 2000, &f), "late@500/0 c@1000/1 a@2000/0 a@2000/1 "
                               "b@2000/0");
  CHECK_INT(sb_timers_get(t, T, 0, "a", NULL, NULL), SB_ENOENT); /* fired */
  CHECK_STR(fire(t, 1000000, &f), "");
  CHECK_INT(sb_timers_event_time(t, T, 0), -1);
  /* event time: each partition its own, and only forward */
  CHECK_OK(sb_timers_advance(t, T, 0, 1499, &err), &err);
  CHECK_STR(fire(t, 1000000, &f), "");
  CHECK_OK(sb_timers_advance(t, T, 0, 1500, &err), &err);
  CHECK_OK(sb_timers_advance(t, T, 0, 3, &err), &err);
  CHECK_INT(sb_timers_event_time(t, T, 0), 1500);
  CHECK_STR(fire(t, 0, &f), "e1@1500/0");
  CHECK_OK(sb_timers_advance(t, T, 1, 1499, &err), &err);
  CHECK_STR(fire(t, 0, &f), "");
  CHECK_OK(sb_timers_advance(t, T, 1, 10000, &err), &err);
  CHECK_STR(fire(t, 0, &f), "e2@1500/1");
  CHECK_INT(sb_timers_count(t), 8); /* fired, not yet committed */
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  CHECK_INT(sb_timers_count(t), 0);

  /* an event timer already due when set fires at the next call */
  CHECK_OK(sb_timers_set(t, T, 1, "past", 20, SB_TIMER_EVENT, &err), &err);
  CHECK_STR(fire(t, 0, &f), "past@20/1");
  /* a callback may set its timer again; one already listed is not fired
   * twice in one call */
  CHECK_OK(sb_timers_set(t, T, 0, "tick", 100, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "tock", 100, SB_TIMER_WALL, &err), &err);
  memset(&f, 0, sizeof f);
  f.t = t;
  f.rearm = "tick";
  CHECK_INT(sb_timers_due(t, 5000, on_timer, &f, NULL), 0);
  CHECK_STR(f.log, "tick@100/0 tock@100/0");
  CHECK_INT(sb_timers_get(t, T, 0, "tick", &due, NULL), 0);
  CHECK_INT(due, 1100);
  CHECK_STR(fire(t, 5000, &f), "tick@1100/0");
  /* a callback's failure stops the firing and is returned */
  CHECK_OK(sb_timers_set(t, T, 0, "x1", 1, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "x2", 2, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "x3", 3, SB_TIMER_WALL, &err), &err);
  memset(&f, 0, sizeof f);
  f.t = t;
  f.fail_at = 2;
  size_t n = 0;
  CHECK_INT(sb_timers_due(t, 5000, on_timer, &f, &n), SB_EINVAL);
  CHECK_INT(n, 2);
  CHECK_STR(f.log, "x1@1/0 x2@2/0");
  CHECK_STR(fire(t, 5000, &f), "x3@3/0"); /* still due after the failure */
  /* a timer cancelled by an earlier call of the same firing stays quiet */
  CHECK_OK(sb_timers_set(t, T, 0, "y1", 1, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "y2", 2, SB_TIMER_WALL, &err), &err);
  memset(&f, 0, sizeof f);
  f.t = t;
  f.cancel = "y2";
  CHECK_INT(sb_timers_due(t, 5000, on_timer, &f, &n), 0);
  CHECK_STR(f.log, "y1@1/0");
  CHECK_INT(n, 1);
  sb_timers_abort(t); /* the batch fails: everything it did is undone */
  CHECK_INT(sb_timers_count(t), 0);
  CHECK_INT(sb_timers_event_time(t, T, 1), 10000);
  sb_timers_free(t);
  sbt_kdb_close(&d);
  return 0;
}

int test_timers_abort_commit_reload(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_timers_t *t = NULL;
  fired_t f;
  const int32_t parts[] = {0, 1, 2};
  char key[32];
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_timers_new("tproc", 1 << 20, &t, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 3, &err), &err);
  for (int i = 0; i < 30; i++) {
    snprintf(key, sizeof key, "k%02d", i);
    CHECK_OK(sb_timers_set(t, T, i % 3, key, 1000 + 100 * i,
                           i % 2 ? SB_TIMER_EVENT : SB_TIMER_WALL, &err),
             &err);
  }
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  /* fire the first wall timers, then the batch fails: they come back */
  CHECK_STR(fire(t, 1400, &f), "k00@1000/0 k02@1200/2 k04@1400/1");
  CHECK_OK(sb_timers_cancel(t, T, 2, "k05", &err), &err);
  CHECK_OK(sb_timers_set(t, T, 0, "k06", 99999, SB_TIMER_WALL, &err), &err);
  sb_timers_abort(t);
  CHECK_INT(sb_timers_count(t), 30);
  CHECK_STR(fire(t, 1600, &f), "k00@1000/0 k02@1200/2 k04@1400/1 k06@1600/0");
  CHECK_OK(sb_timers_cancel(t, T, 2, "k05", &err), &err);
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  CHECK_INT(sb_timers_count(t), 25);

  /* a crash mid-batch: flushed, rolled back; the next process loads */
  CHECK_STR(fire(t, 2000, &f), "k08@1800/2 k10@2000/1");
  CHECK_OK(sb_timers_set(t, T, 1, "new", 5, SB_TIMER_WALL, &err), &err);
  CHECK_OK(sb_timers_advance(t, T, 1, 999999, &err), &err);
  CHECK_OK(sbt_begin_app(d.pg, &err), &err);
  CHECK_OK(sb_timers_flush(t, d.pg, &err), &err);
  sb_pg_rollback(d.pg);
  sb_timers_free(t);
  t = NULL;
  CHECK_OK(sb_timers_new("tproc", 1 << 20, &t, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 3, &err), &err);
  CHECK_INT(sb_timers_count(t), 25);
  CHECK_INT(sb_timers_get(t, T, 1, "new", NULL, NULL), SB_ENOENT);
  CHECK_INT(sb_timers_event_time(t, T, 1), -1);
  int64_t due;
  sb_timer_kind_t kind;
  CHECK_INT(sb_timers_get(t, T, 1, "k13", &due, &kind), 0);
  CHECK_INT(due, 2300);
  CHECK_INT(kind, SB_TIMER_EVENT);
  CHECK_INT(sb_timers_get(t, T, 2, "k05", NULL, NULL), SB_ENOENT);
  /* the same timers fire as before the crash, in the same order */
  CHECK_STR(fire(t, 2000, &f), "k08@1800/2 k10@2000/1");
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);

  /* revocation drops a partition's timers; assignment brings them back */
  sb_timers_drop(t, T, 1);
  CHECK_INT(sb_timers_count(t), 15);
  CHECK_STR(fire(t, 2400, &f), "k12@2200/0 k14@2400/2");
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  const int32_t one[] = {1};
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, one, 1, &err), &err);
  CHECK_INT(sb_timers_count(t), 21);
  CHECK_STR(fire(t, 2700, &f), "k16@2600/1");
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);

  /* a replay's schema is apart until its swap moves it over */
  sb_timers_t *g = NULL;
  CHECK_OK(sb_timers_new("tproc_g2", 1 << 20, &g, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, g, d.pg, T, parts, 3, &err), &err);
  CHECK_INT(sb_timers_count(g), 0);
  CHECK_OK(sbt_begin_app(d.pg, &err), &err);
  CHECK_OK(sb_timers_rename_schema(d.pg, "tproc", "tproc_g2", &err), &err);
  CHECK_OK(sb_timers_load(g, d.pg, T, parts, 3, &err), &err);
  sb_pg_rollback(d.pg);
  CHECK_INT(sb_timers_count(g), sb_timers_count(t));
  sb_timers_free(g);
  sb_timers_free(t);
  sbt_kdb_close(&d);
  return 0;
}

int test_timers_event_time_persists(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_timers_t *t = NULL;
  fired_t f;
  const int32_t parts[] = {0, 1};
  const int64_t T0 = INT64_C(1767225600000000); /* 2026-01-01 */
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_timers_new("tproc", 1 << 20, &t, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 2, &err), &err);
  CHECK_OK(sb_timers_advance(t, T, 0, T0, &err), &err);
  CHECK_OK(sb_timers_advance(t, T, 1, T0 + 7, &err), &err); /* no timers */
  CHECK_OK(sb_timers_set(t, T, 0, "soon", T0 + 10, SB_TIMER_EVENT, &err),
           &err);
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  /* a batch that moves event time, then fails: event time goes back */
  CHECK_OK(sb_timers_advance(t, T, 0, T0 + 50, &err), &err);
  CHECK_INT(sb_timers_event_time(t, T, 0), T0 + 50);
  sb_timers_abort(t);
  CHECK_INT(sb_timers_event_time(t, T, 0), T0);
  CHECK_STR(fire(t, 0, &f), "");
  sb_timers_free(t);

  /* restart: event time is what was committed, for both partitions */
  t = NULL;
  CHECK_OK(sb_timers_new("tproc", 1 << 20, &t, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 2, &err), &err);
  CHECK_INT(sb_timers_event_time(t, T, 0), T0);
  CHECK_INT(sb_timers_event_time(t, T, 1), T0 + 7);
  CHECK_STR(fire(t, 0, &f), "");
  /* a timer set at or before the partition's event time fires at once,
   * restart or not */
  CHECK_OK(sb_timers_set(t, T, 0, "was", T0 - 5, SB_TIMER_EVENT, &err), &err);
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  sb_timers_free(t);
  t = NULL;
  CHECK_OK(sb_timers_new("tproc", 1 << 20, &t, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 2, &err), &err);
  char want[96];
  snprintf(want, sizeof want, "was@%lld/0", (long long)(T0 - 5));
  CHECK_STR(fire(t, 0, &f), want);
  CHECK_OK(sb_timers_advance(t, T, 0, T0 + 9, &err), &err);
  CHECK_STR(fire(t, 0, &f), "");
  CHECK_OK(sb_timers_advance(t, T, 0, T0 + 10, &err), &err);
  snprintf(want, sizeof want, "soon@%lld/0", (long long)(T0 + 10));
  CHECK_STR(fire(t, 0, &f), want);
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  CHECK_INT(sbt_scalar(d.pg,
                       "SELECT event_time_us FROM "
                       "sb.processor_event_time WHERE schema = 'tproc' AND "
                       "partition = 0"),
            T0 + 10);
  /* revocation drops the partition's event time until it is loaded */
  sb_timers_drop(t, T, 0);
  CHECK_INT(sb_timers_event_time(t, T, 0), -1);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 1, &err), &err);
  CHECK_INT(sb_timers_event_time(t, T, 0), T0 + 10);
  sb_timers_free(t);
  sbt_kdb_close(&d);
  return 0;
}

int test_timers_bounds_and_budget(void) {
  sbt_kdb_t d;
  sb_err_t err = SB_ERR_INIT;
  sb_timers_t *t = NULL;
  const int32_t parts[] = {0};
  char key[32];
  CHECK(sbt_kdb_open(&d) == 0);
  CHECK_OK(sb_timers_new("tbudget", 16 * 1024, &t, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, t, d.pg, T, parts, 1, &err), &err);
  CHECK_INT(sb_timers_set(t, T, 0, "k", -1, SB_TIMER_WALL, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "due time -1");
  sb_err_clear(&err);
  CHECK_INT(sb_timers_set(t, T, 0, "k", SB_TIMER_DUE_MAX + 1, SB_TIMER_WALL,
                          &err),
            SB_EINVAL);
  sb_err_clear(&err);
  CHECK_OK(sb_timers_set(t, T, 0, "max", SB_TIMER_DUE_MAX, SB_TIMER_WALL,
                         &err),
           &err);
  CHECK_INT(sb_timers_set(t, T, 0, "k", 5, (sb_timer_kind_t)7, &err),
            SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(sb_timers_set(t, T, 0, "", 5, SB_TIMER_WALL, &err), SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(sb_timers_set(t, T, 0, "\xff", 5, SB_TIMER_WALL, &err),
            SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(sb_timers_advance(t, T, -2, 5, &err), SB_EINVAL);
  sb_err_clear(&err);
  int i = 0, rc = 0;
  for (; i < 10000 && rc == 0; i++) {
    snprintf(key, sizeof key, "timer-%d", i);
    rc = sb_timers_set(t, T, 0, key, 1000 + i, SB_TIMER_WALL, &err);
  }
  CHECK_INT(rc, SB_ENOMEM);
  CHECK_HAS(err.msg, "tbudget");
  CHECK_HAS(err.msg, "processor.timers_max_bytes");
  sb_err_clear(&err);
  CHECK(i > 50);
  CHECK(sb_timers_bytes(t) <= 16 * 1024);
  CHECK_INT(sb_timers_get(t, T, 0, key, NULL, NULL), SB_ENOENT);
  /* replacing a timer needs no memory */
  CHECK_OK(sb_timers_set(t, T, 0, "timer-0", 1, SB_TIMER_EVENT, &err), &err);
  CHECK_OK(sbt_kstore_commit(NULL, t, d.pg, &err), &err);
  size_t n = sb_timers_count(t);
  sb_timers_t *small = NULL;
  CHECK_OK(sb_timers_new("tbudget", 4096, &small, &err), &err);
  CHECK_INT(sbt_kstore_load(NULL, small, d.pg, T, parts, 1, &err), SB_ENOMEM);
  CHECK_HAS(err.msg, "processor.timers_max_bytes");
  sb_err_clear(&err);
  CHECK_INT(sb_timers_count(small), 0);
  sb_timers_free(small);
  sb_timers_t *again = NULL;
  CHECK_OK(sb_timers_new("tbudget", 16 * 1024, &again, &err), &err);
  CHECK_OK(sbt_kstore_load(NULL, again, d.pg, T, parts, 1, &err), &err);
  CHECK_INT(sb_timers_count(again), n);
  int64_t due;
  CHECK_INT(sb_timers_get(again, T, 0, "max", &due, NULL), 0);
  CHECK_INT(due, SB_TIMER_DUE_MAX);
  sb_timers_free(again);
  sb_timers_free(t);
  sbt_kdb_close(&d);
  return 0;
}

int test_timer_event_ids(void) {
  sb_err_t err = SB_ERR_INIT;
  const int64_t due = INT64_C(1767225600123456);
  char a[SB_ULID_LEN + 1], b[SB_ULID_LEN + 1], c[SB_ULID_LEN + 1];
  /* known answers (computed apart from this code, with Python's hashlib):
   * the format of the id never changes silently */
  CHECK_OK(sb_timer_event_id("gamification", "challenge-42", due,
                             "challenge.won", a, &err),
           &err);
  CHECK_STR(a, "01KDVDNA3VES9XP1E08S4G3SYM");
  CHECK_OK(sb_timer_event_id("gamification", "challenge-42", due, "", b, &err),
           &err);
  CHECK_STR(b, "01KDVDNA3VPGPGHK7XKKJSH0Y9");
  /* stable, and its time is the due time's millisecond */
  CHECK_OK(sb_timer_event_id("gamification", "challenge-42", due,
                             "challenge.won", c, &err),
           &err);
  CHECK_STR(c, a);
  char t[SB_ULID_LEN + 1];
  static const unsigned char zero[10] = {0};
  sb_ulid_make((uint64_t)(due / 1000), zero, t);
  CHECK(memcmp(a, t, 10) == 0);
  CHECK(sb_ulid_valid(a, SB_ULID_LEN));
  /* every part of the input moves it; no two tuples share an input */
  static const struct {
    const char *p, *k;
    int64_t due;
    const char *d;
  } other[] = {
      {"gamification", "challenge-42", INT64_C(1767225600123456), "a"},
      {"gamification", "challenge-42", INT64_C(1767225600123457),
       "challenge.won"},
      {"gamification", "challenge-43", INT64_C(1767225600123456),
       "challenge.won"},
      {"routing", "challenge-42", INT64_C(1767225600123456), "challenge.won"},
      {"gamification", "challenge-4", INT64_C(21767225600123456),
       "challenge.won"},
      {"gamificatio", "nchallenge-42", INT64_C(1767225600123456),
       "challenge.won"},
  };
  char ids[SB_ARRAY_LEN(other)][SB_ULID_LEN + 1];
  for (size_t i = 0; i < SB_ARRAY_LEN(other); i++) {
    CHECK_OK(sb_timer_event_id(other[i].p, other[i].k, other[i].due,
                               other[i].d, ids[i], &err),
             &err);
    CHECK(strcmp(ids[i], a) != 0);
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(ids[i], ids[j]) != 0);
  }
  CHECK_INT(sb_timer_event_id("p", "k", -1, "", c, &err), SB_EINVAL);
  sb_err_clear(&err);
  CHECK_INT(sb_timer_event_id("p", NULL, 5, "", c, &err), SB_EINVAL);
  return 0;
}
