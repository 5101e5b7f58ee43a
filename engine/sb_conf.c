#include "sb_conf.h"

#include "sb_log.h"
#include "sb_util.h"

#include <stdlib.h>
#include <string.h>

#define OFF(field) offsetof(sb_conf_t, field)

/* Every property of Switchboard. Add new ones at the end of a group; the
 * reference and the --help text come from here. */
static const sb_conf_prop_t props[] = {
    {"data_dir", SB_CT_STR, OFF(data_dir), 0, 0, "./.switchboard",
     "SWITCHBOARD_HOME", "DIR", NULL, 0,
     "Directory for the private PostgreSQL, runtime.conf and secrets."},
    {"brokers", SB_CT_STR, OFF(brokers), 0, 0, NULL, "SWITCHBOARD_BROKERS",
     "HOST:PORT,...", NULL, 0,
     "Kafka bootstrap servers. Unset: `up` starts the embedded broker; other "
     "commands use the running instance's."},
    {"database_url", SB_CT_STR, OFF(database_url), 0, 0, NULL,
     "SWITCHBOARD_DATABASE_URL", "URL", NULL, SB_CP_SECRET,
     "PostgreSQL connection URL. Unset: `up` starts a private server under "
     "data_dir; other commands use the running instance's."},
    {"partitions", SB_CT_INT, OFF(partitions), 1, 1024, "12",
     "SWITCHBOARD_PARTITIONS", "N", NULL, 0,
     "Partitions per topic when Switchboard creates its topics."},
    {"kafka_timeout_ms", SB_CT_INT, OFF(kafka_timeout_ms), 100, 600000,
     "10000", "SWITCHBOARD_KAFKA_TIMEOUT_MS", "MS", NULL, 0,
     "How long to wait for the brokers to answer at start."},
    {"log.level", SB_CT_ENUM, OFF(log_level), 0, 0, "info",
     "SWITCHBOARD_LOG_LEVEL", "LEVEL", "debug,info,warn,error", 0,
     "Least severe log level written."},
    {"log.format", SB_CT_ENUM, OFF(log_format), 0, 0, "text",
     "SWITCHBOARD_LOG_FORMAT", "FORMAT", "text,json", 0,
     "Log line format on stderr."},
    {"postgres.bindir", SB_CT_STR, OFF(pg_bindir), 0, 0, NULL,
     "SWITCHBOARD_POSTGRES_BINDIR", "DIR", NULL, 0,
     "Where initdb and pg_ctl live for the private server. Unset: "
     "pg_config, then /usr/lib/postgresql/*/bin, then PATH."},
    {"postgres.os_user", SB_CT_STR, OFF(pg_os_user), 0, 0, "switchboard",
     "SWITCHBOARD_POSTGRES_OS_USER", "USER", NULL, 0,
     "Unprivileged user the private server runs as when started by root."},
    {"postgres.port", SB_CT_INT, OFF(pg_port), 0, 65535, "0",
     "SWITCHBOARD_POSTGRES_PORT", "PORT", NULL, 0,
     "Loopback port of the private server; 0 picks a free one once and keeps "
     "it."},
    {"batch.max_events", SB_CT_INT, OFF(batch_max_events), 1, 1000000, "5000",
     "SWITCHBOARD_BATCH_MAX_EVENTS", "N", NULL, 0,
     "Most events in one micro-batch (one PostgreSQL transaction)."},
    {"batch.max_ms", SB_CT_INT, OFF(batch_max_ms), 1, 60000, "200",
     "SWITCHBOARD_BATCH_MAX_MS", "MS", NULL, 0,
     "Longest a micro-batch stays open before it commits."},
    {"processor.retries", SB_CT_INT, OFF(processor_retries), 0, 100, "3",
     "SWITCHBOARD_PROCESSOR_RETRIES", "N", NULL, 0,
     "Attempts at an event a processor rejects before it goes to "
     "sb.deadletter."},
    {"http.listen", SB_CT_STR, OFF(http_listen), 0, 0, "127.0.0.1:8080",
     "SWITCHBOARD_HTTP_LISTEN", "HOST:PORT", NULL, 0,
     "Where the HTTP API listens (port 0 picks a free one); 'off' for none."},
    {"http.max_body", SB_CT_INT, OFF(http_max_body), 1024, 268435456, "8388608",
     "SWITCHBOARD_HTTP_MAX_BODY", "BYTES", NULL, 0,
     "Largest request body accepted (413 past it)."},
    {"http.request_timeout_ms", SB_CT_INT, OFF(http_request_timeout_ms), 100,
     600000, "10000", "SWITCHBOARD_HTTP_REQUEST_TIMEOUT_MS", "MS", NULL, 0,
     "Longest a request may take to arrive (408 past it: slow clients)."},
    {"http.idle_timeout_ms", SB_CT_INT, OFF(http_idle_timeout_ms), 100, 3600000,
     "60000", "SWITCHBOARD_HTTP_IDLE_TIMEOUT_MS", "MS", NULL, 0,
     "How long an idle keep-alive connection stays open."},
    {"http.tls_cert", SB_CT_STR, OFF(http_tls_cert), 0, 0, NULL,
     "SWITCHBOARD_HTTP_TLS_CERT", "FILE", NULL, 0,
     "PEM certificate chain (the server's first) to serve HTTPS, TLS 1.2 at "
     "least, with http.tls_key. Unset: plain HTTP."},
    {"http.tls_key", SB_CT_STR, OFF(http_tls_key), 0, 0, NULL,
     "SWITCHBOARD_HTTP_TLS_KEY", "FILE", NULL, 0,
     "Unencrypted PEM private key of http.tls_cert (keep it mode 0600)."},
    {"hub.send_queue_bytes", SB_CT_INT, OFF(hub_send_queue_bytes), 65536,
     268435456, "1048576", "SWITCHBOARD_HUB_SEND_QUEUE_BYTES", "BYTES", NULL, 0,
     "Bytes a WebSocket client may have unsent (events, replies, pongs, with "
     "their bookkeeping) before it is closed as too slow."},
    {"hub.max_message", SB_CT_INT, OFF(hub_max_message), 256, 16777216, "65536",
     "SWITCHBOARD_HUB_MAX_MESSAGE", "BYTES", NULL, 0,
     "Largest message a WebSocket client may send (close 1009 past it)."},
    {"hub.max_clients", SB_CT_INT, OFF(hub_max_clients), 1, 1000000, "10000",
     "SWITCHBOARD_HUB_MAX_CLIENTS", "N", NULL, 0,
     "WebSocket clients served at once (503 past it)."},
    {"hub.ownership_history_seconds", SB_CT_INT,
     OFF(hub_ownership_history_s), 0, 604800, "43200",
     "SWITCHBOARD_HUB_OWNERSHIP_HISTORY_SECONDS", "SECONDS", NULL, 0,
     "At start, the live feed reads this much of sb.calls and sb.leads back "
     "to learn which calls and leads are whose (an agent's posts and feed "
     "depend on it), and of sb.gamification for the teams and their "
     "supervisors the projection has not written yet; 0: only what "
     "arrives after the start."},
    {"http.max_pending_bytes", SB_CT_INT, OFF(http_max_pending_bytes), 16384,
     268435456, "1048576", "SWITCHBOARD_HTTP_MAX_PENDING_BYTES", "BYTES", NULL,
     0,
     "Bytes of answers a connection may hold unwritten (its client not "
     "reading them) before its next pipelined requests wait."},
    {"security.refusal_window_ms", SB_CT_INT, OFF(security_refusal_window_ms),
     1000, 3600000, "60000", "SWITCHBOARD_SECURITY_REFUSAL_WINDOW_MS", "MS",
     NULL, 0,
     "Refused tokens and requests are recorded once per source address, "
     "reason and window: the first at once, the rest as one event with their "
     "count at the window's end."},
    {"ingest.max_past_seconds", SB_CT_INT, OFF(ingest_max_past_s), 60,
     2147483647, "604800", "SWITCHBOARD_INGEST_MAX_PAST_SECONDS", "SECONDS",
     NULL, 0,
     "Oldest event time POST /v1/events accepts, in seconds before the "
     "server's clock (400 past it; history goes through `import`)."},
    {"ingest.max_future_seconds", SB_CT_INT, OFF(ingest_max_future_s), 0,
     86400, "900", "SWITCHBOARD_INGEST_MAX_FUTURE_SECONDS", "SECONDS", NULL, 0,
     "Furthest event time POST /v1/events and `import` accept after the "
     "server's clock (clock skew; 400 past it)."},
    {"auth.max_token_ttl_seconds", SB_CT_INT, OFF(auth_max_token_ttl_s), 60,
     31536000, "86400", "SWITCHBOARD_AUTH_MAX_TOKEN_TTL_SECONDS", "SECONDS",
     NULL, 0,
     "Longest token lifetime (exp - iat) accepted (401 past it) and minted "
     "by `token --ttl`."},
    {"embedded.partition_max_bytes", SB_CT_INT,
     OFF(embedded_partition_max_bytes), 1048576, 1073741824, "67108864",
     "SWITCHBOARD_EMBEDDED_PARTITION_MAX_BYTES", "BYTES", NULL, 0,
     "Record bytes (plus 64 per record) the embedded broker's journal keeps "
     "per partition in data_dir/kafka; past it the partition is full: "
     "ingest answers 503 and workers stop there."},
    {"ingest.idempotency_window_ms", SB_CT_INT,
     OFF(ingest_idempotency_window_ms), 60000, 604800000, "600000",
     "SWITCHBOARD_INGEST_IDEMPOTENCY_WINDOW_MS", "MS", NULL, 0,
     "How long an event id posted to /v1/events is remembered (per tenant, "
     "in PostgreSQL, across restarts and serve replicas): a retry within it "
     "is acknowledged as a duplicate, not produced again."},
    {"ingest.idempotency_queue_bytes", SB_CT_INT,
     OFF(ingest_idempotency_queue_bytes), 65536, 1073741824, "16777216",
     "SWITCHBOARD_INGEST_IDEMPOTENCY_QUEUE_BYTES", "BYTES", NULL, 0,
     "Bytes of event-id claims waiting for PostgreSQL before ingest answers "
     "503 with Retry-After."},
    {"ingest.idempotency_connections", SB_CT_INT,
     OFF(ingest_idempotency_connections), 1, 16, "2",
     "SWITCHBOARD_INGEST_IDEMPOTENCY_CONNECTIONS", "N", NULL, 0,
     "PostgreSQL connections (one thread each) a process uses to claim "
     "event ids; each round trip carries every claim queued."},
    {"processor.state_max_bytes", SB_CT_INT, OFF(processor_state_max_bytes),
     1048576, 2147483647, "268435456", "SWITCHBOARD_PROCESSOR_STATE_MAX_BYTES",
     "BYTES", NULL, 0,
     "Memory one processor's keyed state may take in a process (keys, "
     "values, bookkeeping); past it the batch fails, naming the processor."},
    {"processor.timers_max_bytes", SB_CT_INT, OFF(processor_timers_max_bytes),
     1048576, 2147483647, "67108864", "SWITCHBOARD_PROCESSOR_TIMERS_MAX_BYTES",
     "BYTES", NULL, 0,
     "Memory one processor's timers may take in a process (keys and "
     "bookkeeping, about 70 bytes a timer); past it the batch fails, naming "
     "the processor."},
    {"pii.key_file", SB_CT_STR, OFF(pii_key_file), 0, 0, NULL,
     "SWITCHBOARD_PII_KEY_FILE", "FILE", NULL, 0,
     "Tenant key file (KEKs and HMAC roots; mode 0600, refused when group or "
     "others may read it). Unset: data_dir/tenant.keys, made by `up`."},
    {"pii.key_command", SB_CT_STR, OFF(pii_key_command), 0, 0, NULL,
     "SWITCHBOARD_PII_KEY_COMMAND", "COMMAND", NULL, 0,
     "Instead of the key file: a command run as `sh -c COMMAND sb-keys "
     "TENANT` that prints the tenant's key lines (a key service's client)."},
    {"pii.dek_cache_bytes", SB_CT_INT, OFF(pii_dek_cache_bytes), 4096,
     1073741824, "16777216", "SWITCHBOARD_PII_DEK_CACHE_BYTES", "BYTES", NULL,
     0,
     "Memory for unwrapped PII data keys a process keeps (least recently "
     "used out first, about 200 bytes a key)."},
    {"pii.dek_cache_ttl_ms", SB_CT_INT, OFF(pii_dek_cache_ttl_ms), 0,
     86400000, "60000", "SWITCHBOARD_PII_DEK_CACHE_TTL_MS", "MS", NULL, 0,
     "Longest a cached data key is used before PostgreSQL is asked again: "
     "an erasure made elsewhere takes effect here within it."},
    {"access.window_ms", SB_CT_INT, OFF(access_window_ms), 1000, 3600000,
     "60000", "SWITCHBOARD_ACCESS_WINDOW_MS", "MS", NULL, 0,
     "Reads recorded as access.recorded: the first of a user, address, "
     "route and query in a window at once (the read waits for it), the "
     "identical ones after it as one record with their count at the "
     "window's end."},
    {"access.max_keys", SB_CT_INT, OFF(access_max_keys), 16, 1048576, "1024",
     "SWITCHBOARD_ACCESS_MAX_KEYS", "N", NULL, 0,
     "Distinct reads (user, address, route, query) one window keeps apart; "
     "past it a tenant's further reads share one record per route, and "
     "past that reads are refused 503 rather than left unrecorded."},
    {"auth.session_ttl_seconds", SB_CT_INT, OFF(auth_session_ttl_s), 1,
     2592000, "43200", "SWITCHBOARD_AUTH_SESSION_TTL_SECONDS", "SECONDS", NULL,
     0,
     "Lifetime of a dashboard session (POST /v1/session) from sign-in; its "
     "cookie lives as long."},
    {"auth.session_max", SB_CT_INT, OFF(auth_session_max), 1, 10000000,
     "100000", "SWITCHBOARD_AUTH_SESSION_MAX", "N", NULL, 0,
     "Live dashboard sessions an instance holds; a sign-in past it is "
     "answered 503."},
    {"auth.session_max_per_user", SB_CT_INT, OFF(auth_session_max_per_user), 1,
     1000, "8", "SWITCHBOARD_AUTH_SESSION_MAX_PER_USER", "N", NULL, 0,
     "Live sessions of one user in a tenant; a sign-in past it ends the "
     "user's oldest."},
    {"auth.cache_max_stale_ms", SB_CT_INT, OFF(auth_cache_max_stale_ms), 500,
     60000, "3000", "SWITCHBOARD_AUTH_CACHE_MAX_STALE_MS", "MS", NULL, 0,
     "How long the API trusts its copy of the users' roles and sessions "
     "without news from PostgreSQL; past it requests are answered 503."},
    {"auth.rbac_max_users", SB_CT_INT, OFF(auth_rbac_max_users), 100,
     10000000, "200000", "SWITCHBOARD_AUTH_RBAC_MAX_USERS", "N", NULL, 0,
     "(tenant, user) pairs with a current role the API holds in memory "
     "(about 200 bytes each); past it the cache refuses to load and "
     "requests are answered 503."},
    {"http.allowed_origins", SB_CT_STR, OFF(http_allowed_origins), 0, 0, NULL,
     "SWITCHBOARD_HTTP_ALLOWED_ORIGINS", "LIST", NULL, 0,
     "Origins (scheme://host[:port], comma-separated) besides the API's own "
     "whose pages may send requests with a session cookie; others are "
     "refused 403 (CSRF)."},
    {"pii.sealer_threads", SB_CT_INT, OFF(pii_sealer_threads), 1, 8, "2",
     "SWITCHBOARD_PII_SEALER_THREADS", "N", NULL, 0,
     "Threads of HTTP ingest sealing PII, each with a PostgreSQL connection "
     "and a data-key cache of its own; each round trip carries the data "
     "keys of every request queued."},
    {"security.records_per_address", SB_CT_INT,
     OFF(security_records_per_address), 0, 1048576, "100",
     "SWITCHBOARD_SECURITY_RECORDS_PER_ADDRESS", "N", NULL, 0,
     "Distinct records (refusals, failed logins, reads) one source address "
     "may make per window (security.refusal_window_ms, access.window_ms); "
     "past it its further ones are folded into one record per type and "
     "tenant with their count, at the window's end (0: no bound)."},
    {"security.records_per_tenant", SB_CT_INT,
     OFF(security_records_per_tenant), 0, 1048576, "1000",
     "SWITCHBOARD_SECURITY_RECORDS_PER_TENANT", "N", NULL, 0,
     "Distinct records one tenant's requests may make per window; past it "
     "they share one record per type and reason with their count (0: no "
     "bound)."},
    {"webhooks.public_url", SB_CT_STR, OFF(webhooks_public_url), 0, 0, NULL,
     "SWITCHBOARD_WEBHOOKS_PUBLIC_URL", "URL", NULL, 0,
     "scheme://host[:port] the providers reach the API at, no path: what "
     "the dispatcher asks them to call back (Twilio's StatusCallback) and "
     "what Twilio signs with the path and query; unset: no status "
     "callbacks are asked for, and callbacks are checked against the API's "
     "own scheme and the request's Host header."},
    {"webhooks.max_body", SB_CT_INT, OFF(webhooks_max_body), 1024, 8388608,
     "1048576", "SWITCHBOARD_WEBHOOKS_MAX_BODY", "BYTES", NULL, 0,
     "Largest provider callback body accepted (413 past it; Twilio's forms "
     "at most 64 KiB whatever this says)."},
    {"webhooks.secret_cache_ms", SB_CT_INT, OFF(webhooks_secret_cache_ms), 0,
     3600000, "10000", "SWITCHBOARD_WEBHOOKS_SECRET_CACHE_MS", "MS", NULL, 0,
     "How long a provider account's unsealed signing secret is kept in "
     "memory: a rotation (a newer provider.configured) takes effect within "
     "it (0: read at every callback)."},
    {"dispatch.enabled", SB_CT_BOOL, OFF(dispatch_enabled), 0, 1, "true",
     "SWITCHBOARD_DISPATCH_ENABLED", "BOOL", NULL, 0,
     "Whether `up` and `run` run the dispatcher (comms.outbox to the "
     "providers) beside the processors; `switchboard dispatch` runs it alone."},
    {"dispatch.ca_file", SB_CT_STR, OFF(dispatch_ca_file), 0, 0, NULL,
     "SWITCHBOARD_DISPATCH_CA_FILE", "FILE", NULL, 0,
     "CA certificates (PEM) the providers' TLS certificates are verified "
     "against instead of the system's (private relays, tests)."},
    {"dispatch.concurrency", SB_CT_INT, OFF(dispatch_concurrency), 1, 10000,
     "64", "SWITCHBOARD_DISPATCH_CONCURRENCY", "N", NULL, 0,
     "Messages a dispatcher has claimed and in flight at once."},
    {"dispatch.timeout_ms", SB_CT_INT, OFF(dispatch_timeout_ms), 100,
     600000, "30000", "SWITCHBOARD_DISPATCH_TIMEOUT_MS", "MS", NULL, 0,
     "Longest one provider request may take, connect to answer; past it the "
     "message is retried later (as after a 5xx)."},
    {"dispatch.lease_ms", SB_CT_INT, OFF(dispatch_lease_ms), 1000, 86400000,
     "120000", "SWITCHBOARD_DISPATCH_LEASE_MS", "MS", NULL, 0,
     "How long a claimed message stays the claimer's; a dispatcher that died "
     "holding it is replaced after this (at least twice dispatch.timeout_ms)."},
    {"dispatch.max_attempts", SB_CT_INT, OFF(dispatch_max_attempts), 1, 1000,
     "8", "SWITCHBOARD_DISPATCH_MAX_ATTEMPTS", "N", NULL, 0,
     "Attempts of a message (transient failures: 5xx, 429, timeouts) before "
     "it is failed for good."},
    {"dispatch.backoff_max_ms", SB_CT_INT, OFF(dispatch_backoff_max_ms), 1000,
     86400000, "300000", "SWITCHBOARD_DISPATCH_BACKOFF_MAX_MS", "MS", NULL, 0,
     "Longest wait before a retry: 1 s doubled per attempt up to this, "
     "with jitter (a random half to all of it); Retry-After wins."},
    {"ami.pbx_file", SB_CT_STR, OFF(ami_pbx_file), 0, 0, NULL,
     "SWITCHBOARD_AMI_PBX_FILE", "FILE", NULL, 0,
     "The Asterisk PBXs the AMI connector logs in to, one a line (name, "
     "host, port, tenant, user, auth, events, charset, originate_channel, "
     "originate_context, originate_exten); set, `up` and `run` "
     "run the connector, and `switchboard ami` runs it alone."},
    {"ami.secrets_file", SB_CT_STR, OFF(ami_secrets_file), 0, 0, NULL,
     "SWITCHBOARD_AMI_SECRETS_FILE", "FILE", NULL, 0,
     "The PBXs' manager secrets, 'name secret' a line; readable by its owner "
     "only (mode 0600), never logged."},
    {"ami.ping_ms", SB_CT_INT, OFF(ami_ping_ms), 100, 600000, "20000",
     "SWITCHBOARD_AMI_PING_MS", "MS", NULL, 0,
     "A manager session's keepalive: a Ping this often; one unanswered by "
     "the next reconnects."},
    {"ami.timeout_ms", SB_CT_INT, OFF(ami_timeout_ms), 100, 600000, "10000",
     "SWITCHBOARD_AMI_TIMEOUT_MS", "MS", NULL, 0,
     "Longest wait for a PBX to connect, greet, answer the login or an "
     "action (a list: between its items) before reconnecting."},
    {"ami.reconnect_min_ms", SB_CT_INT, OFF(ami_reconnect_min_ms), 10,
     600000, "500", "SWITCHBOARD_AMI_RECONNECT_MIN_MS", "MS", NULL, 0,
     "The first reconnect's delay, doubled per failure in a row up to "
     "ami.reconnect_max_ms, of which a random half to all (jitter)."},
    {"ami.reconnect_max_ms", SB_CT_INT, OFF(ami_reconnect_max_ms), 10,
     3600000, "30000", "SWITCHBOARD_AMI_RECONNECT_MAX_MS", "MS", NULL, 0,
     "The longest delay between reconnects."},
    {"ami.max_event_bytes", SB_CT_INT, OFF(ami_max_event_bytes), 1024,
     16777216, "262144", "SWITCHBOARD_AMI_MAX_EVENT_BYTES", "BYTES", NULL, 0,
     "Largest manager message read; a larger one is refused and counted, "
     "the session kept."},
};

