/* The private PostgreSQL server: initdb + pg_ctl from the system's binaries
 * under <data_dir>/postgres, listening on a loopback port, with a generated
 * password (scram-sha-256). Started by root, it runs as the unprivileged
 * postgres.os_user. A second start on the same data directory reuses the
 * cluster, and adopts a server left running by a killed process. */
#ifndef SB_PGSERVER_H
#define SB_PGSERVER_H

#include "sb_conf.h"
#include "sb_err.h"

#include <stddef.h>

/* Initialises the cluster when needed, starts it unless it runs already,
 * creates the database, and writes its URL (with the password) to url. */
int sb_pgserver_start(const sb_conf_t *c, char *url, size_t urlsz,
                      sb_err_t *err);

/* Checks, starting nothing, that the private server could start: binaries
 * found, the server's user exists and can reach the data directory. */
int sb_pgserver_check(const sb_conf_t *c, sb_err_t *err);

/* Stops the server (fast shutdown). Stopping a stopped server succeeds. */
int sb_pgserver_stop(const sb_conf_t *c, sb_err_t *err);

/* 1 when the server of c->data_dir runs, 0 when not. */
int sb_pgserver_running(const sb_conf_t *c);

/* The URL of the private server of c->data_dir, from its state file. */
int sb_pgserver_url(const sb_conf_t *c, char *url, size_t urlsz,
                    sb_err_t *err);

#endif
