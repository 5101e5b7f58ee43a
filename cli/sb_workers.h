/* Running processors until told to stop: shared by `up` and `run`. */
#ifndef SB_WORKERS_H
#define SB_WORKERS_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_pipeline.h"
#include "sb_processor.h"

#include <stddef.h>

#define SB_MAX_PROCESSORS SB_PIPELINE_MAX

/* Parses "audit,routing", "all" or "none" into vts (n of them). */
int sb_workers_parse(const char *list, const sb_processor_vt_t **vts,
                     size_t *n, sb_err_t *err);

/* Starts a worker per processor and runs until SIGINT or SIGTERM (then
 * each finishes and commits its batch) or until a worker fails (then all
 * stop and err says why). With no processors it only waits for a signal. */
int sb_workers_run(const sb_conf_t *c, const sb_processor_vt_t *const *vts,
                   size_t n, sb_err_t *err);

/* The same, serving the HTTP API (unless http.listen is "off") on the same
 * loop; ready runs once everything listens, with the API's URL or NULL. */
typedef void (*sb_ready_cb)(const char *http_url, void *arg);
int sb_workers_serve(const sb_conf_t *c, const sb_processor_vt_t *const *vts,
                     size_t n, sb_ready_cb ready, void *arg, sb_err_t *err);

#endif