_Static_assert(SB_ARRAY_LEN(props) + SB_CONF_EXT_MAX <=
                   sizeof(((sb_conf_t *)0)->origin),
               "sb_conf_t.origin is too small for the property table");

/* The processors' own keys (their vtables' conf), added at start by
 * sb_conf_add_rows, after the rows above: one table for parsing, --help
 * and the reference. */
static const sb_conf_prop_t *ext[SB_CONF_EXT_MAX];
static size_t ext_n;

static const sb_conf_prop_t *find_exact(const char *key);

int sb_conf_add_rows(const sb_conf_prop_t *rows, sb_err_t *err) {
  for (const sb_conf_prop_t *r = rows; r && r->name; r++) {
    const sb_conf_prop_t *have = find_exact(r->name);
    if (have == r)
      continue; /* added before */
    if (have != NULL)
      return sb_err_set(err, SB_EINVAL,
                        "configuration key '%s' is declared twice", r->name);
    if (ext_n == SB_CONF_EXT_MAX)
      return sb_err_set(err, SB_EINVAL,
                        "configuration key '%s': more than %d processors' "
                        "keys (raise SB_CONF_EXT_MAX)",
                        r->name, SB_CONF_EXT_MAX);
    ext[ext_n++] = r;
  }
  return 0;
}

