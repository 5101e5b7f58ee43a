#include "sb_util.h"

#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sb_fmt(char *buf, size_t sz, sb_err_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sz, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sz)
    return sb_err_set(err, SB_EINVAL, "text too long (limit %zu bytes): %.60s...",
                      sz - 1, buf);
  return 0;
}

int sb_mkdir_p(const char *path, mode_t mode, sb_err_t *err) {
  char tmp[PATH_MAX];
  if (sb_fmt(tmp, sizeof tmp, err, "%s", path) != 0)
    return SB_EINVAL;
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return sb_err_set(err, SB_EIO, "cannot create directory %s: %s", tmp,
                        strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, mode) != 0 && errno != EEXIST)
    return sb_err_set(err, SB_EIO, "cannot create directory %s: %s", tmp,
                      strerror(errno));
  struct stat st;
  if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
    return sb_err_set(err, SB_EIO, "%s exists and is not a directory", tmp);
  return 0;
}

int sb_read_file(const char *path, size_t max, char **out, size_t *len,
                 sb_err_t *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sb_err_set(err, errno == ENOENT ? SB_ENOENT : SB_EIO,
                      "cannot open %s: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  int rc = 0;
  if (buf == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory reading %s", path);
    goto out;
  }
  for (;;) {
    if (n + 1 >= cap) {
      if (cap > max) {
        rc = sb_err_set(err, SB_EINVAL, "%s is larger than %zu bytes", path, max);
        goto out;
      }
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory reading %s", path);
        goto out;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = sb_err_set(err, SB_EIO, "cannot read %s: %s", path, strerror(errno));
      goto out;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  if (n > max) {
    rc = sb_err_set(err, SB_EINVAL, "%s is larger than %zu bytes", path, max);
    goto out;
  }
  buf[n] = '\0';
  *out = buf;
  buf = NULL; /* ownership moved to the caller */
  if (len)
    *len = n;
out:
  free(buf);
  close(fd);
  return rc;
}

int sb_write_file(const char *path, const void *data, size_t len, mode_t mode,
                  sb_err_t *err) {
  char tmp[PATH_MAX];
  if (sb_fmt(tmp, sizeof tmp, err, "%s.tmp.%ld", path, (long)getpid()) != 0)
    return SB_EINVAL;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return sb_err_set(err, SB_EIO, "cannot create %s: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return sb_err_set(err, SB_EIO, "cannot write %s: %s", tmp, strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fchmod(fd, mode) != 0 || fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp);
    return sb_err_set(err, SB_EIO, "cannot write %s: %s", tmp, strerror(errno));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return sb_err_set(err, SB_EIO, "cannot rename %s to %s: %s", tmp, path,
                      strerror(e));
  }
  return 0;
}

int sb_random_hex(char *out, size_t outsz, size_t nbytes, sb_err_t *err) {
  unsigned char raw[64];
  if (nbytes > sizeof raw || outsz < nbytes * 2 + 1)
    return sb_err_set(err, SB_EINVAL, "random buffer too small");
  if (RAND_bytes(raw, (int)nbytes) != 1)
    return sb_err_set(err, SB_ECRYPTO, "OpenSSL RAND_bytes failed");
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < nbytes; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[2 * nbytes] = '\0';
  return 0;
}

char *sb_trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

int sb_parse_ll(const char *s, long long *out) {
  if (s == NULL || *s == '\0')
    return SB_EINVAL;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0' || isspace((unsigned char)*s))
    return SB_EINVAL;
  *out = v;
  return 0;
}

int sb_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return 255;
  int row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int prev = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int cur = row[j];
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int best = prev + cost;
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      prev = cur;
    }
  }
  return row[lb] > 255 ? 255 : row[lb];
}

long long sb_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sb_hex_nibble(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

long sb_bytea_unhex(const char *hex, unsigned char *out, size_t cap) {
  if (hex == NULL || hex[0] != '\\' || hex[1] != 'x')
    return -1;
  size_t len = strlen(hex + 2);
  if (len % 2 != 0 || len / 2 > cap)
    return -1;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = sb_hex_nibble(hex[2 + 2 * i]), lo = sb_hex_nibble(hex[3 + 2 * i]);
    if (hi < 0 || lo < 0)
      return -1;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return (long)(len / 2);
}

int sb_kv_next(char **cur, char **key, char **value) {
  while (*cur != NULL && **cur != '\0') {
    char *l = *cur, *nl = strchr(l, '\n');
    *cur = nl ? nl + 1 : l + strlen(l);
    if (nl)
      *nl = '\0';
    char *eq = strchr(l, '=');
    if (l[0] == '#' || eq == NULL)
      continue;
    *eq = '\0';
    *key = sb_trim(l);
    *value = sb_trim(eq + 1);
    return 1;
  }
  return 0;
}

int sb_sha256_hex(const char *text, char out[65], sb_err_t *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL) != 1)
    return sb_err_set(err, SB_ECRYPTO, "SHA-256 failed");
  for (unsigned int i = 0; i < len; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  return 0;
}
