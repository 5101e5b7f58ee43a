/* Configuration: one table of properties (name, type, range, default,
 * environment variable, flag, description). The table drives parsing,
 * validation, `--help` and `switchboard config --reference`.
 *
 * Layers, later ones win: defaults, the running instance's runtime.conf
 * (see cli/sb_instance.h), the config file (--config or $SWITCHBOARD_CONFIG),
 * environment variables, flags. Keys prefixed "kafka." pass through to
 * librdkafka and are checked by it when set. */
#ifndef SB_CONF_H
#define SB_CONF_H

#include "sb_err.h"

#include <stddef.h>
#include <stdio.h>

typedef enum {
  SB_CT_STR,
  SB_CT_INT,
  SB_CT_BOOL,
  SB_CT_ENUM,
} sb_conf_type_t;

typedef enum {
  SB_CO_UNSET = 0,
  SB_CO_DEFAULT,
  SB_CO_RUNTIME,
  SB_CO_FILE,
  SB_CO_ENV,
  SB_CO_FLAG,
} sb_conf_origin_t;

#define SB_CP_SECRET 0x1 /* never printed in full */

/* Most configuration rows all processors together may declare. */
#define SB_CONF_EXT_MAX 64

typedef struct sb_conf_prop_s {
  const char *name;
  sb_conf_type_t type;
  size_t offset; /* into sb_conf_t: char * for STR, int for the others;
                   unused in a processor's rows */
  long long min, max;
  const char *def; /* default as text; NULL: unset */
  const char *env; /* environment variable, or NULL */
  const char *arg; /* metavar in --help, e.g. "DIR" */
  const char *enums; /* ENUM symbols, comma separated; the value is the index */
  unsigned flags;
  const char *desc;
} sb_conf_prop_t;

typedef struct sb_conf_s {
  char *data_dir;
  char *brokers;
  char *database_url;
  int partitions;
  int kafka_timeout_ms;
  int log_level;  /* sb_log_level_t */
  int log_format; /* sb_log_format_t */
  char *pg_bindir;
  char *pg_os_user;
  int pg_port;
  int batch_max_events;
  int batch_max_ms;
  int processor_retries;
  char *http_listen;
  int http_max_body;
  int http_request_timeout_ms;
  int http_idle_timeout_ms;
  char *http_tls_cert; /* both or neither: see sb_conf_check */
  char *http_tls_key;
  int hub_send_queue_bytes;
  int hub_max_message;
  int hub_max_clients;
  int hub_ownership_history_s;
  int http_max_pending_bytes;
  int security_refusal_window_ms;
  int ingest_max_past_s;   /* event times accepted by POST /v1/events */
  int ingest_max_future_s;
  int auth_max_token_ttl_s; /* longest token lifetime accepted or minted */
  int embedded_partition_max_bytes;
  int ingest_idempotency_window_ms;
  int ingest_idempotency_queue_bytes;
  int ingest_idempotency_connections;
  int processor_state_max_bytes;  /* sb_kstate's budget per processor */
  int processor_timers_max_bytes; /* sb_timers' budget per processor */
  char *pii_key_file;    /* tenant keys; NULL: <data_dir>/tenant.keys */
  char *pii_key_command; /* or a command printing them (sb_keys.h) */
  int pii_dek_cache_bytes;  /* unwrapped data keys a process caches */
  int pii_dek_cache_ttl_ms; /* how long one is used before it is re-read */
  int access_window_ms;            /* identical reads folded per window */
  int access_max_keys;             /* distinct reads a window keeps apart */
  int auth_session_ttl_s;          /* a dashboard session's lifetime */
  int auth_session_max;            /* live sessions of an instance */
  int auth_session_max_per_user;
  int auth_cache_max_stale_ms; /* roles and sessions cache (sb_authz.h) */
  int auth_rbac_max_users;     /* (tenant, user) pairs it holds */
  char *http_allowed_origins;  /* cookie-authenticated requests' Origins */
  int pii_sealer_threads;   /* ingest's threads sealing PII */
  int security_records_per_address; /* records of one address per window */
  int security_records_per_tenant;  /* records of one tenant per window */
  char *webhooks_public_url;  /* what providers sign; NULL: from Host */
  int webhooks_max_body;       /* bytes of a provider callback */
  int webhooks_secret_cache_ms; /* unsealed signing secrets kept */
  /* the dispatcher (connectors/dispatch): sends comms.outbox's messages */
  int dispatch_enabled;       /* up and run start one */
  char *dispatch_ca_file;     /* extra CA bundle for providers' TLS */
  int dispatch_concurrency;   /* transfers in flight */
  int dispatch_timeout_ms;    /* one provider request, connect to answer */
  int dispatch_lease_ms;      /* a claim's lease (claimed_until) */
  int dispatch_max_attempts;  /* transient failures before failed */
  int dispatch_backoff_max_ms;
  /* the Asterisk manager connector (connectors/ami) */
  char *ami_pbx_file;     /* the PBXs; set: up and run start it */
  char *ami_secrets_file; /* their secrets (0600) */
  int ami_ping_ms;        /* keepalive */
  int ami_timeout_ms;     /* connect, login, an action's answer */
  int ami_reconnect_min_ms, ami_reconnect_max_ms;
  int ami_max_event_bytes; /* a message; larger ones refused */
  char *config_file; /* the file that was loaded, if any */

  /* librdkafka properties given as kafka.<name>, in the order set */
  size_t kafka_n;
  char **kafka_keys;
  char **kafka_vals;

  /* the processors' keys (vtable conf), by their index past the engine's */
  char *ext_str[SB_CONF_EXT_MAX];
  int ext_int[SB_CONF_EXT_MAX];

  unsigned char origin[192]; /* sb_conf_origin_t per property index */
  /* not a key: the brokers are the embedded broker (librdkafka's mock
   * cluster), which holds an empty fetch for the whole fetch.wait.max.ms
   * and does not wake it when records arrive; set by `up` and, through
   * runtime.conf, by the commands that join its instance */
  int kafka_embedded;
} sb_conf_t;

