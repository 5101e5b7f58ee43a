/* switchboard token: mint a signed token for development. */
#include "sb_auth.h"
#include "sb_cmds.h"
#include "sb_util.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#define TTL_DEFAULT 3600

/* Fills c from the options; SB_EUSAGE naming the flag when one is wrong. */
static int claims_from_opts(const sb_cli_t *cli, sb_claims_t *c,
                            sb_err_t *err) {
  const char *tenant = sb_cli_opt(cli, "tenant");
  const char *role = sb_cli_opt(cli, "role");
  const char *sub = sb_cli_opt(cli, "sub");
  const char *ttl = sb_cli_opt(cli, "ttl");
  long long secs = TTL_DEFAULT;
  if (tenant == NULL || role == NULL)
    return sb_err_set(err, SB_EUSAGE,
                      "--tenant and --role are required (see "
                      "'switchboard token --help')");
  if (!sb_tenant_valid(tenant))
    return sb_err_set(err, SB_EUSAGE,
                      "--tenant must be 1 to %d of A-Z a-z 0-9 . _ -",
                      SB_TENANT_MAX);
  if (sb_tenant_reserved(tenant))
    return sb_err_set(err, SB_EUSAGE,
                      "--tenant may not begin with '_': those tenants are "
                      "reserved for the engine (security events of unknown "
                      "tenants are filed under %s)",
                      SB_TENANT_OPERATOR);
  if (sb_role_parse(role, &c->role, NULL) != 0)
    return sb_err_set(err, SB_EUSAGE,
                      "--role must be admin, manager, "
                      "supervisor or agent");
  if (sub == NULL)
    sub = "dev";
  if (!sb_auth_sub_valid(sub))
    return sb_err_set(err, SB_EUSAGE,
                      "--sub must be 1 to %d bytes without "
                      "control characters",
                      SB_AUTH_SUB_MAX);
  long long ttl_max = cli->conf.auth_max_token_ttl_s;
  if (secs > ttl_max)
    secs = ttl_max;
  if (ttl != NULL &&
      (sb_parse_ll(ttl, &secs) != 0 || secs < 1 || secs > ttl_max))
    return sb_err_set(err, SB_EUSAGE,
                      "--ttl must be a whole number of seconds from 1 to %lld "
                      "(auth.max_token_ttl_seconds; servers refuse longer-"
                      "lived tokens)",
                      ttl_max);
  snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
  snprintf(c->sub, sizeof c->sub, "%s", sub);
  c->iat = (int64_t)time(NULL);
  c->exp = c->iat + secs;
  return 0;
}

static int run_token(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  sb_claims_t c = {0};
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t len = 0;
  char path[PATH_MAX], token[SB_JWT_MAX + 1];
  struct stat st;
  int existed = 0, rc = 0;
  if (claims_from_opts(cli, &c, &err) != 0 ||
      sb_fmt(path, sizeof path, &err, "%s/%s", cli->conf.data_dir,
             SB_AUTH_SECRET_FILE) != 0)
    return sb_cli_fail(cli, &err);
  existed = stat(path, &st) == 0 || errno != ENOENT;
  if (sb_auth_secret_load(cli->conf.data_dir, 1, secret, &len, &err) != 0 ||
      sb_jwt_sign(secret, len, &c, token, sizeof token, &err) != 0)
    rc = sb_cli_fail(cli, &err);
  OPENSSL_cleanse(secret, sizeof secret);
  if (rc != 0)
    return rc;
  if (!existed)
    fprintf(stderr,
            "switchboard token: created the signing secret %s (mode 0600)\n",
            path);
  printf("%s\n", token);
  return fflush(stdout) == 0 ? 0 : 1;
}

static const char *const token_keys[] = {"auth.max_token_ttl_seconds", NULL};

const sb_cmd_t sb_cmd_token = {
    .name = "token",
    .summary = "Mint a signed access token for development",
    .usage = "token --tenant TENANT --role ROLE [options]",
    .about =
        "Prints a JSON Web Token (HS256) on stdout, one line, for tools and "
        "tests to\nsend as 'Authorization: Bearer TOKEN'. It carries a "
        "subject, a tenant, a role\n(admin, manager, supervisor or agent) "
        "and an expiry; every event posted with it\nbelongs to its tenant. "
        "It is signed with the secret in <data-dir>/jwt.secret,\nwhich is "
        "created (32 random bytes, mode 0600) when missing, so a token can "
        "be\nminted before the first 'switchboard up'. Anyone who holds that "
        "file can mint\ntokens for any tenant: keep it private.",
    .conf_keys = token_keys,
    .opts =
        (const sb_opt_t[]){
            {"tenant", "TENANT",
             "Tenant the token acts for (required): up to 64 letters, "
             "digits, '.', '_' or '-'"},
            {"role", "ROLE", "admin, manager, supervisor or agent (required)"},
            {"sub", "ID", "Subject, the user id (default dev)"},
            {"ttl", "SECONDS",
             "Lifetime, 1 to auth.max_token_ttl_seconds (default 3600)"},
            {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_token,
};
