/* The AMI connector's own cost on one core: a synthetic manager stream
 * (inbound queue calls answered, in Asterisk 20's field lists: each call
 * 13 events, channel variables and noise included) parsed in 64 KiB reads
 * (sb_ami_parser_feed) and mapped (sb_ami_map_msg) to CloudEvents, the
 * events kept for nothing. Prints AMI events a second parsed, and parsed
 * and mapped, and the Switchboard events made. Nothing of ingest, Kafka
 * or PostgreSQL: those are ingest's figures (bench/README.md).
 *
 *   bench_ami [--calls N] [--rounds R]
 * Exits 1 when a round makes other than 8 events a call (the mapping's
 * count for this flow: started, queued, offered, connected, ended, and the
 * agent's ringing, on-call and available again) and one agent.logged_in
 * for each of the 50 agents. */
#include "sb_ami.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One call: caller leg, noise, join, agent leg, ring, connect, bridge
 * noise, hangups, complete, member states. */
static void one_call(FILE *f, long i) {
  long t = 1764680400 + i, u = 2 * i;
  const char *chan = "Channel: PJSIP/trunk-00000015\r\nChannelState: 6\r\n"
                     "ChannelStateDesc: Up\r\nCallerIDNum: +15551230001\r\n"
                     "CallerIDName: Ada Lovelace\r\nConnectedLineNum: "
                     "<unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: "
                     "en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: "
                     "8005550100\r\nPriority: 1\r\n";
  char id[128], agent[64];
  snprintf(id, sizeof id, "Uniqueid: %ld.%ld\r\nLinkedid: %ld.%ld\r\n", t, u, t,
           u);
  snprintf(agent, sizeof agent, "%ld.%ld", t, u + 1);
  fprintf(f, "Event: Newchannel\r\nPrivilege: call,all\r\n%s%s"
             "ChanVariable: SB_LEAD_ID=lead-%ld\r\nChanVariable: "
             "SB_CAMPAIGN_ID=spring\r\n\r\n", chan, id, i);
  fprintf(f, "Event: VarSet\r\nPrivilege: dialplan,all\r\n%s%sVariable: "
             "QUEUE\r\nValue: support\r\n\r\n", chan, id);
  fprintf(f, "Event: QueueCallerJoin\r\nPrivilege: agent,all\r\n%s%sQueue: "
             "support\r\nPosition: 1\r\nCount: 1\r\n\r\n", chan, id);
  fprintf(f, "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: "
             "PJSIP/agent1-00000016\r\nUniqueid: %s\r\nLinkedid: %ld.%ld\r\n"
             "\r\n", agent, t, u);
  fprintf(f, "Event: AgentCalled\r\nPrivilege: agent,all\r\n%s%sDestUniqueid: "
             "%s\r\nQueue: support\r\nInterface: PJSIP/agent%ld\r\nMemberName: "
             "A\r\n\r\n", chan, id, agent, i % 50);
  fprintf(f, "Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nQueue: "
             "support\r\nInterface: PJSIP/agent%ld\r\nLoginTime: 1764680000\r\n"
             "InCall: 0\r\nStatus: 6\r\nPaused: 0\r\n\r\n", i % 50);
  fprintf(f, "Event: AgentConnect\r\nPrivilege: agent,all\r\n%s%sDestUniqueid: "
             "%s\r\nQueue: support\r\nInterface: PJSIP/agent%ld\r\nHoldTime: "
             "7\r\nRingTime: 3\r\n\r\n", chan, id, agent, i % 50);
  fprintf(f, "Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nQueue: "
             "support\r\nInterface: PJSIP/agent%ld\r\nLoginTime: 1764680000\r\n"
             "InCall: 1\r\nStatus: 2\r\nPaused: 0\r\n\r\n", i % 50);
  fprintf(f, "Event: BridgeEnter\r\nPrivilege: call,all\r\nBridgeUniqueid: "
             "b-%ld\r\n%s%s\r\n", i, chan, id);
  fprintf(f, "Event: Hangup\r\nPrivilege: call,all\r\n%s%sCause: 16\r\n"
             "Cause-txt: Normal Clearing\r\n\r\n", chan, id);
  fprintf(f, "Event: Hangup\r\nPrivilege: call,all\r\nUniqueid: %s\r\n"
             "Linkedid: %ld.%ld\r\nCause: 16\r\n\r\n", agent, t, u);
  fprintf(f, "Event: AgentComplete\r\nPrivilege: agent,all\r\n%s%sQueue: "
             "support\r\nInterface: PJSIP/agent%ld\r\nTalkTime: 60\r\nReason: "
             "caller\r\n\r\n", chan, id, i % 50);
  fprintf(f, "Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nQueue: "
             "support\r\nInterface: PJSIP/agent%ld\r\nLoginTime: 1764680000\r\n"
             "InCall: 0\r\nStatus: 1\r\nPaused: 0\r\n\r\n", i % 50);
}

