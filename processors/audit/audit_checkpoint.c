#include "audit_checkpoint.h"

#include "sb_processor_tools.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void to_hex(const unsigned char *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int from_hex(const char *s, size_t digits, unsigned char *out) {
  for (size_t i = 0; i < digits; i += 2) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char c = s[i + (size_t)k];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                     : -1;
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
    out[i / 2] = (unsigned char)v;
  }
  return 0;
}

int sb_ckpt_encode(const sb_sigkey_t *k, const sb_ckpt_chain_t *chains,
                   size_t n, char **line, size_t *len, sb_err_t *err) {
  *line = NULL;
  if (n == 0 || n > SB_CKPT_CHAINS_MAX)
    return sb_err_set(err, SB_EINVAL, "a checkpoint holds 1 to %d chains",
                      SB_CKPT_CHAINS_MAX);
  char now[40], hex[65];
  sb_time_format(sb_time_now_micros(), now, sizeof now);
  cJSON *o = cJSON_CreateObject(), *arr = NULL;
  int ok = o != NULL && cJSON_AddNumberToObject(o, "v", 1) &&
           cJSON_AddStringToObject(o, "key", sb_sigkey_id(k)) &&
           cJSON_AddStringToObject(o, "time", now) &&
           (arr = cJSON_AddArrayToObject(o, "chains")) != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    const sb_ckpt_chain_t *c = &chains[i];
    cJSON *e = cJSON_CreateObject();
    to_hex(c->hash, 32, hex);
    ok = e != NULL && cJSON_AddItemToArray(arr, e) &&
         cJSON_AddStringToObject(e, "tenant", c->tenant) &&
         cJSON_AddStringToObject(e, "topic", c->topic) &&
         cJSON_AddNumberToObject(e, "partition", c->partition) &&
         cJSON_AddNumberToObject(e, "seq", (double)c->seq) &&
         cJSON_AddNumberToObject(e, "offset", (double)c->offset) &&
         cJSON_AddStringToObject(e, "hash", hex);
  }
  char *body = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (body == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t blen = strlen(body);
  unsigned char sig[SB_SIGN_LEN];
  int rc = sb_sigkey_sign(k, body, blen, sig, err);
  char *out = rc == 0 ? malloc(blen + 1 + 2 * SB_SIGN_LEN + 1) : NULL;
  if (rc == 0 && out == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0) {
    memcpy(out, body, blen);
    out[blen] = '\t';
    to_hex(sig, SB_SIGN_LEN, out + blen + 1);
    *line = out;
    *len = blen + 1 + 2 * SB_SIGN_LEN;
  }
  cJSON_free(body);
  return rc;
}

/* An integer field of a checkpoint's chain, within [lo, hi]. */
static int int_field(const cJSON *e, const char *name, int64_t lo, int64_t hi,
                     int64_t *out) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, name);
  if (!cJSON_IsNumber(f) || f->valuedouble < (double)lo ||
      f->valuedouble > (double)hi || f->valuedouble != (double)(int64_t)f->valuedouble)
    return -1;
  *out = (int64_t)f->valuedouble;
  return 0;
}

static int str_field(const cJSON *e, const char *name, char *out, size_t cap) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, name);
  if (!cJSON_IsString(f) || strlen(f->valuestring) >= cap)
    return -1;
  memcpy(out, f->valuestring, strlen(f->valuestring) + 1);
  return 0;
}

