/* The Asterisk Manager Interface connector (issue 18): calls and agent
 * states straight from the PBX.
 *
 *   sb_ami_parse.c   the framing: bytes of a manager session -> messages
 *                    (pure, bounded, incremental; fuzzed by
 *                    tests/fuzz/fuzz_ami.c)
 *   sb_ami_pbx.c     the PBXs to connect to (ami.pbx_file) and their
 *                    secrets (ami.secrets_file, 0600)
 *   sb_ami_client.c  one manager session per PBX on a libuv loop: banner,
 *                    login, actions and their answers, keepalive,
 *                    reconnects, the resynchronisation after each
 *   sb_ami_map.c     what the PBX says as call.* and agent.* events
 *                    (pure: AMI messages in, CloudEvents out)
 *   sb_ami.c         the connector's thread (sb_ami_start / _join)
 *
 * The protocol facts it follows are in ../shared/AMI.md: a one-line banner
 * with no blank line after it, then messages of "Key: value" lines, each
 * ended by an empty line; keys case-insensitive and repeatable, in order.
 * Nothing here trusts the peer: every buffer is bounded in bytes, and a
 * value the peer sends is never passed on as invalid UTF-8. */
#ifndef SB_AMI_H
#define SB_AMI_H

#include "sb_err.h"
#include "sb_text.h"

#include <stddef.h>
#include <stdint.h>

/* ---- the parser ----------------------------------------------------------
 *
 * Bytes go in as they are read (split anywhere: a line, a "\r\n", a UTF-8
 * sequence may straddle two reads); each complete message comes out through
 * a callback, valid during the call only.
 *
 *   - The first line of a session is the banner ("Asterisk Call
 *     Manager/9.0.0"), delivered on its own (SB_AMI_BANNER), whatever
 *     follows it.
 *   - Lines end with "\n", a "\r" before it dropped: "\r\n", "\n" and the
 *     "\r\n\n" of CoreShowChannelMap all frame. An empty line ends a
 *     message; empty lines between messages are skipped (counted).
 *   - "Key: value" (one space after the colon taken off), "Key:value" and
 *     "Key:" (empty value) are fields. A line whose text before its first
 *     ':' is not a key (empty, longer than SB_AMI_KEY_MAX, or holding a
 *     space or a control character), or that has no ':' at all
 *     ("From 192.168.0.1:1234" of old RTCP events), is kept as a field with
 *     the key "" and the whole line as its value (counted as bare).
 *   - A legacy Command answer (Asterisk <= 13: "Response: Follows", its
 *     Privilege and ActionID, then free text up to "--END COMMAND--") gives
 *     one "Output" field a line of that text, as Asterisk >= 14 sends them;
 *     empty lines inside the text do not end it.
 *   - A message of more than max_bytes (its lines' bytes as sent) or
 *     max_fields lines is refused: its bytes are dropped as they come, the
 *     session goes on with the next message, and the callback gets
 *     SB_AMI_REFUSED with its first line (cut) to say what it was.
 *   - Values (keys too) that are not UTF-8 are decoded from the configured
 *     charset (iconv: "CP1251", "ISO-8859-1", ...), or, with none, or where
 *     that fails, each invalid sequence replaced by U+FFFD. A value that is
 *     valid UTF-8 is kept as it is (Asterisk's own fields are ASCII). NUL
 *     and other C0 control characters but tab are replaced too (AMI
 *     escapes them since 13.5: a raw one is garbage). */

#define SB_AMI_KEY_MAX 128 /* bytes of a key */

typedef enum {
  SB_AMI_BANNER = 1, /* the first line: fields[0] is {"", the line} */
  SB_AMI_EVENT,      /* has an Event field */
  SB_AMI_RESPONSE,   /* has a Response field (and no Event) */
  SB_AMI_OTHER,      /* neither */
  SB_AMI_REFUSED,    /* over a bound: fields[0] is its first line (cut) */
} sb_ami_kind_t;

typedef struct sb_ami_field_s {
  const char *key, *value; /* UTF-8, NUL-terminated; key "" for a bare line */
} sb_ami_field_t;

typedef struct sb_ami_msg_s {
  sb_ami_kind_t kind;
  const sb_ami_field_t *fields; /* in the order sent */
  size_t n;
  size_t bytes; /* as sent, line ends included */
} sb_ami_msg_t;

