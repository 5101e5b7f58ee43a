/* Inside the AMI connector (sb_ami.h), shared by its files only.
 *
 * A session (sb__ami_sess_t) is one PBX's manager connection on the
 * connector's loop, from connect to close, and again after each
 * reconnect. Everything runs on that loop's thread. */
#ifndef SB_AMI_INT_H
#define SB_AMI_INT_H

#include "sb_ami.h"

#include <stdint.h>
#include <uv.h>

/* What a session hands its owner. */
typedef enum {
  SB__AMI_LIVE = 1, /* an event as it happened */
  SB__AMI_SYNC,     /* an item of a resynchronisation's lists */
} sb__ami_origin_t;

typedef struct sb__ami_sess_s sb__ami_sess_t;

typedef struct sb__ami_handler_s {
  /* an event (LIVE) or a list item (SYNC: QueueParams, QueueMember,
   * QueueEntry, CoreShowChannel) */
  void (*message)(void *ud, sb__ami_sess_t *s, sb__ami_origin_t origin,
                  const sb_ami_msg_t *m);
  /* logged in: a resynchronisation's lists are asked for */
  void (*resync)(void *ud, sb__ami_sess_t *s);
  /* the lists of a resynchronisation are all in (after every login) */
  void (*synced)(void *ud, sb__ami_sess_t *s);
  /* the session was lost (events may have been missed until synced) */
  void (*lost)(void *ud, sb__ami_sess_t *s);
  /* a Response whose ActionID is none of the session's own actions (one
   * sent with sb__ami_sess_send) */
  void (*reply)(void *ud, sb__ami_sess_t *s, const sb_ami_msg_t *m);
} sb__ami_handler_t;

typedef struct sb__ami_opts_s {
  int ping_ms;          /* keepalive period; an unanswered Ping reconnects */
  int timeout_ms;       /* connect, banner, login, an action's answer */
  int reconnect_min_ms; /* the first retry's delay, doubled up to max */
  int reconnect_max_ms;
  size_t max_event_bytes; /* the parser's max_bytes */
  size_t max_write_bytes; /* queued to the PBX; past it the session is cut */
} sb__ami_opts_t;

typedef struct sb__ami_stats_s {
  uint64_t connects, logins, login_failures, disconnects;
  uint64_t resyncs, events, list_items, refused, bytes_read;
  int connected; /* logged in now */
  int synced;    /* and resynchronised since */
  int64_t since_us; /* when connected last changed (the session's start
                       while never logged in); wall clock */
  char last_error[16]; /* the last failure's class (SB_AMI_ERR_*), "" */
} sb__ami_stats_t;

/* A session for pbx (borrowed until sb__ami_sess_close's callback) on
 * loop; it connects at once and keeps reconnecting until closed. */
int sb__ami_sess_new(uv_loop_t *loop, const sb_ami_pbx_t *pbx,
                     const sb__ami_opts_t *o, const sb__ami_handler_t *h,
                     void *ud, sb__ami_sess_t **out, sb_err_t *err);
/* Logs off (when logged in), closes its handles; the session is freed
 * once they are closed (the loop's next turns). */
void sb__ami_sess_close(sb__ami_sess_t *s);
const sb_ami_pbx_t *sb__ami_sess_pbx(const sb__ami_sess_t *s);
void sb__ami_sess_stats(const sb__ami_sess_t *s, sb__ami_stats_t *out);
void sb__ami_sess_parse_stats(const sb__ami_sess_t *s,
                              sb_ami_parse_stats_t *out);

/* 1 when logged in (actions may be sent). */
int sb__ami_sess_live(const sb__ami_sess_t *s);
/* Writes an action the caller made whole (text, len: its lines, ActionID
 * included, and the empty line); its answers come to the handler's reply
 * and message. 0 once queued to the socket, -1 when it was not (not
 * logged in, or the write failed: the session then reconnects): nothing
 * of it was sent. */
int sb__ami_sess_send(sb__ami_sess_t *s, const char *text, size_t len);

/* ---- the dialer (sb_ami_dial.c) ----------------------------------------*/

typedef struct sb__ami_dial_s sb__ami_dial_t;
struct sb_conf_s;
struct sb_ingest_s;

/* A key originate_* of a PBX line (sb_ami_pbx.c): 0 or SB_ECONFIG. */
int sb__ami_dial_conf(sb_ami_pbx_t *p, const char *k, const char *v,
                      const char *path, int line, sb_err_t *err);
/* The dialer of the PBXs that have originate_channel (*out NULL when none
 * has, or without ingest or a database): pbx, sess (one a PBX, NULL while
 * closed) and in are borrowed until sb__ami_dial_free. */
int sb__ami_dial_new(uv_loop_t *loop, const struct sb_conf_s *c,
                     struct sb_ingest_s *in, const sb_ami_pbx_t *pbx,
                     size_t n, sb__ami_sess_t *const *sess,
                     sb__ami_dial_t **out, sb_err_t *err);
/* A message of PBX pbx: 1 when it was the dialer's (a Response to an
 * Originate, an OriginateResponse), 0 otherwise. d may be NULL. */
int sb__ami_dial_message(sb__ami_dial_t *d, size_t pbx,
                         const sb_ami_msg_t *m);
/* PBX pbx's session was lost: the Originates awaiting an answer there
 * become unknown. */
void sb__ami_dial_lost(sb__ami_dial_t *d, size_t pbx);
/* Stopping: nothing more is claimed. busy: results or database work not
 * yet done (the drain waits for them; give_up: only for what is in
 * flight, the rest left to the next start). close: its timer closed; free:
 * once the loop has ended. All accept NULL. */
void sb__ami_dial_stop(sb__ami_dial_t *d);
/* PBX pbx's dialer counters into st (its dials and dial_* fields). */
void sb__ami_dial_stats(const sb__ami_dial_t *d, size_t pbx,
                        sb_ami_pbx_stats_t *st);
int sb__ami_dial_busy(sb__ami_dial_t *d, int give_up);
void sb__ami_dial_close(sb__ami_dial_t *d);
void sb__ami_dial_free(sb__ami_dial_t *d);

/* v into dst (sz bytes, sz > 0), cut on a UTF-8 character's start when
 * too long; NUL-terminated (sb_ami_parse.c). */
void sb__ami_copy(char *dst, size_t sz, const char *v);

/* The login's MD5 key: lower-case hex of md5(challenge + secret) into
 * out. 0, or SB_ECRYPTO. */
int sb__ami_md5_key(const char *challenge, const char *secret, char out[33],
                    sb_err_t *err);

#endif