/* The property table: the engine's rows, then every built-in processor's
 * own (sb_processor_vt_t.conf, keys named "<processor>.<key>", added by
 * sb_conf_add_rows). One table
 * for parsing, --help and the reference. */
size_t sb_conf_count(void);
const sb_conf_prop_t *sb_conf_prop(size_t i); /* NULL past the end */
/* Whether p is one of the processors' rows. */
int sb_conf_is_processors(const sb_conf_prop_t *p);

/* A key's current value, for processors reading their own keys (and
 * anyone else): SB_EINVAL naming the key when the table has no such key
 * of that kind (INT, BOOL and ENUM read as int; ENUM as its index). */
int sb_conf_int(const sb_conf_t *c, const char *key, int *out, sb_err_t *err);
int sb_conf_str(const sb_conf_t *c, const char *key, const char **out,
                sb_err_t *err);

/* Adds a processor's rows (ending with {0}) to the table; done at start
 * for the built-in processors (sb_processors_add_conf) before any
 * sb_conf_init. Not thread-safe. SB_EINVAL on a name already in the table
 * or past SB_CONF_EXT_MAX rows. */
int sb_conf_add_rows(const sb_conf_prop_t *rows, sb_err_t *err);
/* A property by key ("data_dir") or by flag spelling ("data-dir"). */
const sb_conf_prop_t *sb_conf_find(const char *key);
/* The flag spelling of a property: "--" + name with '_' and '.' as '-'. */
void sb_conf_flag_name(const sb_conf_prop_t *p, char *buf, size_t sz);

/* Sets every property to its default. Free with sb_conf_free. */
int sb_conf_init(sb_conf_t *c, sb_err_t *err);
void sb_conf_free(sb_conf_t *c);

/* Sets key to val, validating both; where names the source in errors
 * ("--partitions", "/etc/sb.conf line 3"), may be NULL. */
int sb_conf_set(sb_conf_t *c, const char *key, const char *val,
                sb_conf_origin_t origin, const char *where, sb_err_t *err);

/* Loads a `key = value` file ('#' starts a comment). */
int sb_conf_load_file(sb_conf_t *c, const char *path, sb_conf_origin_t origin,
                      sb_err_t *err);

/* Applies the environment variables named in the table. */
int sb_conf_load_env(sb_conf_t *c, sb_err_t *err);

/* Checks what one key alone cannot: keys that go together (http.tls_cert
 * and http.tls_key). Run once every layer is applied. */
int sb_conf_check(const sb_conf_t *c, sb_err_t *err);

/* The origin of a property's current value. */
sb_conf_origin_t sb_conf_origin(const sb_conf_t *c, const char *key);

/* Current value as text (secrets redacted when redact is set). */
void sb_conf_value_text(const sb_conf_t *c, const sb_conf_prop_t *p,
                        int redact, char *buf, size_t sz);

void sb_conf_print_reference(FILE *out);
void sb_conf_print_effective(const sb_conf_t *c, FILE *out);

/* Checks one librdkafka property (implemented in sb_kafka.c). */
int sb_kafka_conf_check(const char *name, const char *value, sb_err_t *err);

#endif