typedef struct sb_ami_parser_opts_s {
  size_t max_bytes;  /* of a message; 0: 256 KiB */
  size_t max_fields; /* lines of a message; 0: 4096 */
  const char *charset; /* of values that are not UTF-8; NULL: replaced */
} sb_ami_parser_opts_t;

typedef struct sb_ami_parse_stats_s {
  uint64_t messages; /* delivered, the banner included */
  uint64_t refused;  /* over max_bytes or max_fields */
  uint64_t bare;     /* lines that were not "Key: value" */
  uint64_t blank;    /* empty lines between messages */
  uint64_t decoded;  /* values decoded from the charset */
  uint64_t replaced; /* values with bytes replaced by U+FFFD */
} sb_ami_parse_stats_t;

typedef struct sb_ami_parser_s sb_ami_parser_t;

/* A message; m and its strings are valid during the call only. A nonzero
 * return stops sb_ami_parser_feed, which returns it (the rest of that
 * read is not parsed). */
typedef int (*sb_ami_msg_fn)(void *ud, const sb_ami_msg_t *m);

/* o may be NULL (the defaults). SB_ECONFIG naming a charset iconv does not
 * know, SB_ENOMEM. *out is the caller's: sb_ami_parser_free. */
int sb_ami_parser_new(const sb_ami_parser_opts_t *o, sb_ami_parser_t **out,
                      sb_err_t *err);
/* Parses len bytes of data (borrowed during the call), delivering each
 * message completed to fn. 0, fn's nonzero return, or SB_ENOMEM (the
 * parser is then reset to the start of a message). */
int sb_ami_parser_feed(sb_ami_parser_t *p, const char *data, size_t len,
                       sb_ami_msg_fn fn, void *ud);
/* A new session (after a reconnect): the next line is a banner again;
 * anything half-read is dropped. Stats are kept. */
void sb_ami_parser_reset(sb_ami_parser_t *p);
/* Bytes held of a message not yet complete (at most max_bytes). */
size_t sb_ami_parser_pending(const sb_ami_parser_t *p);
void sb_ami_parser_stats(const sb_ami_parser_t *p, sb_ami_parse_stats_t *out);
void sb_ami_parser_free(sb_ami_parser_t *p); /* accepts NULL */

/* ---- reading a message ---------------------------------------------------*/

/* The value of the first field named key (compared case-insensitively) at
 * or after index *from (NULL: from 0); NULL when none. With from, *from is
 * set past the field found, so that a loop visits every repeat:
 *   size_t at = 0; while ((v = sb_ami_get_next(m, "Output", &at))) ... */
const char *sb_ami_get(const sb_ami_msg_t *m, const char *key);
const char *sb_ami_get_next(const sb_ami_msg_t *m, const char *key,
                            size_t *from);
/* The value of variable name in the repeated "name=value" fields key
 * (ChanVariable, DestChanVariable, Variable): split on the first '=', the
 * name compared case-sensitively, as Asterisk's variables are; the last
 * one wins. NULL when absent. Into out (cut to outsz - 1 bytes on a UTF-8
 * boundary). */
const char *sb_ami_var(const sb_ami_msg_t *m, const char *key,
                       const char *name, char *out, size_t outsz);
/* 1 when the message's key field equals value, case-insensitively
 * ("EventList", "Complete"); 0 otherwise. */
int sb_ami_is(const sb_ami_msg_t *m, const char *key, const char *value);

/* ---- the PBXs ------------------------------------------------------------
 *
 * ami.pbx_file: one PBX a line, "key=value" words ('#' starts a comment):
 *   name=eu1 host=10.0.0.5 port=5038 tenant=acme user=switchboard
 *   auth=md5 events=call,agent,dialplan,dtmf,system charset=CP1251
 * name (1-32 of [A-Za-z0-9_.-], unique), host and tenant (a tenant id)
 * and user are required; port defaults to 5038, auth to md5 (plain: the
 * secret is sent as it is: only on a trusted network), events (the login's
 * event mask) to call,agent,dialplan,dtmf,system, charset to none (bytes
 * that are not UTF-8 replaced).
 * ami.secrets_file: "name secret" lines, one a PBX, readable by its owner
 * only (mode 0600 or stricter: refused otherwise). Secrets are never
 * logged or printed, and wiped when freed. */

#define SB_AMI_MAX_PBX 64

