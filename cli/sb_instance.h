/* How commands find a running `switchboard up`: it holds an exclusive lock
 * on <data_dir>/up.lock and writes <data_dir>/runtime.conf (0600, it holds
 * the application role's password; never the superuser's):
 *
 *   pid = 4242
 *   brokers = 127.0.0.1:39113
 *   database_url = postgresql://switchboard_app:...@127.0.0.1:41265/switchboard
 *
 * The file is removed on a clean stop; after a crash it is stale, which the
 * lock tells: a file whose writer no longer holds the lock is ignored. */
#ifndef SB_INSTANCE_H
#define SB_INSTANCE_H

#include "sb_conf.h"
#include "sb_err.h"

/* Takes the instance lock of c->data_dir; *fd receives the lock (close it to
 * release). Fails when another `up` holds it. */
int sb_instance_lock(const sb_conf_t *c, int *fd, sb_err_t *err);

/* http_url may be NULL (no API served). */
int sb_instance_write(const sb_conf_t *c, const char *brokers,
                     const char *database_url, const char *http_url,
                     sb_err_t *err);
void sb_instance_remove(const sb_conf_t *c);

/* Fills brokers and database_url, where no layer set them, from the
 * runtime.conf of a live instance in c->data_dir. Finding none is not an
 * error: the caller decides whether it needs them. */
int sb_instance_discover(sb_conf_t *c, sb_err_t *err);

#endif