size_t sb_conf_count(void) { return SB_ARRAY_LEN(props) + ext_n; }

const sb_conf_prop_t *sb_conf_prop(size_t i) {
  size_t n = sb_conf_count();
  if (i >= n)
    return NULL;
  return i < SB_ARRAY_LEN(props) ? &props[i] : ext[i - SB_ARRAY_LEN(props)];
}

int sb_conf_is_processors(const sb_conf_prop_t *p) {
  return p < props || p >= props + SB_ARRAY_LEN(props);
}

/* Flags spelled otherwise than their key ("--tls-cert", not
 * "--http-tls-cert"). A side table rather than a field of every row, so
 * that the rows above stay as they are. */
static const struct {
  const char *key, *flag;
} flag_names[] = {
    {"http.tls_cert", "tls-cert"},
    {"http.tls_key", "tls-key"},
};

static int same_name(const char *a, const char *b) {
  /* "data-dir" matches "data_dir"; "log-level" matches "log.level" */
  for (; *a && *b; a++, b++) {
    char x = (*a == '-' || *a == '.') ? '_' : *a;
    char y = (*b == '-' || *b == '.') ? '_' : *b;
    if (x != y)
      return 0;
  }
  return *a == *b;
}

static const char *flag_of(const sb_conf_prop_t *p) {
  for (size_t i = 0; i < SB_ARRAY_LEN(flag_names); i++)
    if (strcmp(flag_names[i].key, p->name) == 0)
      return flag_names[i].flag;
  return NULL;
}

