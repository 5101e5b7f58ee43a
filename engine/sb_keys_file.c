/* Tenant keys: the key file (or pii.key_command), HKDF, and wrapping data
 * keys under a tenant's KEK. See sb_keys.h for the file's form. No key
 * ever reaches a log or an error message. */
#define _GNU_SOURCE
#include "sb_keys_int.h"

#include "sb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_MAX (16 << 20)
#define HEADER                                                              \
  "# Switchboard tenant keys (KEKs and HMAC roots): keep this file mode "  \
  "0600,\n# back it up apart from PostgreSQL, never share or log it.\n"

int sb__hkdf(const unsigned char *ikm, size_t ikm_len, const char *info,
             const char *info2, unsigned char out[SB_PII_KEY_LEN],
             sb_err_t *err) {
  char inf[256];
  int n = snprintf(inf, sizeof inf, "switchboard/%s/%s", info,
                   info2 ? info2 : "");
  if (n < 0 || (size_t)n >= sizeof inf)
    return sb_err_set(err, SB_EINVAL, "keys: HKDF info too long");
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  OSSL_PARAM p[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
                                        ikm_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        (void *)"switchboard-pii", 15),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, inf, (size_t)n),
      OSSL_PARAM_construct_end()};
  int ok = kctx && EVP_KDF_derive(kctx, out, SB_PII_KEY_LEN, p) == 1;
  EVP_KDF_CTX_free(kctx);
  EVP_KDF_free(kdf);
  return ok ? 0 : sb_err_set(err, SB_ECRYPTO, "keys: HKDF-SHA256 failed");
}

/* AAD of a wrapped data key: "sbdek1" \0 tenant \0 subject hash */
static int dek_crypt(int enc, const unsigned char kek[SB_PII_KEY_LEN],
                     const char *tenant, const char *subject_hash,
                     const unsigned char *in, unsigned char *out) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  unsigned char nonce[SB_PII_NONCE_LEN];
  int n = 0, ok = ctx != NULL;
  const unsigned char *iv = nonce;
  if (enc) {
    ok = ok && RAND_bytes(nonce, sizeof nonce) == 1;
    memcpy(out, nonce, sizeof nonce);
  } else {
    iv = in;
  }
  ok = ok && EVP_CipherInit_ex(ctx, sb__pii_aes_gcm(), NULL, NULL, NULL, enc) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SB_PII_NONCE_LEN, NULL) == 1 &&
       EVP_CipherInit_ex(ctx, NULL, NULL, kek, iv, enc) == 1 &&
       EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)"sbdek1", 7) == 1 &&
       EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)tenant,
                        (int)strlen(tenant) + 1) == 1 &&
       EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)subject_hash,
                        (int)strlen(subject_hash)) == 1;
  if (enc) {
    ok = ok && EVP_CipherUpdate(ctx, out + SB_PII_NONCE_LEN, &n, in, SB_PII_KEY_LEN) == 1 &&
         EVP_CipherFinal_ex(ctx, out + SB_PII_NONCE_LEN + n, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SB_PII_TAG_LEN,
                             out + SB_PII_NONCE_LEN + SB_PII_KEY_LEN) == 1;
  } else {
    ok = ok && EVP_CipherUpdate(ctx, out, &n, in + SB_PII_NONCE_LEN, SB_PII_KEY_LEN) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SB_PII_TAG_LEN,
                             (void *)(in + SB_PII_NONCE_LEN + SB_PII_KEY_LEN)) == 1 &&
         EVP_CipherFinal_ex(ctx, out + n, &n) == 1;
    if (!ok)
      sb_pii_wipe(out, SB_PII_KEY_LEN);
  }
  EVP_CIPHER_CTX_free(ctx);
  return ok ? 0 : -1;
}

int sb__dek_wrap(const unsigned char kek[SB_PII_KEY_LEN], const char *tenant,
                 const char *subject_hash,
                 const unsigned char dek[SB_PII_KEY_LEN],
                 unsigned char out[SB__WRAPPED_LEN], sb_err_t *err) {
  if (dek_crypt(1, kek, tenant, subject_hash, dek, out) != 0)
    return sb_err_set(err, SB_ECRYPTO, "keys: wrapping a data key failed");
  return 0;
}

