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
#define AGENTS_MAX 100000 /* agents_file lines of one PBX */
#define KEYS                                                                   \
  "(name, host, port, tenant, user, auth, events, charset, ivr_contexts, "    \
  "outbound_contexts, lead_var, campaign_var, direction_var, tenant_var, "    \
  "tenants, agents_file, originate_channel, originate_context, "             \
  "originate_exten)"

/* 1 to max of A-Z a-z 0-9 and the characters of extra */
static int chars_ok(const char *s, size_t max, const char *extra) {
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
      return 0;
  return 1;
}

static int name_ok(const char *s) { return chars_ok(s, 32, "_.-"); }
/* a channel variable's name, as the dialplan spells it */
static int var_ok(const char *s) { return chars_ok(s, 64, "_"); }

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
  /* lists: events, ivr_contexts, outbound_contexts, tenants */
  int list = strcmp(key, "events") == 0 || strstr(key, "contexts") != NULL ||
             strcmp(key, "tenants") == 0;
  if (strlen(v) >= sz || !word_ok(v, list))
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
                      "%s:%d: '%.64s': expected key=value "
                      KEYS,
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
  if (strcmp(k, "ivr_contexts") == 0)
    return set_str(p->ivr_contexts, sizeof p->ivr_contexts, v, path, line, k,
                   err);
  if (strcmp(k, "outbound_contexts") == 0)
    return set_str(p->outbound_contexts, sizeof p->outbound_contexts, v, path,
                   line, k, err);
  if (strcmp(k, "agents_file") == 0)
    return set_str(p->agents_file, sizeof p->agents_file, v, path, line, k,
                   err);
  struct {
    const char *key;
    char *dst;
    size_t sz;
  } vars[] = {{"lead_var", p->lead_var, sizeof p->lead_var},
              {"campaign_var", p->campaign_var, sizeof p->campaign_var},
              {"direction_var", p->direction_var, sizeof p->direction_var},
              {"tenant_var", p->tenant_var, sizeof p->tenant_var}};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    if (strcmp(k, vars[i].key) == 0) {
      /* a channel variable's name, as the dialplan spells it */
      if (!var_ok(v))
        return sb_err_set(err, SB_ECONFIG,
                          "%s:%d: %s: '%.64s' is not a variable name (1 to 64 "
                          "of A-Z a-z 0-9 _)",
                          path, line, k, v);
      memcpy(vars[i].dst, v, strlen(v) + 1);
      return 0;
    }
  if (strcmp(k, "tenants") == 0) {
    if (set_str(p->tenants, sizeof p->tenants, v, path, line, k, err) != 0)
      return SB_ECONFIG;
    char tmp[sizeof p->tenants], *save = NULL;
    memcpy(tmp, v, strlen(v) + 1);
    for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
      if (!sb_tenant_valid(t) || sb_tenant_reserved(t))
        return sb_err_set(err, SB_ECONFIG,
                          "%s:%d: tenants: '%.64s' is not a tenant id", path,
                          line, t);
    return 0;
  }
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
                    "%s:%d: unknown key '%.32s' " KEYS,
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

static int agent_cmp(const void *a, const void *b) {
  return strcmp(((const sb_ami_agent_t *)a)->iface,
                ((const sb_ami_agent_t *)b)->iface);
}

/* p's lines of its agents_file ("<pbx> <interface|mailbox> <agent_id>";
 * a PBX the pbx file does not name is an error, another's lines are
 * skipped), sorted by interface for sb_ami_map.c's bsearch. */
static int load_agents(sb_ami_pbx_t *pbx, size_t n, sb_ami_pbx_t *p,
                       sb_err_t *err) {
  char *text = NULL;
  size_t len = 0, cap = 0;
  const char *path = p->agents_file;
  int rc = sb_read_file(path, FILE_MAX * 16, &text, &len, err);
  if (rc != 0) {
    sb_err_prefix(err, "PBX %s: agents_file: ", p->name);
    if (err)
      err->code = SB_ECONFIG; /* a setting that names no readable file */
    return SB_ECONFIG;
  }
  int line = 0;
  for (char *cur = text, *l; rc == 0 && (l = next_line(&cur, &line));) {
    char *hash = strchr(l, '#');
    if (hash)
      *hash = '\0';
    char *save = NULL, *w[4] = {NULL};
    int nw = 0;
    for (char *t = strtok_r(l, " \t\r", &save); t && nw < 4;
         t = strtok_r(NULL, " \t\r", &save))
      w[nw++] = t;
    if (nw == 0)
      continue;
    if (nw != 3) {
      rc = sb_err_set(err, SB_ECONFIG,
                      "%s:%d: expected '<pbx> <interface> <agent_id>'", path,
                      line);
      break;
    }
    size_t i = 0;
    while (i < n && strcmp(pbx[i].name, w[0]) != 0)
      i++;
    if (i == n) {
      rc = sb_err_set(err, SB_ECONFIG, "%s:%d: no PBX named '%.32s'", path,
                      line, w[0]);
      break;
    }
    if (&pbx[i] != p)
      continue;
    if (strlen(w[1]) >= sizeof p->agents->iface || !word_ok(w[1], 1) ||
        strlen(w[2]) >= sizeof p->agents->agent_id || !word_ok(w[2], 0)) {
      rc = sb_err_set(err, SB_ECONFIG,
                      "%s:%d: an interface and an agent id are at most 128 "
                      "visible characters",
                      path, line);
      break;
    }
    if (p->nagents == AGENTS_MAX) {
      rc = sb_err_set(err, SB_ECONFIG, "%s:%d: more than %d agents of PBX %s",
                      path, line, AGENTS_MAX, p->name);
      break;
    }
    if (p->nagents == cap) {
      size_t nc = cap ? cap * 2 : 64;
      sb_ami_agent_t *na = realloc(p->agents, nc * sizeof *na);
      if (na == NULL) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        break;
      }
      p->agents = na;
      cap = nc;
    }
    sb_ami_agent_t *a = &p->agents[p->nagents++];
    memcpy(a->iface, w[1], strlen(w[1]) + 1);
    memcpy(a->agent_id, w[2], strlen(w[2]) + 1);
  }
  free(text);
  if (rc == 0 && p->nagents > 1) {
    qsort(p->agents, p->nagents, sizeof *p->agents, agent_cmp);
    for (size_t i = 1; i < p->nagents; i++)
      if (strcmp(p->agents[i - 1].iface, p->agents[i].iface) == 0)
        return sb_err_set(err, SB_ECONFIG,
                          "%s: interface '%s' of PBX %s is given twice", path,
                          p->agents[i].iface, p->name);
  }
  return rc;
}

/* tenant_var's tenants must be allowed, the PBX's own among them */
static int check_mapping(sb_ami_pbx_t *p, const char *path, sb_err_t *err) {
  if (p->tenants[0] && !p->tenant_var[0])
    return sb_err_set(err, SB_ECONFIG,
                      "%s: PBX %s: tenants= without tenant_var= (the channel "
                      "variable naming a call's tenant)",
                      path, p->name);
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
  for (size_t i = 0; rc == 0 && i < *n; i++) {
    rc = check_mapping(&pbx[i], pbx_file, err);
    if (rc == 0 && pbx[i].agents_file[0])
      rc = load_agents(pbx, *n, &pbx[i], err);
  }
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
  for (size_t i = 0; i < n; i++)
    free(p[i].agents);
  OPENSSL_cleanse(p, n * sizeof *p);
  free(p);
}