static const sb_conf_prop_t *find_exact(const char *key) {
  for (size_t i = 0, n = sb_conf_count(); i < n; i++)
    if (strcmp(sb_conf_prop(i)->name, key) == 0)
      return sb_conf_prop(i);
  return NULL;
}

const sb_conf_prop_t *sb_conf_find(const char *key) {
  const sb_conf_prop_t *p = find_exact(key);
  if (p != NULL)
    return p;
  for (size_t i = 0; i < SB_ARRAY_LEN(props); i++) {
    const char *flag = flag_of(&props[i]);
    if (flag != NULL && strcmp(flag, key) == 0)
      return &props[i];
  }
  for (size_t i = 0, n = sb_conf_count(); i < n; i++)
    if (same_name(sb_conf_prop(i)->name, key))
      return sb_conf_prop(i);
  return NULL;
}

void sb_conf_flag_name(const sb_conf_prop_t *p, char *buf, size_t sz) {
  size_t n = 0;
  if (sz < 3)
    return;
  buf[n++] = '-';
  buf[n++] = '-';
  const char *flag = flag_of(p);
  if (flag != NULL) {
    snprintf(buf + n, sz - n, "%s", flag);
    return;
  }
  for (const char *s = p->name; *s && n + 1 < sz; s++)
    buf[n++] = (*s == '_' || *s == '.') ? '-' : *s;
  buf[n] = '\0';
}