int sb__dek_unwrap(const unsigned char kek[SB_PII_KEY_LEN],
                   const char *tenant, const char *subject_hash,
                   const unsigned char in[SB__WRAPPED_LEN],
                   unsigned char dek[SB_PII_KEY_LEN], sb_err_t *err) {
  if (dek_crypt(0, kek, tenant, subject_hash, in, dek) != 0)
    return sb_err_set(err, SB_ECRYPTO,
                      "keys: tenant %s: data key %s does not unwrap under its "
                      "KEK (authentication failed): the key file does not "
                      "match the database",
                      tenant, subject_hash);
  return 0;
}

const unsigned char *sb__tkeys_kek(const sb__tkeys_t *t, int version) {
  for (int i = 0; i < t->nkek; i++)
    if (t->ver[i] == version)
      return t->kek[i];
  return NULL;
}

static void tkeys_wipe_all(sb__keysrc_t *s) {
  sb_pii_wipe(s->t, s->cap * sizeof *s->t);
  s->n = 0;
}

static sb__tkeys_t *find(sb__keysrc_t *s, const char *tenant, int add) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->t[i].tenant, tenant) == 0)
      return &s->t[i];
  if (!add)
    return NULL;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    sb__tkeys_t *nt = calloc(cap, sizeof *nt);
    if (nt == NULL)
      return NULL;
    if (s->n)
      memcpy(nt, s->t, s->n * sizeof *nt);
    sb_pii_wipe(s->t, s->cap * sizeof *s->t);
    free(s->t);
    s->t = nt;
    s->cap = cap;
  }
  sb__tkeys_t *t = &s->t[s->n++];
  memset(t, 0, sizeof *t);
  snprintf(t->tenant, sizeof t->tenant, "%s", tenant);
  return t;
}

static int parse_key(const char *b64, unsigned char out[SB_PII_KEY_LEN]) {
  unsigned char tmp[SB_PII_KEY_LEN + 3];
  long n = sb_b64url_decode(b64, strlen(b64), tmp, sizeof tmp);
  if (n == SB_PII_KEY_LEN)
    memcpy(out, tmp, SB_PII_KEY_LEN);
  sb_pii_wipe(tmp, sizeof tmp);
  return n == SB_PII_KEY_LEN ? 0 : -1;
}

/* Parses the key file's text (or the command's output) into s (emptied
 * first). where names it in errors. */
static int parse(sb__keysrc_t *s, char *text, const char *where,
                 sb_err_t *err) {
  tkeys_wipe_all(s);
  int line = 0;
  for (char *p = text, *nl; p && *p; p = nl ? nl + 1 : NULL) {
    nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    line++;
    char *f[5] = {0}, *save = NULL;
    int nf = 0; /* strtok_r: key stores of several threads parse at once */
    for (char *tok = strtok_r(p, " \t\r", &save); tok && nf < 5;
         tok = strtok_r(NULL, " \t\r", &save))
      f[nf++] = tok;
    if (nf == 0 || f[0][0] == '#')
      continue;
    long long ver = 0;
    sb__tkeys_t *t = NULL;
    if (nf == 4 && strcmp(f[0], "kek") == 0 && sb_tenant_valid(f[1]) &&
        sb_parse_ll(f[2], &ver) == 0 && ver > 0 && ver < 1000000000 &&
        (t = find(s, f[1], 1)) != NULL && t->nkek < SB__KEK_MAX &&
        sb__tkeys_kek(t, (int)ver) == NULL &&
        parse_key(f[3], t->kek[t->nkek]) == 0) {
      int i = t->nkek++;
      t->ver[i] = (int)ver;
      /* kept ascending */
      for (; i > 0 && t->ver[i - 1] > t->ver[i]; i--) {
        unsigned char k[SB_PII_KEY_LEN];
        int v = t->ver[i];
        memcpy(k, t->kek[i], sizeof k);
        memcpy(t->kek[i], t->kek[i - 1], sizeof k);
        memcpy(t->kek[i - 1], k, sizeof k);
        t->ver[i] = t->ver[i - 1];
        t->ver[i - 1] = v;
        sb_pii_wipe(k, sizeof k);
      }
      continue;
    }
    if (nf == 3 && strcmp(f[0], "hmac") == 0 && sb_tenant_valid(f[1]) &&
        (t = find(s, f[1], 1)) != NULL && !t->has_root &&
        parse_key(f[2], t->root) == 0) {
      t->has_root = 1;
      if (sb__hkdf(t->root, SB_PII_KEY_LEN, "match", t->tenant, t->match, err) != 0 ||
          sb__hkdf(t->root, SB_PII_KEY_LEN, "subject", t->tenant, t->subj, err) != 0)
        return err->code;
      continue;
    }
    tkeys_wipe_all(s);
    return sb_err_set(err, SB_ECONFIG,
                      "keys: %s line %d: not 'kek TENANT VERSION KEY' or "
                      "'hmac TENANT KEY' (a repeated version or HMAC root, "
                      "more than %d versions, or a key not 32 bytes of "
                      "base64url)",
                      where, line, SB__KEK_MAX);
  }
  for (size_t i = 0; i < s->n; i++)
    if (s->t[i].nkek == 0 || !s->t[i].has_root) {
      int missing_kek = s->t[i].nkek == 0;
      char tn[SB_TENANT_MAX + 1];
      snprintf(tn, sizeof tn, "%s", s->t[i].tenant);
      tkeys_wipe_all(s);
      return sb_err_set(err, SB_ECONFIG, "keys: %s: tenant %s has no %s",
                        where, tn, missing_kek ? "kek line" : "hmac line");
    }
  return 0;
}