typedef struct sb_ami_pbx_s {
  char name[33];
  char host[256];
  int port;
  char tenant[65];
  char user[81];
  int md5; /* Challenge/MD5 login; 0: plain Secret */
  char events[128];
  char charset[33];
  char secret[129]; /* from the secrets file */
  /* the mapping's keys (sb_ami_map.c; "" when not given) */
  char ivr_contexts[256];      /* contexts whose Newexten/DTMF are IVR steps */
  char outbound_contexts[256]; /* a call's first channel there: outbound */
  char lead_var[65], campaign_var[65]; /* SB_LEAD_ID, SB_CAMPAIGN_ID */
  char direction_var[65];      /* SB_DIRECTION (inbound|outbound|internal) */
  char tenant_var[65];         /* a call's tenant; none: the PBX's */
  char tenants[512];           /* tenants tenant_var may name (and tenant) */
  char agents_file[256];       /* "<pbx> <interface|mailbox> <agent_id>" */
  struct sb_ami_agent_s *agents; /* its lines of this PBX, sorted */
  size_t nagents;
  /* the dialer (sb_ami_dial.c): originate_channel=PJSIP/{number}@trunk
   * (set: the PBX dials call.dial_requested), originate_context and
   * originate_exten (where an answered call goes, unless the request
   * says) */
  char orig_channel[128];
  char orig_context[81];
  char orig_exten[81];
} sb_ami_pbx_t;

/* An agents_file line of a PBX: its interface ("PJSIP/agent1") or mailbox
 * ("1001@default") as the Switchboard user id agent_id. */
typedef struct sb_ami_agent_s {
  char iface[129];
  char agent_id[129];
} sb_ami_agent_t;

/* Reads both files: *out (n PBXs) is the caller's, sb_ami_pbx_free.
 * SB_ECONFIG naming the file, line and word that is wrong (never a
 * secret), or a PBX without secret; SB_EPERM for a secrets file others may
 * read; SB_EIO when unreadable. */
int sb_ami_pbx_load(const char *pbx_file, const char *secrets_file,
                    sb_ami_pbx_t **out, size_t *n, sb_err_t *err);
/* Wipes the secrets and frees (NULL accepted). */
void sb_ami_pbx_free(sb_ami_pbx_t *p, size_t n);

/* ---- the mapping ---------------------------------------------------------
 *
 * One mapper a PBX: AMI events (live, or items of a resynchronisation's
 * lists) in, CloudEvents (JSON, for ingest) out, for the PBX's tenant,
 * source "ami://<pbx>".
 *   calls, one per Linkedid, call_id "<pbx>:<Linkedid>":
 *     Newchannel (the first of a Linkedid)  -> call.started
 *     QueueCallerJoin                       -> call.queued
 *     AgentCalled                           -> call.offered
 *     AgentConnect                          -> call.connected (its HoldTime
 *                                              and RingTime are seconds)
 *     QueueCallerAbandon                    -> call.abandoned
 *     Hold, Unhold                          -> call.hold (hold_ms on Unhold)
 *     Hangup of the call's last channel     -> call.ended (durations, the
 *                                              caller's hangup cause;
 *                                              AgentComplete's TalkTime and
 *                                              Reason when it came first;
 *                                              talk_ms less hold_ms)
 *   agents, agent_id the member's interface ("PJSIP/agent1"):
 *     the first QueueMember* of an interface -> agent.logged_in
 *     QueueMemberStatus/Pause/..., QueueMember -> agent.state_changed when
 *       the state their fields say changes (paused: in every queue it is
 *       in; ringing; on_call;
 *       offline for an unavailable device; wrapup within the member's
 *       Wrapuptime of LastCall; else available)
 *     QueueMemberRemoved of its last queue   -> agent.logged_out
 *     Newexten into a new context,exten of ivr_contexts,
 *     DTMFEnd Received there                 -> call.ivr_step
 *     AgentRingNoAnswer (RingTime ms)        -> counted; ring_ms; the agent
 *                                               back from ringing
 *     BlindTransfer, AttendedTransfer        -> call.transferred (attended:
 *                                               the consult call ends,
 *                                               its Linkedid an alias)
 *     MessageWaiting of a VoiceMail() call   -> voicemail.received
 *   the lead and campaign of a call: the channel variables lead_var and
 *   campaign_var (SB_LEAD_ID, SB_CAMPAIGN_ID; manager.conf channelvars);
 *   its tenant: tenant_var, one of tenants (else the call is refused and
 *   counted); its direction: direction_var, outbound_contexts; agent ids:
 *   agents_file (sb_ami_map_config). Caller numbers only when E.164.
 *   Other events are counted as unmapped, by name. */