static size_t prop_index(const sb_conf_prop_t *p) {
  if (!sb_conf_is_processors(p))
    return (size_t)(p - props);
  size_t i = 0;
  while (i < ext_n && ext[i] != p)
    i++;
  return SB_ARRAY_LEN(props) + i;
}

/* A processor's key keeps its value in the ext_* slot of its index; the
 * engine's at its offset in sb_conf_t. */
static char **str_field(sb_conf_t *c, const sb_conf_prop_t *p) {
  if (sb_conf_is_processors(p))
    return &c->ext_str[prop_index(p) - SB_ARRAY_LEN(props)];
  return (char **)((char *)c + p->offset);
}

static int *int_field(sb_conf_t *c, const sb_conf_prop_t *p) {
  if (sb_conf_is_processors(p))
    return &c->ext_int[prop_index(p) - SB_ARRAY_LEN(props)];
  return (int *)((char *)c + p->offset);
}

/* The index of sym in a comma-separated list, or -1. */
static int enum_index(const char *list, const char *sym) {
  size_t len = strlen(sym);
  int i = 0;
  for (const char *s = list; *s; i++) {
    size_t n = strcspn(s, ",");
    if (n == len && strncmp(s, sym, n) == 0)
      return i;
    s += n;
    if (*s == ',')
      s++;
  }
  return -1;
}