static int check_mode(const char *path, struct stat *st, sb_err_t *err) {
  if ((st->st_mode & 077) != 0)
    return sb_err_set(err, SB_EPERM,
                      "keys: %s is mode %04o: the tenant key file must not be "
                      "readable or writable by group or others (chmod 600 %s)",
                      path, (unsigned)(st->st_mode & 07777), path);
  if (!S_ISREG(st->st_mode))
    return sb_err_set(err, SB_EPERM, "keys: %s is not a regular file", path);
  return 0;
}

/* The key file open and locked. The lock is taken on "<file>.lock", not on
 * the file, because a rotation replaces the file (rename): a lock on the
 * replaced inode would not exclude anyone. */
typedef struct {
  int fd, lock;
} kf_t;

static void kf_close(kf_t *kf) {
  if (kf->fd >= 0)
    close(kf->fd);
  if (kf->lock >= 0)
    close(kf->lock); /* releases the lock */
  kf->fd = kf->lock = -1;
}

/* Takes the lock (LOCK_SH or LOCK_EX), then opens the key file (creating
 * it when missing) and checks its mode. */
static int kf_open(const char *path, int how, kf_t *kf, sb_err_t *err) {
  char lp[4200];
  kf->fd = kf->lock = -1;
  if (sb_fmt(lp, sizeof lp, err, "%s.lock", path) != 0)
    return err->code;
  kf->lock = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (kf->lock < 0)
    return sb_err_set(err, SB_EIO, "keys: cannot open %s: %s", lp,
                      strerror(errno));
  while (flock(kf->lock, how) != 0) {
    if (errno == EINTR)
      continue;
    int e = errno;
    kf_close(kf);
    return sb_err_set(err, SB_EIO, "keys: cannot lock %s: %s", lp, strerror(e));
  }
  kf->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (kf->fd < 0) {
    int e = errno;
    kf_close(kf);
    return sb_err_set(err, SB_EIO, "keys: cannot open %s: %s", path,
                      strerror(e));
  }
  struct stat st;
  if (fstat(kf->fd, &st) != 0 || check_mode(path, &st, err) != 0) {
    sb_err_set(err, SB_EIO, "keys: cannot stat %s", path);
    kf_close(kf);
    return err->code;
  }
  return 0;
}

static int read_fd(int fd, const char *path, char **out, size_t *len,
                   sb_err_t *err) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return sb_err_set(err, SB_EIO, "keys: cannot stat %s", path);
  if (st.st_size > FILE_MAX)
    return sb_err_set(err, SB_ECONFIG, "keys: %s is larger than %d bytes",
                      path, FILE_MAX);
  char *buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  buf[got] = '\0';
  *out = buf;
  *len = got;
  return 0;
}

