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

/* v into dst (sz bytes, sz > 0), cut on a UTF-8 character's start when
 * too long; NUL-terminated (sb_ami_parse.c). */
void sb__ami_copy(char *dst, size_t sz, const char *v);

/* The login's MD5 key: lower-case hex of md5(challenge + secret) into
 * out. 0, or SB_ECRYPTO. */
int sb__ami_md5_key(const char *challenge, const char *secret, char out[33],
                    sb_err_t *err);

#endif