static void enum_symbol(const char *list, int idx, char *buf, size_t sz) {
  const char *s = list;
  for (int i = 0; i < idx && *s; i++) {
    s += strcspn(s, ",");
    if (*s == ',')
      s++;
  }
  snprintf(buf, sz, "%.*s", (int)strcspn(s, ","), s);
}

static int parse_bool(const char *v, int *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < SB_ARRAY_LEN(yes); i++) {
    if (strcmp(v, yes[i]) == 0)
      return *out = 1, 0;
    if (strcmp(v, no[i]) == 0)
      return *out = 0, 0;
  }
  return SB_EINVAL;
}

static const char *suggest(const char *key) {
  const char *best = NULL;
  int best_d = 3; /* suggest only close names */
  for (size_t i = 0, n = sb_conf_count(); i < n; i++) {
    int d = sb_edit_distance(key, sb_conf_prop(i)->name);
    if (d < best_d) {
      best_d = d;
      best = sb_conf_prop(i)->name;
    }
  }
  return best;
}

static int set_kafka(sb_conf_t *c, const char *key, const char *val,
                     const char *where, sb_err_t *err) {
  const char *name = key + strlen("kafka.");
  static const char *const reserved[] = {"bootstrap.servers",
                                         "metadata.broker.list"};
  for (size_t i = 0; i < SB_ARRAY_LEN(reserved); i++)
    if (strcmp(name, reserved[i]) == 0)
      return sb_err_set(err, SB_ECONFIG,
                        "%s%sconfiguration key '%s': set 'brokers' instead",
                        where ? where : "", where ? ": " : "", key);
  if (sb_kafka_conf_check(name, val, err) != 0) {
    sb_err_prefix(err, "%s%sconfiguration key '%s': ", where ? where : "",
                  where ? ": " : "", key);
    return SB_ECONFIG;
  }
  for (size_t i = 0; i < c->kafka_n; i++) {
    if (strcmp(c->kafka_keys[i], name) == 0) {
      char *v = strdup(val);
      if (v == NULL)
        return sb_err_set(err, SB_ENOMEM, "out of memory");
      free(c->kafka_vals[i]);
      c->kafka_vals[i] = v;
      return 0;
    }
  }
  char **k = realloc(c->kafka_keys, (c->kafka_n + 1) * sizeof *k);
  if (k == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  c->kafka_keys = k;
  char **v = realloc(c->kafka_vals, (c->kafka_n + 1) * sizeof *v);
  if (v == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  c->kafka_vals = v;
  c->kafka_keys[c->kafka_n] = strdup(name);
  c->kafka_vals[c->kafka_n] = strdup(val);
  if (c->kafka_keys[c->kafka_n] == NULL || c->kafka_vals[c->kafka_n] == NULL) {
    free(c->kafka_keys[c->kafka_n]);
    free(c->kafka_vals[c->kafka_n]);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  c->kafka_n++;
  return 0;
}

/* Keys merged into others: refused, saying what to set instead (a value
 * silently ignored, or two URLs that disagree, is worse than a stop). */
static const struct {
  const char *old, *env, *now, *why;
} merged[] = {
    {"dispatch.public_url", "SWITCHBOARD_DISPATCH_PUBLIC_URL",
     "webhooks.public_url",
     "one URL: where providers call back, and what Twilio signs"},
};

static int refuse_merged(size_t i, const char *where, sb_err_t *err) {
  return sb_err_set(err, SB_ECONFIG,
                    "%s%sconfiguration key '%s' was merged into '%s' (%s): "
                    "set %s (environment variable %s) instead",
                    where ? where : "", where ? ": " : "", merged[i].old,
                    merged[i].now, merged[i].why, merged[i].now,
                    sb_conf_find(merged[i].now)->env);
}

int sb_conf_set(sb_conf_t *c, const char *key, const char *val,
                sb_conf_origin_t origin, const char *where, sb_err_t *err) {
  const char *w = where ? where : "";
  const char *sep = where ? ": " : "";
  if (strncmp(key, "kafka.", 6) == 0 && key[6] != '\0')
    return set_kafka(c, key, val, where, err);
  for (size_t i = 0; i < sizeof merged / sizeof merged[0]; i++)
    if (strcmp(key, merged[i].old) == 0)
      return refuse_merged(i, where, err);
  const sb_conf_prop_t *p = find_exact(key);
  if (p == NULL) {
    const char *hint = suggest(key);
    return sb_err_set(err, SB_ECONFIG,
                      "%s%sunknown configuration key '%s'%s%s%s", w, sep, key,
                      hint ? " (did you mean '" : "", hint ? hint : "",
                      hint ? "'?)" : "");
  }
  switch (p->type) {
  case SB_CT_STR: {
    char *v = strdup(val);
    if (v == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    free(*str_field(c, p));
    *str_field(c, p) = v;
    break;
  }
  case SB_CT_INT: {
    long long v;
    if (sb_parse_ll(val, &v) != 0)
      return sb_err_set(err, SB_ECONFIG,
                        "%s%sconfiguration key '%s': '%s' is not a whole number",
                        w, sep, key, val);
    if (v < p->min || v > p->max)
      return sb_err_set(err, SB_ECONFIG,
                        "%s%sconfiguration key '%s': %lld is out of range "
                        "[%lld, %lld]",
                        w, sep, key, v, p->min, p->max);
    *int_field(c, p) = (int)v;
    break;
  }
  case SB_CT_BOOL: {
    int v;
    if (parse_bool(val, &v) != 0)
      return sb_err_set(err, SB_ECONFIG,
                        "%s%sconfiguration key '%s': '%s' is not true or false",
                        w, sep, key, val);
    *int_field(c, p) = v;
    break;
  }
  case SB_CT_ENUM: {
    int v = enum_index(p->enums, val);
    if (v < 0)
      return sb_err_set(err, SB_ECONFIG,
                        "%s%sconfiguration key '%s': '%s' is not one of %s", w,
                        sep, key, val, p->enums);
    *int_field(c, p) = v;
    break;
  }
  }
  c->origin[prop_index(p)] = (unsigned char)origin;
  return 0;
}

int sb_conf_init(sb_conf_t *c, sb_err_t *err) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0, n = sb_conf_count(); i < n; i++) {
    const sb_conf_prop_t *p = sb_conf_prop(i);
    if (p->def == NULL)
      continue;
    if (sb_conf_set(c, p->name, p->def, SB_CO_DEFAULT, NULL, err))
      return err ? err->code : SB_ECONFIG;
  }
  return 0;
}

void sb_conf_free(sb_conf_t *c) {
  if (c == NULL)
    return;
  for (size_t i = 0, n = sb_conf_count(); i < n; i++)
    if (sb_conf_prop(i)->type == SB_CT_STR)
      free(*str_field(c, sb_conf_prop(i)));
  for (size_t i = 0; i < c->kafka_n; i++) {
    free(c->kafka_keys[i]);
    free(c->kafka_vals[i]);
  }
  free(c->kafka_keys);
  free(c->kafka_vals);
  free(c->config_file);
  memset(c, 0, sizeof *c);
}

int sb_conf_load_file(sb_conf_t *c, const char *path, sb_conf_origin_t origin,
                      sb_err_t *err) {
  char *text = NULL;
  int rc = sb_read_file(path, 1 << 20, &text, NULL, err);
  if (rc != 0) {
    sb_err_prefix(err, "configuration file: ");
    return rc;
  }
  int lineno = 0;
  /* walk lines by hand: strtok would merge empty lines and skew numbers */
  for (char *line = text; line != NULL && rc == 0;) {
    char *next = strchr(line, '\n');
    if (next != NULL)
      *next++ = '\0';
    lineno++;
    char *hash = strchr(line, '#');
    if (hash != NULL)
      *hash = '\0';
    char *s = sb_trim(line);
    if (*s != '\0') {
      char where[512];
      snprintf(where, sizeof where, "%s line %d", path, lineno);
      char *eq = strchr(s, '=');
      if (eq == NULL) {
        rc = sb_err_set(err, SB_ECONFIG, "%s: expected 'key = value', got '%s'",
                        where, s);
        break;
      }
      *eq = '\0';
      char *key = sb_trim(s);
      char *val = sb_trim(eq + 1);
      size_t vl = strlen(val);
      if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
        val[vl - 1] = '\0';
        val++;
      }
      if (*key == '\0')
        rc = sb_err_set(err, SB_ECONFIG, "%s: missing key before '='", where);
      else
        rc = sb_conf_set(c, key, val, origin, where, err);
    }
    line = next;
  }
  free(text);
  return rc;
}

int sb_conf_load_env(sb_conf_t *c, sb_err_t *err) {
  for (size_t i = 0; i < sizeof merged / sizeof merged[0]; i++)
    if (getenv(merged[i].env) != NULL) {
      char where[128];
      snprintf(where, sizeof where, "environment variable %s", merged[i].env);
      return refuse_merged(i, where, err);
    }
  for (size_t i = 0, n = sb_conf_count(); i < n; i++) {
    const sb_conf_prop_t *p = sb_conf_prop(i);
    if (p->env == NULL)
      continue;
    const char *v = getenv(p->env);
    if (v == NULL)
      continue;
    char where[128];
    snprintf(where, sizeof where, "environment variable %s", p->env);
    int rc = sb_conf_set(c, p->name, v, SB_CO_ENV, where, err);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* scheme://host[:port]: http or https, a host, nothing after */
static int base_url_ok(const char *u) {
  const char *h = strncmp(u, "https://", 8) == 0  ? u + 8
                  : strncmp(u, "http://", 7) == 0 ? u + 7
                                                  : NULL;
  if (h == NULL || *h == '\0' || *h == ':')
    return 0;
  for (; *h; h++)
    if ((unsigned char)*h <= 0x20 || (unsigned char)*h >= 0x7f ||
        strchr("/?#@\\", *h) != NULL)
      return 0;
  return 1;
}

int sb_conf_check(const sb_conf_t *c, sb_err_t *err) {
  if (c->webhooks_public_url != NULL && !base_url_ok(c->webhooks_public_url))
    return sb_err_set(err, SB_ECONFIG,
                      "webhooks.public_url must be scheme://host[:port] "
                      "(http or https, no path, no trailing '/'), e.g. "
                      "https://sb.example.com");
  if ((c->http_tls_cert == NULL) != (c->http_tls_key == NULL))
    return sb_err_set(err, SB_ECONFIG,
                      "%s is set but %s is not: HTTPS needs both (--tls-cert "
                      "FILE --tls-key FILE), plain HTTP neither",
                      c->http_tls_cert ? "http.tls_cert" : "http.tls_key",
                      c->http_tls_cert ? "http.tls_key" : "http.tls_cert");
  return 0;
}

sb_conf_origin_t sb_conf_origin(const sb_conf_t *c, const char *key) {
  const sb_conf_prop_t *p = sb_conf_find(key);
  return p ? (sb_conf_origin_t)c->origin[prop_index(p)] : SB_CO_UNSET;
}

void sb_conf_value_text(const sb_conf_t *c, const sb_conf_prop_t *p,
                        int redact, char *buf, size_t sz) {
  sb_conf_t *mc = (sb_conf_t *)c; /* the field accessors do not write */
  switch (p->type) {
  case SB_CT_STR: {
    const char *v = *str_field(mc, p);
    if (v == NULL)
      snprintf(buf, sz, "(unset)");
    else if (redact && (p->flags & SB_CP_SECRET))
      sb_url_redact(v, buf, sz);
    else
      snprintf(buf, sz, "%s", v);
    break;
  }
  case SB_CT_INT:
    snprintf(buf, sz, "%d", *int_field(mc, p));
    break;
  case SB_CT_BOOL:
    snprintf(buf, sz, "%s", *int_field(mc, p) ? "true" : "false");
    break;
  case SB_CT_ENUM:
    enum_symbol(p->enums, *int_field(mc, p), buf, sz);
    break;
  }
}

static const char *type_name(const sb_conf_prop_t *p) {
  switch (p->type) {
  case SB_CT_STR:
    return "string";
  case SB_CT_INT:
    return "integer";
  case SB_CT_BOOL:
    return "boolean";
  case SB_CT_ENUM:
    return "enum";
  }
  return "?";
}

void sb_conf_print_reference(FILE *out) {
  fprintf(out, "# Switchboard configuration reference\n\n"
               "Set in a `key = value` file (--config FILE or "
               "$SWITCHBOARD_CONFIG), in the environment, or as flags.\n"
               "Later layers win: defaults < file < environment < flags.\n"
               "librdkafka properties pass through as `kafka.<property>`.\n\n"
               "| key | type | default | environment | flag | description |\n"
               "|---|---|---|---|---|---|\n");
  for (size_t i = 0, n = sb_conf_count(); i < n; i++) {
    const sb_conf_prop_t *p = sb_conf_prop(i);
    char flag[64], range[96] = "";
    sb_conf_flag_name(p, flag, sizeof flag);
    if (p->type == SB_CT_INT)
      snprintf(range, sizeof range, " [%lld..%lld]", p->min, p->max);
    else if (p->type == SB_CT_ENUM)
      snprintf(range, sizeof range, " (%s)", p->enums);
    fprintf(out, "| `%s` | %s%s | %s | %s | `%s %s` | %s |\n", p->name,
            type_name(p), range, p->def ? p->def : "(unset)",
            p->env ? p->env : "", flag, p->arg, p->desc);
  }
}

void sb_conf_print_effective(const sb_conf_t *c, FILE *out) {
  static const char *const origins[] = {"unset", "default", "runtime.conf",
                                        "file", "environment", "flag"};
  for (size_t i = 0, n = sb_conf_count(); i < n; i++) {
    char v[1024];
    sb_conf_value_text(c, sb_conf_prop(i), 1, v, sizeof v);
    fprintf(out, "%s = %s  # %s\n", sb_conf_prop(i)->name, v,
            origins[c->origin[i]]);
  }
  for (size_t i = 0; i < c->kafka_n; i++) {
    int secret = strstr(c->kafka_keys[i], "password") != NULL ||
                 strstr(c->kafka_keys[i], "secret") != NULL ||
                 strstr(c->kafka_keys[i], ".key") != NULL;
    fprintf(out, "kafka.%s = %s\n", c->kafka_keys[i],
            secret ? "****" : c->kafka_vals[i]);
  }
}

int sb_conf_int(const sb_conf_t *c, const char *key, int *out, sb_err_t *err) {
  const sb_conf_prop_t *p = find_exact(key);
  if (p == NULL || p->type == SB_CT_STR)
    return sb_err_set(err, SB_EINVAL,
                      "configuration key '%s' is not a number, boolean or "
                      "enum of the table (a processor reads only the keys its "
                      "vtable's conf declares)",
                      key);
  *out = *int_field((sb_conf_t *)c, p);
  return 0;
}

int sb_conf_str(const sb_conf_t *c, const char *key, const char **out,
                sb_err_t *err) {
  const sb_conf_prop_t *p = find_exact(key);
  if (p == NULL || p->type != SB_CT_STR)
    return sb_err_set(err, SB_EINVAL,
                      "configuration key '%s' is not a string of the table "
                      "(a processor reads only the keys its vtable's conf "
                      "declares)",
                      key);
  *out = *str_field((sb_conf_t *)c, p);
  return 0;
}