static int load_file(sb__keysrc_t *s, int fd, sb_err_t *err) {
  char *text = NULL;
  size_t len = 0;
  int rc = read_fd(fd, s->path, &text, &len, err);
  if (rc != 0)
    return rc;
  rc = parse(s, text, s->path, err);
  sb_pii_wipe(text, len);
  free(text);
  struct stat st;
  if (rc == 0 && fstat(fd, &st) == 0) {
    s->mtime = st.st_mtim;
    s->ino = st.st_ino;
    s->size = st.st_size;
  }
  return rc;
}

static int run_command(sb__keysrc_t *s, const char *tenant, sb_err_t *err) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0)
    return sb_err_set(err, SB_EIO, "keys: pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return sb_err_set(err, SB_EIO, "keys: fork: %s", strerror(errno));
  }
  if (pid == 0) {
    dup2(pfd[1], 1);
    execl("/bin/sh", "sh", "-c", s->command, "sb-keys", tenant, (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int rc = 0;
  for (;;) {
    if (buf == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      break;
    }
    if (len + 1 == cap) {
      if (cap >= 1 << 20) {
        rc = sb_err_set(err, SB_ECONFIG, "keys: pii.key_command printed more "
                                         "than 1 MiB");
        break;
      }
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        sb_pii_wipe(buf, cap);
        free(buf);
        buf = NULL;
        continue;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = read(pfd[0], buf + len, cap - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  close(pfd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    rc = sb_err_set(err, SB_ECONFIG, "keys: pii.key_command failed for tenant "
                    "%s (exit status %d)", tenant,
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  if (rc == 0) {
    buf[len] = '\0';
    rc = parse(s, buf, "pii.key_command's output", err);
  }
  if (buf) {
    sb_pii_wipe(buf, cap);
    free(buf);
  }
  return rc;
}

int sb__keysrc_init(sb__keysrc_t *s, const sb_conf_t *c, sb_err_t *err) {
  memset(s, 0, sizeof *s);
  if (c->pii_key_command && *c->pii_key_command) {
    if ((s->command = strdup(c->pii_key_command)) == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    return 0;
  }
  int rc = c->pii_key_file && *c->pii_key_file
               ? sb_fmt(s->path, sizeof s->path, err, "%s", c->pii_key_file)
               : sb_fmt(s->path, sizeof s->path, err, "%s/tenant.keys",
                        c->data_dir);
  if (rc != 0)
    return rc;
  kf_t kf;
  if (kf_open(s->path, LOCK_SH, &kf, err) != 0)
    return err->code;
  rc = load_file(s, kf.fd, err);
  kf_close(&kf);
  return rc;
}

void sb__keysrc_free(sb__keysrc_t *s) {
  if (s->t)
    sb_pii_wipe(s->t, s->cap * sizeof *s->t);
  free(s->t);
  free(s->command);
  memset(s, 0, sizeof *s);
}

int sb__keysrc_reload(sb__keysrc_t *s, const char *tenant, sb_err_t *err) {
  if (s->command)
    return run_command(s, tenant, err);
  kf_t kf;
  if (kf_open(s->path, LOCK_SH, &kf, err) != 0)
    return err->code;
  int rc = load_file(s, kf.fd, err);
  kf_close(&kf);
  return rc;
}

static int file_changed(const sb__keysrc_t *s) {
  struct stat st;
  if (stat(s->path, &st) != 0)
    return 1;
  return st.st_ino != s->ino || st.st_size != s->size ||
         st.st_mtim.tv_sec != s->mtime.tv_sec ||
         st.st_mtim.tv_nsec != s->mtime.tv_nsec;
}

static int append_sync(int fd, const char *path, const char *text,
                       sb_err_t *err) {
  size_t n = strlen(text), off = 0;
  off_t end = lseek(fd, 0, SEEK_END);
  while (off < n) {
    ssize_t w = pwrite(fd, text + off, n - off, end + (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return sb_err_set(err, SB_EIO, "keys: cannot write %s: %s", path,
                        strerror(errno));
    off += (size_t)w;
  }
  if (fsync(fd) != 0)
    return sb_err_set(err, SB_EIO, "keys: cannot sync %s: %s", path,
                      strerror(errno));
  return 0;
}

static int key_line(char *out, size_t sz, const char *kind, const char *tenant,
                    int version, const unsigned char key[SB_PII_KEY_LEN]) {
  char b64[64];
  sb_b64url_encode(key, SB_PII_KEY_LEN, b64, sizeof b64);
  int n = version > 0 ? snprintf(out, sz, "%s %s %d %s\n", kind, tenant,
                                 version, b64)
                      : snprintf(out, sz, "%s %s %s\n", kind, tenant, b64);
  sb_pii_wipe(b64, sizeof b64);
  return n > 0 && (size_t)n < sz ? 0 : -1;
}

const sb__tkeys_t *sb__keysrc_get(sb__keysrc_t *s, const char *tenant,
                                  int create, sb_err_t *err) {
  sb__tkeys_t *t = find(s, tenant, 0);
  if (t != NULL)
    return t;
  if (s->command) {
    if (run_command(s, tenant, err) != 0)
      return NULL;
    if ((t = find(s, tenant, 0)) == NULL)
      sb_err_set(err, SB_ENOENT, "keys: pii.key_command printed no keys for "
                                 "tenant %s", tenant);
    return t;
  }
  if (file_changed(s) && sb__keysrc_reload(s, tenant, err) != 0)
    return NULL;
  if ((t = find(s, tenant, 0)) != NULL || !create) {
    if (t == NULL)
      sb_err_set(err, SB_ENOENT, "keys: %s holds no keys for tenant %s",
                 s->path, tenant);
    return t;
  }
  /* the tenant's first keys, under the file's exclusive lock */
  kf_t kf;
  if (kf_open(s->path, LOCK_EX, &kf, err) != 0)
    return NULL;
  int fd = kf.fd;
  if (load_file(s, fd, err) != 0 || (t = find(s, tenant, 0)) != NULL) {
    kf_close(&kf);
    return t;
  }
  unsigned char kek[SB_PII_KEY_LEN], root[SB_PII_KEY_LEN];
  char text[512], l2[256];
  struct stat st;
  int rc = RAND_bytes(kek, sizeof kek) == 1
               ? 0
               : sb_err_set(err, SB_ECRYPTO, "keys: no randomness");
  if (rc == 0)
    rc = sb__hkdf(kek, sizeof kek, "hmac-root", tenant, root, err);
  text[0] = '\0';
  if (rc == 0 && fstat(fd, &st) == 0 && st.st_size == 0)
    snprintf(text, sizeof text, "%s", HEADER);
  if (rc == 0 && (key_line(l2, sizeof l2, "kek", tenant, 1, kek) != 0 ||
                  strlen(text) + strlen(l2) >= sizeof text))
    rc = sb_err_set(err, SB_EINVAL, "keys: line too long");
  if (rc == 0) {
    strcat(text, l2);
    if (key_line(l2, sizeof l2, "hmac", tenant, 0, root) != 0 ||
        strlen(text) + strlen(l2) >= sizeof text)
      rc = sb_err_set(err, SB_EINVAL, "keys: line too long");
    else
      strcat(text, l2);
  }
  if (rc == 0)
    rc = append_sync(fd, s->path, text, err);
  sb_pii_wipe(text, sizeof text);
  sb_pii_wipe(l2, sizeof l2);
  sb_pii_wipe(kek, sizeof kek);
  sb_pii_wipe(root, sizeof root);
  if (rc == 0 && load_file(s, fd, err) == 0)
    t = find(s, tenant, 0);
  kf_close(&kf);
  if (t == NULL && rc == 0)
    sb_err_set(err, SB_EINTERNAL, "keys: tenant %s's keys did not read back",
               tenant);
  return t;
}

int sb__keysrc_add_version(sb__keysrc_t *s, const char *tenant, int *version,
                           sb_err_t *err) {
  if (s->command)
    return sb_err_set(err, SB_EUSAGE, "keys: pii.key_command is set: rotate "
                      "the tenant's key in the key service");
  kf_t kf;
  if (kf_open(s->path, LOCK_EX, &kf, err) != 0)
    return err->code;
  int fd = kf.fd;
  int rc = load_file(s, fd, err);
  const sb__tkeys_t *t = rc == 0 ? find(s, tenant, 0) : NULL;
  if (rc == 0 && t == NULL)
    rc = sb_err_set(err, SB_ENOENT, "keys: %s holds no keys for tenant %s",
                    s->path, tenant);
  if (rc == 0 && t->nkek >= SB__KEK_MAX)
    rc = sb_err_set(err, SB_ESTATE, "keys: tenant %s has %d KEK versions: "
                    "finish the rotation under way first", tenant, t->nkek);
  unsigned char kek[SB_PII_KEY_LEN];
  char line[256];
  if (rc == 0) {
    *version = t->ver[t->nkek - 1] + 1;
    if (RAND_bytes(kek, sizeof kek) != 1)
      rc = sb_err_set(err, SB_ECRYPTO, "keys: no randomness");
    else if (key_line(line, sizeof line, "kek", tenant, *version, kek) != 0)
      rc = sb_err_set(err, SB_EINVAL, "keys: line too long");
    else
      rc = append_sync(fd, s->path, line, err);
    sb_pii_wipe(kek, sizeof kek);
    sb_pii_wipe(line, sizeof line);
  }
  if (rc == 0)
    rc = load_file(s, fd, err);
  kf_close(&kf);
  return rc;
}

/* Syncs the folder of path, so a rename in it is durable. */
static int sync_dir(const char *path, sb_err_t *err) {
  char dir[4200];
  const char *slash = strrchr(path, '/');
  if (sb_fmt(dir, sizeof dir, err, "%.*s", slash ? (int)(slash - path) : 1,
             slash ? (slash == path ? "/" : path) : ".") != 0)
    return err->code;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    return sb_err_set(err, SB_EIO, "keys: cannot sync %s: %s", dir,
                      strerror(e));
  }
  close(fd);
  return 0;
}

int sb__keysrc_retire(sb__keysrc_t *s, const char *tenant, int keep,
                      sb_err_t *err) {
  if (s->command)
    return sb_err_set(err, SB_EUSAGE, "keys: pii.key_command is set");
  kf_t kf;
  if (kf_open(s->path, LOCK_EX, &kf, err) != 0)
    return err->code;
  int rc = load_file(s, kf.fd, err);
  /* the file again, without tenant's other versions */
  size_t cap = 256 + s->n * 256 * (SB__KEK_MAX + 1) + sizeof HEADER;
  char *text = rc == 0 ? malloc(cap) : NULL;
  if (rc == 0 && text == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t len = 0;
  if (rc == 0) {
    len = (size_t)snprintf(text, cap, "%s", HEADER);
    for (size_t i = 0; i < s->n && rc == 0; i++) {
      const sb__tkeys_t *t = &s->t[i];
      int mine = strcmp(t->tenant, tenant) == 0;
      for (int v = 0; v < t->nkek && rc == 0; v++) {
        if (mine && t->ver[v] != keep)
          continue;
        if (key_line(text + len, cap - len, "kek", t->tenant, t->ver[v],
                     t->kek[v]) != 0)
          rc = sb_err_set(err, SB_EINVAL, "keys: file too long");
        len += strlen(text + len);
      }
      if (rc == 0 && key_line(text + len, cap - len, "hmac", t->tenant, 0,
                              t->root) != 0)
        rc = sb_err_set(err, SB_EINVAL, "keys: file too long");
      len += strlen(text + len);
    }
  }
  /* through a temporary file and rename: the old versions are gone from
   * the file once this returns (sb_write_file syncs file and folder) */
  if (rc == 0)
    rc = sb_write_file(s->path, text, len, 0600, err);
  if (rc == 0)
    rc = sync_dir(s->path, err);
  if (text) {
    sb_pii_wipe(text, cap);
    free(text);
  }
  kf_close(&kf);
  if (rc == 0)
    rc = sb__keysrc_reload(s, tenant, err);
  return rc;
}
