/* The durable offsets `up` publishes for its embedded broker, and which log
 * incarnation a process works against (see sb_journal.h).
 *
 * <data_dir>/kafka/durable is a small file of fixed layout that the
 * journal's writer maps read-write and every other user maps read-only:
 * one 64-bit next-durable offset and one full-from offset per partition of
 * each journaled topic, lock-free atomics (the same on x86-64 and arm64
 * across processes). */
#include "sb_journal.h"

#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DURABLE_MAGIC "SBDUR001"
#define MAX_PARTS 1024

typedef struct {
  char magic[8];
  uint32_t ntopics, nparts;
  int64_t bound;
  char epoch[64];
  char bootstraps[256];
  _Atomic int32_t failed;
  char reason[252];
  /* then next[ntopics * nparts], full[ntopics * nparts] (-1: not full) */
} durable_hdr_t;

/* <dir>/wake, beside durable and mapped read-write by every process (the
 * offsets stay read-only to all but the writer): how a waiter wakes a
 * resting journal. The journal rests (its partitions paused, no fetch)
 * when nothing arrived for a while; a process that finds a record not yet
 * durable bumps `demand` and wakes the futex on it. */
#define WAKE_MAGIC "SBWAKE01"
typedef struct {
  char magic[8];
  _Atomic uint32_t resting; /* 1 while the journal's partitions are paused */
  _Atomic uint32_t demand;  /* bumped by waiters; the futex word */
} wake_t;

struct sb_durable_s {
  durable_hdr_t *h;
  size_t size;
  _Atomic int64_t *next, *full;
  wake_t *wake; /* NULL: could not be mapped (the journal then wakes itself) */
};

static int futex(_Atomic uint32_t *word, int op, uint32_t val,
                 const struct timespec *ts) {
  /* not FUTEX_PRIVATE_FLAG: the word is in a file other processes map */
  return (int)syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

static wake_t *wake_map(const char *path, int create) {
  int fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC
                             : O_RDWR | O_CLOEXEC,
                0600);
  if (fd < 0)
    return NULL;
  if (create && ftruncate(fd, (off_t)sizeof(wake_t)) != 0) {
    close(fd);
    return NULL;
  }
  struct stat st;
  void *map = MAP_FAILED;
  if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(wake_t))
    map = mmap(NULL, sizeof(wake_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED)
    return NULL;
  wake_t *w = map;
  if (create)
    memcpy(w->magic, WAKE_MAGIC, 8);
  else if (memcmp(w->magic, WAKE_MAGIC, 8) != 0) {
    munmap(map, sizeof(wake_t));
    return NULL;
  }
  return w;
}

/* A waiter found a record not yet durable: wake the journal if it rests. */
static void demand(const sb_durable_t *d) {
  if (d->wake == NULL || !atomic_load(&d->wake->resting))
    return;
  atomic_fetch_add(&d->wake->demand, 1);
  futex(&d->wake->demand, FUTEX_WAKE, INT32_MAX, NULL);
}

void sb__durable_wake(sb_durable_t *d) {
  if (d != NULL && d->wake != NULL) {
    atomic_fetch_add(&d->wake->demand, 1);
    futex(&d->wake->demand, FUTEX_WAKE, INT32_MAX, NULL);
  }
}

uint32_t sb__durable_rest(sb_durable_t *d) {
  if (d->wake == NULL)
    return 0;
  uint32_t seen = atomic_load(&d->wake->demand); /* before resting is set */
  atomic_store(&d->wake->resting, 1);
  return seen;
}

int sb__durable_sleep(sb_durable_t *d, uint32_t seen, int ms) {
  if (d->wake == NULL) {
    usleep((useconds_t)ms * 1000);
    return 0;
  }
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  if (atomic_load(&d->wake->demand) == seen)
    futex(&d->wake->demand, FUTEX_WAIT, seen, &ts);
  return atomic_load(&d->wake->demand) != seen;
}

void sb__durable_awake(sb_durable_t *d) {
  if (d->wake != NULL)
    atomic_store(&d->wake->resting, 0);
}

static size_t layout_size(uint32_t ntopics, uint32_t nparts) {
  return sizeof(durable_hdr_t) +
         2 * (size_t)ntopics * nparts * sizeof(_Atomic int64_t);
}

