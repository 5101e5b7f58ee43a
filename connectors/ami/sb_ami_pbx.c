/* The PBXs the connector logs in to (sb_ami.h): ami.pbx_file's lines and
 * ami.secrets_file's secrets. */
#include "sb_ami_int.h"

#include "sb_tenant.h"
#include "sb_util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_MAX (1024 * 1024)

static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 32)
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
      return 0;
  return 1;
}

/* visible ASCII without ',' or ' ' runs: what goes on an AMI line */
static int word_ok(const char *s, int commas) {
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
        (!commas && *s == ','))
      return 0;
  return 1;
}

static int set_str(char *dst, size_t sz, const char *v, const char *path,
                   int line, const char *key, sb_err_t *err) {
  if (strlen(v) >= sz || !word_ok(v, strcmp(key, "events") == 0))
    return sb_err_set(err, SB_ECONFIG,
                      "%s:%d: %s: '%.64s' is not a valid value (at most %zu "
                      "visible characters)",
                      path, line, key, v, sz - 1);
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

static int one_word(sb_ami_pbx_t *p, char *w, const char *path, int line,
                    sb_err_t *err) {
  char *eq = strchr(w, '=');
  if (eq == NULL)
    return sb_err_set(err, SB_ECONFIG,
                      "%s:%d: '%.64s': expected key=value (name, host, port, "
                      "tenant, user, auth, events, charset, originate_channel, originate_context, originate_exten)",
                      path, line, w);
  *eq = '\0';
  const char *k = w, *v = eq + 1;
  if (strcmp(k, "name") == 0) {
    if (!name_ok(v))
      return sb_err_set(err, SB_ECONFIG,
                        "%s:%d: name: '%.64s' is not 1 to 32 of A-Z a-z 0-9 "
                        "_ . -",
                        path, line, v);
    memcpy(p->name, v, strlen(v) + 1);
    return 0;
  }
  if (strcmp(k, "host") == 0)
    return set_str(p->host, sizeof p->host, v, path, line, k, err);
  if (strcmp(k, "user") == 0)
    return set_str(p->user, sizeof p->user, v, path, line, k, err);
  if (strcmp(k, "events") == 0)
    return set_str(p->events, sizeof p->events, v, path, line, k, err);
  if (strcmp(k, "charset") == 0)
    return set_str(p->charset, sizeof p->charset, v, path, line, k, err);
  if (strcmp(k, "tenant") == 0) {
    if (!sb_tenant_valid(v) || sb_tenant_reserved(v))
      return sb_err_set(err, SB_ECONFIG,
                        "%s:%d: tenant: '%.64s' is not a tenant id "
                        "([A-Za-z0-9._-], 1 to 64, not starting with '_')",
                        path, line, v);
    memcpy(p->tenant, v, strlen(v) + 1);
    return 0;
  }
  if (strcmp(k, "port") == 0) {
    long long port;
    if (sb_parse_ll(v, &port) != 0 || port < 1 || port > 65535)
      return sb_err_set(err, SB_ECONFIG,
                        "%s:%d: port: '%.16s' is not a port (1-65535)", path,
                        line, v);
    p->port = (int)port;
    return 0;
  }
  if (strcmp(k, "auth") == 0) {
    if (strcmp(v, "md5") != 0 && strcmp(v, "plain") != 0)
      return sb_err_set(err, SB_ECONFIG,
                        "%s:%d: auth: '%.16s' is not md5 or plain", path, line,
                        v);
    p->md5 = v[0] == 'm';
    return 0;
  }
  if (strncmp(k, "originate_", 10) == 0)
    return sb__ami_dial_conf(p, k, v, path, line, err);
  return sb_err_set(err, SB_ECONFIG,
                    "%s:%d: unknown key '%.32s' (name, host, port, tenant, "
                    "user, auth, events, charset)",
                    path, line, k);
}

/* The next line of text (cut at its end, in place), counted in *line;
 * NULL at the end. */
static char *next_line(char **cur, int *line) {
  char *l = *cur;
  if (l == NULL || *l == '\0')
    return NULL;
  char *nl = strchr(l, '\n');
  *cur = nl ? nl + 1 : NULL;
  if (nl)
    *nl = '\0';
  (*line)++;
  return l;
}

static int parse_pbx_file(char *text, const char *path, sb_ami_pbx_t *pbx,
                          size_t *n, sb_err_t *err) {
  int line = 0;
  for (char *cur = text, *l; (l = next_line(&cur, &line)) != NULL;) {
    char *hash = strchr(l, '#');
    if (hash)
      *hash = '\0';
    char *save = NULL, *w = strtok_r(l, " \t\r", &save);
    if (w == NULL)
      continue;
    if (*n == SB_AMI_MAX_PBX)
      return sb_err_set(err, SB_ECONFIG, "%s:%d: more than %d PBXs", path,
                        line, SB_AMI_MAX_PBX);
    sb_ami_pbx_t *p = &pbx[*n];
    memset(p, 0, sizeof *p);
    p->port = 5038;
    p->md5 = 1;
    snprintf(p->events, sizeof p->events, "call,agent,dialplan,dtmf,system");
    for (; w; w = strtok_r(NULL, " \t\r", &save))
      if (one_word(p, w, path, line, err) != 0)
        return SB_ECONFIG;
    const char *missing = !p->name[0]     ? "name"
                          : !p->host[0]   ? "host"
                          : !p->tenant[0] ? "tenant"
                          : !p->user[0]   ? "user"
                                          : NULL;
    if (missing)
      return sb_err_set(err, SB_ECONFIG, "%s:%d: %s= is required", path, line,
                        missing);
    for (size_t i = 0; i < *n; i++)
      if (strcmp(pbx[i].name, p->name) == 0)
        return sb_err_set(err, SB_ECONFIG, "%s:%d: name '%s' is used twice",
                          path, line, p->name);
    (*n)++;
  }
  if (*n == 0)
    return sb_err_set(err, SB_ECONFIG, "%s: no PBX in it", path);
  return 0;
}

/* "name secret" lines; the secret is the rest of the line, trimmed. */
static int parse_secrets(char *text, const char *path, sb_ami_pbx_t *pbx,
                         size_t n, sb_err_t *err) {
  int line = 0;
  for (char *cur = text, *l; (l = next_line(&cur, &line)) != NULL;) {
    l = sb_trim(l);
    if (*l == '\0' || *l == '#')
      continue;
    char *sp = l + strcspn(l, " \t");
    if (*sp == '\0')
      return sb_err_set(err, SB_ECONFIG,
                        "%s:%d: expected 'name secret' (the PBX's name, then "
                        "its secret)",
                        path, line);
    *sp = '\0';
    char *secret = sb_trim(sp + 1);
    size_t i = 0;
    while (i < n && strcmp(pbx[i].name, l) != 0)
      i++;
    if (i == n)
      return sb_err_set(err, SB_ECONFIG, "%s:%d: no PBX named '%.32s'", path,
                        line, l);
    if (*secret == '\0' || strlen(secret) >= sizeof pbx[i].secret ||
        !word_ok(secret, 1))
      return sb_err_set(err, SB_ECONFIG,
                        "%s:%d: the secret of '%s' is empty, longer than %zu "
                        "bytes or holds characters other than visible ASCII",
                        path, line, pbx[i].name, sizeof pbx[i].secret - 1);
    memcpy(pbx[i].secret, secret, strlen(secret) + 1);
  }
  for (size_t i = 0; i < n; i++)
    if (pbx[i].secret[0] == '\0')
      return sb_err_set(err, SB_ECONFIG, "%s: no secret for PBX '%s'", path,
                        pbx[i].name);
  return 0;
}

int sb_ami_pbx_load(const char *pbx_file, const char *secrets_file,
                    sb_ami_pbx_t **out, size_t *n, sb_err_t *err) {
  *out = NULL;
  *n = 0;
  if (pbx_file == NULL || secrets_file == NULL)
    return sb_err_set(err, SB_ECONFIG,
                      "ami.pbx_file and ami.secrets_file are both needed");
  struct stat st;
  if (stat(secrets_file, &st) != 0)
    return sb_err_set(err, SB_EIO, "ami.secrets_file %s: cannot be read",
                      secrets_file);
  if ((st.st_mode & 077) != 0)
    return sb_err_set(err, SB_EPERM,
                      "ami.secrets_file %s: mode %04o lets others read it; "
                      "chmod 600 %s",
                      secrets_file, (unsigned)(st.st_mode & 07777),
                      secrets_file);
  char *text = NULL, *secrets = NULL;
  size_t len = 0, slen = 0;
  sb_ami_pbx_t *pbx = calloc(SB_AMI_MAX_PBX, sizeof *pbx);
  int rc = pbx ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0)
    rc = sb_read_file(pbx_file, FILE_MAX, &text, &len, err);
  if (rc == 0)
    rc = parse_pbx_file(text, pbx_file, pbx, n, err);
  if (rc == 0)
    rc = sb_read_file(secrets_file, FILE_MAX, &secrets, &slen, err);
  if (rc == 0)
    rc = parse_secrets(secrets, secrets_file, pbx, *n, err);
  free(text);
  if (secrets) {
    OPENSSL_cleanse(secrets, slen);
    free(secrets);
  }
  if (rc != 0) {
    sb_ami_pbx_free(pbx, SB_AMI_MAX_PBX);
    *n = 0;
    return rc;
  }
  *out = pbx;
  return 0;
}

void sb_ami_pbx_free(sb_ami_pbx_t *p, size_t n) {
  if (p == NULL)
    return;
  OPENSSL_cleanse(p, n * sizeof *p);
  free(p);
}
