#include "audit_checkpoint.h"

#include "sb_time.h"
#include "sb_util.h"

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