#define SB_AMI_MAP_NAMES 32 /* unmapped event names counted apart */

typedef struct sb_ami_map_count_s {
  char name[48];
  uint64_t count;
} sb_ami_map_count_t;

typedef struct sb_ami_map_stats_s {
  uint64_t mapped, unmapped, produced, unusable;
  uint64_t calls_forgotten, agents_untracked;
  size_t calls, agents; /* held now */
  sb_ami_map_count_t unmapped_names[SB_AMI_MAP_NAMES];
  size_t n_unmapped_names;
  uint64_t ring_no_answer;  /* AgentRingNoAnswer of known calls */
  uint64_t tenant_refused;  /* calls naming a tenant the PBX may not write */
  uint64_t tenant_late;     /* tenant variable after the call's first event */
  uint64_t agents_unmapped; /* interfaces with no agents_file line */
  uint64_t ivr_steps, transfers, voicemails;
} sb_ami_map_stats_t;

struct cJSON;
typedef struct sb_ami_map_s sb_ami_map_t;

/* A mapper for PBX pbx of tenant, holding at most max_calls calls and
 * max_agents agents (0: 100000 each). *out: sb_ami_map_free. */
int sb_ami_map_new(const char *pbx, const char *tenant, size_t max_calls,
                   size_t max_agents, sb_ami_map_t **out, sb_err_t *err);
/* Maps one message (sync: an item of a resynchronisation's lists),
 * appending the events it makes to out (a cJSON array); now_us is its
 * time when it carries no Timestamp. How many were appended. */
int sb_ami_map_msg(sb_ami_map_t *m, int sync, const sb_ami_msg_t *msg,
                   int64_t now_us, struct cJSON *out);
/* A resynchronisation begins (after a login): what its lists do not show
 * again, sb_ami_map_synced ends: calls as call.ended (end_reason other),
 * agents as agent.logged_out (reason system). */
void sb_ami_map_sync_start(sb_ami_map_t *m);
int sb_ami_map_synced(sb_ami_map_t *m, int64_t now_us, struct cJSON *out);
void sb_ami_map_stats(const sb_ami_map_t *m, sb_ami_map_stats_t *out);
void sb_ami_map_free(sb_ami_map_t *m); /* accepts NULL */
/* The PBX's mapping keys (sb_ami_pbx_t: IVR contexts, channel variables'
 * names, allowed tenants, agent ids, outbound contexts); p is borrowed
 * for the mapper's life. Without it: the defaults (no IVR steps, the
 * SB_* variables, the PBX's tenant only, interfaces as agent ids). */
void sb_ami_map_config(sb_ami_map_t *m, const sb_ami_pbx_t *p);

/* ---- the connector -------------------------------------------------------
 *
 * One thread with its own libuv loop and a manager session per PBX of
 * ami.pbx_file: each logs in, keeps alive, reconnects with backoff and
 * jitter, and resynchronises (QueueStatus, CoreShowChannels) after every
 * login; each PBX's messages go through its mapper. Not yet: the events
 * the mapper makes are counted, not yet handed to ingest (nothing is
 * produced to Kafka). */
struct sb_conf_s;
typedef struct sb_ami_s sb_ami_t;

typedef struct sb_ami_pbx_stats_s {
  char name[33], tenant[65];
  int connected; /* logged in now */
  int synced;    /* and resynchronised since */
  uint64_t connects, logins, login_failures, disconnects, resyncs;
  uint64_t events;     /* live events read */
  uint64_t list_items; /* items of the resynchronisations' lists */
  uint64_t refused;    /* messages over ami.max_event_bytes */
  uint64_t bare, replaced, decoded; /* lines and values (sb_ami_parse_stats_t) */
  uint64_t bytes_read;
  uint64_t mapped;   /* events the mapping used */
  uint64_t unmapped; /* events it has no use for (sb_ami_map_stats_t) */
  uint64_t produced; /* call.* and agent.* events made of them */
  uint64_t accepted, duplicates; /* by ingest: new, and seen before */
  uint64_t ingest_refused;       /* by ingest, for good (invalid) */
  uint64_t dropped;  /* not produced: ingest away past the bounds */
  uint64_t waiting;  /* made, not yet handed to ingest */
  int64_t since_us;  /* when connected last changed (the start while never
                        logged in); wall clock, microseconds */
  char last_error[16]; /* the last failure's class (SB_AMI_ERR_*), "" */
  sb_ami_map_count_t unmapped_names[SB_AMI_MAP_NAMES]; /* by event name */
  size_t n_unmapped_names;
  /* the dialer (sb_ami_dial.c): dials is 1 when the PBX dials
   * (originate_channel); Originates sent, and call.dial_result made:
   * answered, failed (busy, no_answer, congestion, failed), unknown */
  int dials;
  uint64_t originates, dial_answered, dial_failed, dial_unknown;
} sb_ami_pbx_stats_t;