int sb_ckpt_decode(const sb_sigkey_t *k, const char *line, size_t len,
                   sb_ckpt_chain_t **chains, size_t *n, char time[40],
                   sb_err_t *err) {
  *chains = NULL;
  *n = 0;
  time[0] = '\0';
  const size_t siglen = 2 * SB_SIGN_LEN;
  if (len < siglen + 3 || len > SB_CKPT_LINE_MAX || line[len - siglen - 1] != '\t')
    return sb_err_set(err, SB_EDECODE, "not a checkpoint (no tab and %zu "
                                       "hex digits of signature at its end)",
                      siglen);
  unsigned char sig[SB_SIGN_LEN];
  if (from_hex(line + len - siglen, siglen, sig) != 0)
    return sb_err_set(err, SB_EDECODE, "its signature is not %zu lowercase "
                                       "hex digits", siglen);
  size_t blen = len - siglen - 1;
  if (!sb_sigkey_verify(k, line, blen, sig))
    return sb_err_set(err, SB_ECRYPTO,
                      "bad signature: the line was changed, or not signed "
                      "with this data directory's key %s", sb_sigkey_id(k));
  cJSON *o = cJSON_ParseWithLength(line, blen);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "chains");
  int rc = 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != 1 || !cJSON_IsArray(arr) ||
      cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > SB_CKPT_CHAINS_MAX ||
      str_field(o, "time", time, 40) != 0) {
    rc = sb_err_set(err, SB_EDECODE, "signed, but not a version 1 checkpoint");
    goto out;
  }
  size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0;
  sb_ckpt_chain_t *c = calloc(cnt, sizeof *c);
  if (c == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    int64_t part;
    char hex[65];
    if (str_field(e, "tenant", c[i].tenant, sizeof c[i].tenant) != 0 ||
        str_field(e, "topic", c[i].topic, sizeof c[i].topic) != 0 ||
        int_field(e, "partition", 0, INT32_MAX, &part) != 0 ||
        int_field(e, "seq", 1, INT64_C(1) << 52, &c[i].seq) != 0 ||
        int_field(e, "offset", 0, INT64_C(1) << 52, &c[i].offset) != 0 ||
        str_field(e, "hash", hex, sizeof hex) != 0 || strlen(hex) != 64 ||
        from_hex(hex, 64, c[i].hash) != 0) {
      free(c);
      rc = sb_err_set(err, SB_EDECODE, "signed, but chain %zu is malformed", i);
      goto out;
    }
    c[i].partition = (int32_t)part;
    i++;
  }
  *chains = c;
  *n = cnt;
out:
  cJSON_Delete(o);
  return rc;
}

int sb_ckpt_append(const char *data_dir, const char *line, size_t len,
                   sb_err_t *err) {
  char path[PATH_MAX];
  if (sb_fmt(path, sizeof path, err, "%s/%s", data_dir, SB_CKPT_FILE) != 0)
    return SB_EINVAL;
  char *buf = malloc(len + 1);
  if (buf == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  memcpy(buf, line, len);
  buf[len] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int rc = 0;
  if (fd < 0) {
    rc = sb_err_set(err, SB_EIO, "cannot open %s: %s", path, strerror(errno));
  } else {
    ssize_t w;
    do
      w = write(fd, buf, len + 1);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)(len + 1) || fsync(fd) != 0)
      rc = sb_err_set(err, SB_EIO, "cannot append to %s: %s", path,
                      w < 0 ? strerror(errno) : "short write");
    close(fd);
  }
  free(buf);
  return rc;
}

/* ---- the newest checkpoint of each chain ------------------------------- */

static uint64_t chain_hash(const char *tenant, const char *topic,
                           int32_t partition) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *s = tenant; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *s = topic; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return (h ^ (uint32_t)partition) * 1099511628211ull;
}

/* The slot of a chain: its entry's, or the empty one where it would go. */
static size_t slot(const sb_ckpt_set_t *s, const char *tenant,
                   const char *topic, int32_t partition) {
  size_t k = chain_hash(tenant, topic, partition) & (s->ixcap - 1);
  for (; s->ix[k] != 0; k = (k + 1) & (s->ixcap - 1)) {
    const sb_ckpt_chain_t *c = &s->e[s->ix[k] - 1].c;
    if (c->partition == partition && strcmp(c->tenant, tenant) == 0 &&
        strcmp(c->topic, topic) == 0)
      break;
  }
  return k;
}

const sb_ckpt_entry_t *sb_ckpt_set_find(const sb_ckpt_set_t *s,
                                        const char *tenant, const char *topic,
                                        int32_t partition) {
  if (s->ixcap == 0)
    return NULL;
  size_t k = slot(s, tenant, topic, partition);
  return s->ix[k] ? &s->e[s->ix[k] - 1] : NULL;
}

