/* The private PostgreSQL server: initdb + pg_ctl from the system's binaries
 * under <data_dir>/postgres, listening on a loopback port, with a generated
 * password (scram-sha-256). Started by root, it runs as the unprivileged
 * postgres.os_user. A second start on the same data directory reuses the
 * cluster, and adopts a server left running by a killed process.
 *
 * Its logins (see sql/0006_roles.sql):
 *   owner   the cluster's superuser, "switchboard": migrations and DDL only.
 *           Its password lives in <data_dir>/postgres.state (0600) and is
 *           never printed or written anywhere else.
 *   app     "switchboard_app": LOGIN, no superuser, no CREATEROLE/CREATEDB,
 *           no server-file or program roles. What `up` prints, runtime.conf
 *           holds and workers, serve and the reading commands use.
 *   reader  one login per tenant, member of switchboard_reader, bound by
 *           row-level security to its tenant (sb.reader_logins).
 * The app's and readers' passwords are derived from the owner's with
 * HMAC-SHA-256 (nothing more to keep; one-way, so printing them reveals
 * nothing of the owner's) and set, as SCRAM verifiers, at every start. */
#ifndef SB_PGSERVER_H
#define SB_PGSERVER_H

#include "sb_conf.h"
#include "sb_err.h"

#include <stddef.h>

/* Initialises the cluster when needed, starts it unless it runs already,
 * creates the database and the application role (sets its password), and
 * writes the application role's URL (with its password) to url. */
int sb_pgserver_start(const sb_conf_t *c, char *url, size_t urlsz,
                      sb_err_t *err);

/* Checks, starting nothing, that the private server could start: binaries
 * found, the server's user exists and can reach the data directory. */
int sb_pgserver_check(const sb_conf_t *c, sb_err_t *err);

/* Stops the server (fast shutdown). Stopping a stopped server succeeds. */
int sb_pgserver_stop(const sb_conf_t *c, sb_err_t *err);

/* 1 when the server of c->data_dir runs, 0 when not. */
int sb_pgserver_running(const sb_conf_t *c);

/* The application role's URL on the private server of c->data_dir, from
 * its state file. */
int sb_pgserver_url(const sb_conf_t *c, char *url, size_t urlsz,
                    sb_err_t *err);

/* The owner's (superuser's) URL, for migrations and DDL only: never print
 * it, log it (but through sb_url_redact) or write it to a file. */
int sb_pgserver_owner_url(const sb_conf_t *c, char *url, size_t urlsz,
                          sb_err_t *err);

/* The URL of tenant's dashboard login on the running private server:
 * creates the login (a member of switchboard_reader, mapped to tenant in
 * sb.reader_logins) when it does not exist, and sets its password. Needs
 * the migrations applied. */
int sb_pgserver_reader_url(const sb_conf_t *c, const char *tenant, char *url,
                           size_t urlsz, sb_err_t *err);

#endif