/* The classes of a session's failures, as /v1/health names the last one:
 * never the failure's text (it may quote the PBX), never a host or user. */
#define SB_AMI_ERR_CONNECT "connect"   /* resolving, connecting refused */
#define SB_AMI_ERR_TIMEOUT "timeout"   /* connect, banner, an answer, Ping */
#define SB_AMI_ERR_BANNER "banner"     /* not an Asterisk manager */
#define SB_AMI_ERR_LOGIN "login"       /* the login or its challenge refused */
#define SB_AMI_ERR_CLOSED "closed"     /* the PBX closed the connection */
#define SB_AMI_ERR_SHUTDOWN "shutdown" /* Event: Shutdown */
#define SB_AMI_ERR_STALLED "stalled"   /* not reading what is sent to it */
#define SB_AMI_ERR_IO "io"             /* a socket error, out of memory */

/* Reads ami.pbx_file and ami.secrets_file (SB_ECONFIG, SB_EPERM: nothing
 * started) and starts the sessions on a thread of its own. c is borrowed
 * until sb_ami_join; *out is the caller's, for sb_ami_join. */
int sb_ami_start(const struct sb_conf_s *c, sb_ami_t **out, sb_err_t *err);
/* Asks it to stop: each session logs off and closes. Any thread;
 * idempotent. */
void sb_ami_stop(sb_ami_t *a);
/* 1 once its thread has ended. */
int sb_ami_done(sb_ami_t *a);
/* The PBXs' counters now (any thread): up to max into out; how many PBXs
 * there are. */
size_t sb_ami_snapshot(sb_ami_t *a, sb_ami_pbx_stats_t *out, size_t max);
/* Stops it when running, waits for its thread and frees it (NULL
 * accepted); st (may be NULL, max entries) gets the final counters. */
int sb_ami_join(sb_ami_t *a, sb_ami_pbx_stats_t *st, size_t max,
                sb_err_t *err);

/* ---- metrics and health of the connectors of this process ----------------
 *
 * Every connector started (sb_ami_start) until its sb_ami_join is listed
 * process-wide, so that the HTTP API of the same process (`up`) shows them
 * without being handed one. Any thread. */

/* Appends to t, in Prometheus' text format, a series per PBX (label
 * pbx="<name>": never a host, user, tenant or secret); nothing when no
 * connector runs:
 *   switchboard_ami_connected{pbx}                 gauge: logged in now
 *   switchboard_ami_synced{pbx}                    gauge: and resynchronised
 *   switchboard_ami_events_total{pbx}              live events read (their
 *                                                  rate() is events/s)
 *   switchboard_ami_list_items_total{pbx}          resynchronisations' items
 *   switchboard_ami_reconnects_total{pbx}          logged-in sessions lost
 *   switchboard_ami_login_failures_total{pbx}
 *   switchboard_ami_resyncs_total{pbx}
 *   switchboard_ami_refused_total{pbx}             over ami.max_event_bytes
 *   switchboard_ami_unmapped_total{pbx,event}      events of no use, by name:
 *     the first SB_AMI_MAP_NAMES names of a PBX made of [A-Za-z0-9_] (as
 *     Asterisk's are), the rest as event="other"
 *   switchboard_ami_produced_total{pbx}            call.* / agent.* made
 *   switchboard_ami_ingested_total{pbx,outcome}    accepted, duplicate,
 *                                                  refused (for good)
 *   switchboard_ami_dropped_total{pbx}             past the waiting bound
 *   switchboard_ami_waiting{pbx}                   gauge: made, not yet
 *                                                  handed to ingest */
void sb_ami_metrics(sb_text_t *t);

/* Adds to o (a JSON object) "ami": {"<pbx>": {"connected", "synced",
 * "since" (RFC 3339), "last_error" (a class, SB_AMI_ERR_*, or null)}}
 * when a connector runs. How many PBXs are not connected; -1 when no
 * connector runs (o untouched). */
int sb_ami_health(struct cJSON *o);

#endif