static int put(sb_ckpt_set_t *s, const sb_ckpt_chain_t *c, const char *time,
               const char *src, sb_err_t *err) {
  if (2 * (s->n + 1) > s->ixcap) { /* grow: twice the slots, all again */
    size_t cap = s->ixcap ? 2 * s->ixcap : 256;
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (ix == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    free(s->ix);
    s->ix = ix;
    s->ixcap = cap;
    for (size_t i = 0; i < s->n; i++)
      s->ix[slot(s, s->e[i].c.tenant, s->e[i].c.topic, s->e[i].c.partition)] =
          (uint32_t)(i + 1);
  }
  size_t k = slot(s, c->tenant, c->topic, c->partition);
  sb_ckpt_entry_t *e;
  if (s->ix[k] != 0) {
    e = &s->e[s->ix[k] - 1];
    if (c->seq <= e->c.seq)
      return 0;
  } else {
    if (s->n == s->cap) {
      size_t cap = s->cap ? 2 * s->cap : 64;
      sb_ckpt_entry_t *ne = realloc(s->e, cap * sizeof *ne);
      if (ne == NULL)
        return sb_err_set(err, SB_ENOMEM, "out of memory");
      s->e = ne;
      s->cap = cap;
    }
    e = &s->e[s->n++];
    s->ix[k] = (uint32_t)s->n;
  }
  e->c = *c;
  snprintf(e->time, sizeof e->time, "%s", time);
  snprintf(e->src, sizeof e->src, "%s", src);
  return 0;
}

int sb_ckpt_set_line(sb_ckpt_set_t *s, const char *line, size_t len,
                     const char *src, sb_err_t *err) {
  sb_ckpt_chain_t *chains = NULL;
  size_t n = 0;
  char time[40];
  sb_err_t why = SB_ERR_INIT;
  s->lines++;
  if (sb_ckpt_decode(s->key, line, len, &chains, &n, time, &why) != 0) {
    if (why.code == SB_ENOMEM)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    if (s->bad)
      s->bad(s->ctx, src, why.msg);
    return 0;
  }
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (s->tenant == NULL || strcmp(chains[i].tenant, s->tenant) == 0)
      rc = put(s, &chains[i], time, src, err);
  if (strcmp(time, s->newest) > 0)
    snprintf(s->newest, sizeof s->newest, "%s", time);
  free(chains);
  return rc;
}

int sb_ckpt_set_read_file(sb_ckpt_set_t *s, const char *data_dir, size_t tail,
                          int *torn, sb_err_t *err) {
  char path[PATH_MAX];
  *torn = 0;
  if (sb_fmt(path, sizeof path, err, "%s/%s", data_dir, SB_CKPT_FILE) != 0)
    return SB_EINVAL;
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return errno == ENOENT ? 0
                           : sb_err_set(err, SB_EIO, "cannot read %s: %s", path,
                                        strerror(errno));
  char *buf = malloc(SB_CKPT_LINE_MAX + 2);
  if (buf == NULL) {
    fclose(f);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  int rc = 0, skip_first = 0;
  long long lineno = 0;
  if (tail > 0 && fseeko(f, 0, SEEK_END) == 0 && ftello(f) > (off_t)tail) {
    fseeko(f, -(off_t)tail, SEEK_END); /* from the first whole line on */
    skip_first = 1;
  } else {
    rewind(f);
  }
  while (rc == 0 && fgets(buf, SB_CKPT_LINE_MAX + 2, f) != NULL) {
    size_t len = strlen(buf);
    char src[96];
    lineno++;
    if (skip_first && lineno == 1 && len > 0 && buf[len - 1] == '\n')
      continue;
    snprintf(src, sizeof src, "%s line %lld%s", SB_CKPT_FILE, lineno,
             skip_first ? " of its tail" : "");
    if (len > 0 && buf[len - 1] == '\n') {
      buf[--len] = '\0';
    } else if (feof(f)) {
      *torn = 1; /* a worker stopped while appending: Kafka has the line */
      break;
    } else { /* longer than any checkpoint: skip to its end */
      int ch;
      while ((ch = fgetc(f)) != EOF && ch != '\n')
        ;
      s->lines++;
      if (s->bad)
        s->bad(s->ctx, src, "longer than any checkpoint: not a checkpoint");
      continue;
    }
    if (len > 0)
      rc = sb_ckpt_set_line(s, buf, len, src, err);
  }
  free(buf);
  fclose(f);
  return rc;
}

void sb_ckpt_set_clear(sb_ckpt_set_t *s) {
  free(s->e);
  free(s->ix);
  s->e = NULL;
  s->ix = NULL;
  s->n = s->cap = s->ixcap = 0;
  s->lines = 0;
  s->newest[0] = '\0';
}