typedef struct {
  sb_ami_map_t *m;
  cJSON *out;
  long msgs, made;
} ctx_t;

static int on_msg(void *ud, const sb_ami_msg_t *msg) {
  ctx_t *x = ud;
  x->msgs++;
  if (x->m == NULL || msg->kind != SB_AMI_EVENT)
    return 0;
  x->made += sb_ami_map_msg(x->m, 0, msg, 1764680400000000LL, x->out);
  if (cJSON_GetArraySize(x->out) > 256) { /* what ingest would take */
    cJSON_Delete(x->out);
    x->out = cJSON_CreateArray();
  }
  return 0;
}

static double run(const char *data, size_t len, int map, long *msgs,
                  long *made) {
  sb_err_t err = SB_ERR_INIT;
  sb_ami_parser_t *p;
  ctx_t x = {0};
  if (sb_ami_parser_new(NULL, &p, &err) != 0 ||
      (map && sb_ami_map_new("pbx1", "acme", 0, 0, &x.m, &err) != 0)) {
    fprintf(stderr, "bench_ami: %s\n", err.msg);
    exit(2);
  }
  x.out = cJSON_CreateArray();
  double t0 = now_s();
  for (size_t at = 0; at < len; at += 65536) {
    size_t n = len - at < 65536 ? len - at : 65536;
    sb_ami_parser_feed(p, data + at, n, on_msg, &x);
  }
  double dt = now_s() - t0;
  cJSON_Delete(x.out);
  sb_ami_map_free(x.m);
  sb_ami_parser_free(p);
  *msgs = x.msgs;
  *made = x.made;
  return dt;
}

int main(int argc, char **argv) {
  long calls = 20000, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--calls") == 0)
      calls = strtol(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--rounds") == 0)
      rounds = strtol(argv[i + 1], NULL, 10);
  }
  if (calls < 1 || rounds < 1) {
    fprintf(stderr, "usage: bench_ami [--calls N] [--rounds R]\n");
    return 2;
  }
  char *data = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&data, &len);
  fputs("Asterisk Call Manager/9.0.0\r\n", f);
  for (long i = 0; i < calls; i++)
    one_call(f, i);
  fclose(f);
  double best_parse = 1e30, best_map = 1e30;
  long msgs = 0, made = 0;
  for (long r = 0; r < rounds; r++) {
    double a = run(data, len, 0, &msgs, &made);
    double b = run(data, len, 1, &msgs, &made);
    best_parse = a < best_parse ? a : best_parse;
    best_map = b < best_map ? b : best_map;
    long want = 8 * calls + (calls < 50 ? calls : 50);
    if (made != want) {
      fprintf(stderr, "bench_ami: %ld events made of %ld calls, not %ld\n",
              made, calls, want);
      return 1;
    }
  }
  long events = msgs - 1; /* the banner */
  printf("bench_ami: %ld calls, %ld AMI events, %.1f MiB\n", calls, events,
         (double)len / (1 << 20));
  printf("  parsed:            %10.0f events/s  (%.0f MiB/s)\n",
         (double)events / best_parse, (double)len / (1 << 20) / best_parse);
  printf("  parsed and mapped: %10.0f events/s  -> %.0f Switchboard events/s\n",
         (double)events / best_map, (double)made / best_map);
  free(data);
  return 0;
}