static void set_arrays(sb_durable_t *d) {
  d->next = (_Atomic int64_t *)(d->h + 1);
  d->full = d->next + (size_t)d->h->ntopics * d->h->nparts;
}

int sb__durable_create(const char *dir, const char *epoch,
                       const char *bootstraps, int nparts, int64_t bound,
                       const int64_t *next, sb_durable_t **out, sb_err_t *err) {
  char path[PATH_MAX], tmp[PATH_MAX];
  *out = NULL;
  snprintf(path, sizeof path, "%s/durable", dir);
  snprintf(tmp, sizeof tmp, "%s/durable.tmp", dir);
  size_t n = sb_topics_n * (size_t)nparts;
  size_t size = layout_size((uint32_t)sb_topics_n, (uint32_t)nparts);
  sb_durable_t *d = calloc(1, sizeof *d);
  if (d == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
    sb_err_set(err, SB_EIO, "embedded broker: cannot create %s: %s", tmp,
               strerror(errno));
    goto fail;
  }
  d->h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (d->h == MAP_FAILED) {
    d->h = NULL;
    sb_err_set(err, SB_EIO, "embedded broker: cannot map %s: %s", tmp,
               strerror(errno));
    goto fail;
  }
  d->size = size;
  d->h->ntopics = (uint32_t)sb_topics_n;
  d->h->nparts = (uint32_t)nparts;
  d->h->bound = bound;
  snprintf(d->h->epoch, sizeof d->h->epoch, "%s", epoch);
  snprintf(d->h->bootstraps, sizeof d->h->bootstraps, "%s", bootstraps);
  set_arrays(d);
  for (size_t i = 0; i < n; i++) {
    atomic_store(&d->next[i], next[i]);
    atomic_store(&d->full[i], -1);
  }
  char wpath[PATH_MAX];
  snprintf(wpath, sizeof wpath, "%s/wake", dir);
  d->wake = wake_map(wpath, 1); /* NULL: the journal never rests */
  memcpy(d->h->magic, DURABLE_MAGIC, 8); /* last: the file is complete */
  if (rename(tmp, path) != 0) {
    sb_err_set(err, SB_EIO, "embedded broker: cannot rename %s: %s", tmp,
               strerror(errno));
    goto fail;
  }
  close(fd);
  *out = d;
  return 0;
fail:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  sb_durable_detach(d);
  return err->code;
}

void sb__durable_publish(sb_durable_t *d, int ti, int32_t partition,
                         int64_t next) {
  atomic_store(&d->next[(size_t)ti * d->h->nparts + (size_t)partition], next);
}

void sb__durable_full(sb_durable_t *d, int ti, int32_t partition, int64_t at) {
  atomic_store(&d->full[(size_t)ti * d->h->nparts + (size_t)partition], at);
}

void sb__durable_fail(sb_durable_t *d, const char *reason) {
  snprintf(d->h->reason, sizeof d->h->reason, "%s", reason);
  atomic_store(&d->h->failed, 1);
}

int sb_durable_attach(const sb_conf_t *c, sb_durable_t **out, sb_err_t *err) {
  char path[PATH_MAX];
  struct stat st;
  *out = NULL;
  if (c->brokers == NULL || c->data_dir == NULL)
    return 0;
  snprintf(path, sizeof path, "%s/kafka/durable", c->data_dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0; /* no `up` with a journal here */
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(durable_hdr_t)) {
    close(fd);
    return 0;
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED)
    return sb_err_set(err, SB_EIO, "cannot map %s: %s", path, strerror(errno));
  durable_hdr_t *h = map;
  if (memcmp(h->magic, DURABLE_MAGIC, 8) != 0 || h->nparts == 0 ||
      h->nparts > MAX_PARTS || h->ntopics != sb_topics_n ||
      (size_t)st.st_size < layout_size(h->ntopics, h->nparts) ||
      strncmp(h->bootstraps, c->brokers, sizeof h->bootstraps) != 0) {
    munmap(map, (size_t)st.st_size); /* another broker's, or not ours */
    return 0;
  }
  sb_durable_t *d = calloc(1, sizeof *d);
  if (d == NULL) {
    munmap(map, (size_t)st.st_size);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  d->h = h;
  d->size = (size_t)st.st_size;
  set_arrays(d);
  snprintf(path, sizeof path, "%s/kafka/wake", c->data_dir);
  d->wake = wake_map(path, 0); /* NULL: waits end at the journal's own wake */
  *out = d;
  return 0;
}

void sb_durable_detach(sb_durable_t *d) {
  if (d == NULL)
    return;
  if (d->h != NULL)
    munmap(d->h, d->size);
  if (d->wake != NULL)
    munmap(d->wake, sizeof(wake_t));
  free(d);
}

int sb_durable_topic(const char *topic) {
  for (size_t i = 0; i < sb_topics_n; i++)
    if (strcmp(sb_topics[i], topic) == 0)
      return (int)i;
  return -1;
}

int sb_durable_check(const sb_durable_t *d, int ti, int32_t partition,
                     int64_t offset, sb_err_t *err) {
  if (d == NULL || ti < 0 || partition < 0 ||
      (uint32_t)partition >= d->h->nparts)
    return 1;
  size_t i = (size_t)ti * d->h->nparts + (size_t)partition;
  if (atomic_load(&d->next[i]) > offset)
    return 1;
  int64_t full = atomic_load(&d->full[i]);
  if (full >= 0 && offset >= full)
    return sb_err_set(err, SB_EUNAVAIL,
                      "the embedded broker's partition %s[%d] is full: its "
                      "journal keeps embedded.partition_max_bytes (%lld "
                      "bytes) and records from offset %lld on are not "
                      "durable; raise the bound on a new data directory, or "
                      "set 'brokers' to a Kafka cluster",
                      sb_topics[ti], partition, (long long)d->h->bound,
                      (long long)full);
  if (atomic_load(&d->h->failed))
    return sb_err_set(err, SB_EUNAVAIL,
                      "the embedded broker's journal stopped: %.252s",
                      d->h->reason);
  demand(d); /* someone waits for it: a resting journal wakes */
  return 0;
}

int sb_durable_wait(const sb_durable_t *d, const char *topic,
                    int32_t partition, int64_t next, int timeout_ms,
                    sb_err_t *err) {
  int ti = sb_durable_topic(topic);
  if (d == NULL || ti < 0 || next <= 0)
    return 0;
  long long deadline = sb_now_ms() + timeout_ms;
  for (;;) {
    int rc = sb_durable_check(d, ti, partition, next - 1, err);
    if (rc != 0)
      return rc < 0 ? rc : 0;
    if (sb_now_ms() >= deadline)
      return sb_err_set(err, SB_ETIMEDOUT,
                        "the embedded broker's journal did not make %s[%d] "
                        "durable up to offset %lld within %d ms",
                        topic, partition, (long long)next, timeout_ms);
    usleep(500);
  }
}

int sb_log_epoch(const sb_conf_t *c, rd_kafka_t *rk, char *out, size_t cap,
                 sb_err_t *err) {
  sb_durable_t *d = NULL;
  int rc = sb_durable_attach(c, &d, err);
  if (rc != 0)
    return rc;
  if (d != NULL) {
    snprintf(out, cap, "journal:%s", d->h->epoch);
    sb_durable_detach(d);
    return 0;
  }
  rd_kafka_t *own = NULL;
  if (rk == NULL) {
    char errstr[512];
    rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
    if (conf == NULL)
      return err->code;
    own = rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
      rd_kafka_conf_destroy(conf);
      return sb_err_set(err, SB_EKAFKA, "kafka: %s", errstr);
    }
  }
  char *id = rd_kafka_clusterid(rk, c->kafka_timeout_ms);
  if (id == NULL)
    rc = sb_err_set(err, SB_EUNAVAIL,
                    "kafka: the brokers '%s' did not tell their cluster id "
                    "within %d ms",
                    c->brokers ? c->brokers : "?", c->kafka_timeout_ms);
  else
    snprintf(out, cap, "kafka:%s", id);
  if (id != NULL)
    rd_kafka_mem_free(rk, id);
  if (own != NULL)
    rd_kafka_destroy(own);
  return rc;
}
