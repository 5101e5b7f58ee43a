#!/usr/bin/python3
"""A test Asterisk manager (AMI) server for the suite: speaks the protocol as
Asterisk 18/20 does (../shared/AMI.md: a one-line banner with no blank line
after it, Key: value lines, messages ended by an empty line, ActionID echoed,
EventList start .. Complete), plays scripted flows, and can be told to drop
its sessions or stop answering, so the connector's reconnects and
resynchronisations can be tested. Standard library only (asyncio).

  ami_server.py --port-file F [--users FILE] [--state FILE] [--log FILE]
                [--version 9.0.0]

--users: "user secret" lines. --state: the lists QueueStatus and
CoreShowChannels answer with: messages (blank-line separated "Key: value"
lines, '#' comments) whose Event is QueueParams, QueueMember, QueueEntry or
CoreShowChannel. --log: one JSON line a received action (names and Action,
AuthType, Username; never Secret or Key values).

Control: the port in F's second line takes one command a line, answers one
line:
  play FILE     sends FILE's messages (as --state's; a line "@sleep S"
                pauses) to every logged-in session         -> ok N
  raw FILE      sends FILE's bytes as they are                -> ok
  drop          closes every session                          -> ok N
  mute | unmute stop / resume answering Ping                  -> ok
  state FILE    the lists from now on                         -> ok
  sessions      logged-in sessions                            -> N
  refuse        closes every session, and each new connection
                at once, until accept (the PBX away)          -> ok N
  accept        takes connections again                       -> ok
  outcome NUMBER answered|busy|no_answer|congestion|failed|hold|refused
                what an Originate of NUMBER gets (default answered;
                failed: Reason 0; hold: never an OriginateResponse;
                refused: "Response: Error" to the action)     -> ok
  originates    Originate actions received, in all            -> N

Originate (Async: true): "Response: Success" (Originate successfully
queued), then after --originate-delay seconds the OriginateResponse with
its ActionID (Reason 4 answered, 5 busy, 3 no_answer, 8 congestion) to
every session, as Asterisk sends manager events; an answered one's channel
then appears as an outbound call (Newchannel with the Originate's Variable
lines as ChanVariable, Newstate Up, after 0.3 s Hangup).
"""
import argparse
import asyncio
import hashlib
import json
import random
import sys
import time


def read_messages(path):
    """[("msg", [(k, v), ...]) | ("sleep", seconds)] of a flow file."""
    out, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            # comments, a transcript's banner and the mapping tests'
            # directives ("Event: @sync") are not sent
            if line.startswith("#") or line.startswith("Asterisk Call Manager/"):
                continue
            if line.startswith("@sleep "):
                if cur:
                    out.append(("msg", cur))
                    cur = []
                out.append(("sleep", float(line.split()[1])))
                continue
            if line == "":
                if cur:
                    out.append(("msg", cur))
                    cur = []
                continue
            k, _, v = line.partition(": ")
            cur.append((k, v))
    if cur:
        out.append(("msg", cur))
    return [(t, m) for t, m in out
            if t != "msg" or not (m[0][0] == "Event" and m[0][1].startswith("@"))]


def encode(fields):
    return "".join("%s: %s\r\n" % kv for kv in fields).encode() + b"\r\n"


class Server:
    def __init__(self, args):
        self.args = args
        self.users = {}
        if args.users:
            with open(args.users) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        self.users[parts[0]] = parts[1]
        self.state = read_messages(args.state) if args.state else []
        self.sessions = set()  # logged-in writers
        self.writers = set()
        self.muted = False
        self.refusing = False  # "refuse": connections closed at once
        self.outcomes = {}  # number -> outcome
        self.originates = 0
        self.uniq = 0
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def record(self, peer, action):
        if self.log is None:
            return
        shown = {"peer": peer, "keys": [k for k, _ in action]}
        for k, v in action:
            if k.lower() in ("action", "authtype", "username", "events"):
                shown[k.lower()] = v
        self.log.write(json.dumps(shown) + "\n")

    async def session(self, reader, writer):
        peer = "%s:%d" % writer.get_extra_info("peername")[:2]
        if self.refusing:
            writer.close()
            return
        self.writers.add(writer)
        writer.write(("Asterisk Call Manager/%s\r\n" % self.args.version).encode())
        challenge = None
        try:
            while True:
                action = []
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    line = line.decode("utf-8", "replace").rstrip("\r\n")
                    if line == "":
                        if action:
                            break
                        continue
                    k, _, v = line.partition(": ")
                    action.append((k, v))
                self.record(peer, action)
                get = {k.lower(): v for k, v in reversed(action)}
                name = get.get("action", "").lower()
                aid = [("ActionID", get["actionid"])] if "actionid" in get else []
                if name == "challenge":
                    challenge = str(random.randint(100000000, 999999999))
                    writer.write(encode([("Response", "Success")] + aid +
                                        [("Challenge", challenge)]))
                elif name == "login":
                    user = get.get("username", "")
                    secret = self.users.get(user)
                    if get.get("authtype", "").lower() == "md5":
                        want = hashlib.md5(((challenge or "") + (secret or "")).encode()).hexdigest()
                        ok = secret is not None and challenge and get.get("key") == want
                    else:
                        ok = secret is not None and get.get("secret") == secret
                    if not ok:
                        await asyncio.sleep(1)  # as Asterisk does
                        writer.write(encode([("Response", "Error")] + aid +
                                            [("Message", "Authentication failed")]))
                        await writer.drain()
                        return
                    writer.write(encode([("Response", "Success")] + aid +
                                        [("Message", "Authentication accepted")]))
                    writer.write(encode([("Event", "FullyBooted"), ("Privilege", "system,all"),
                                         ("Uptime", "1573"), ("LastReload", "1573"),
                                         ("Status", "Fully Booted")]))
                    self.sessions.add(writer)
                elif writer not in self.sessions:
                    writer.write(encode([("Response", "Error")] + aid +
                                        [("Message", "Permission denied")]))
                elif name == "ping":
                    if not self.muted:
                        writer.write(encode([("Response", "Success")] + aid +
                                            [("Ping", "Pong"),
                                             ("Timestamp", "%.6f" % time.time())]))
                elif name in ("queuestatus", "coreshowchannels"):
                    kinds = (("QueueParams", "QueueMember", "QueueEntry")
                             if name == "queuestatus" else ("CoreShowChannel",))
                    items = [m for t, m in self.state if t == "msg" and m[0][1] in kinds]
                    writer.write(encode([("Response", "Success")] + aid +
                                        [("EventList", "start"),
                                         ("Message", "Queue status will follow"
                                          if name == "queuestatus" else
                                          "Channels will follow")]))
                    for m in items:
                        writer.write(encode(m[:1] + aid + m[1:]))
                    done = ("QueueStatusComplete" if name == "queuestatus"
                            else "CoreShowChannelsComplete")
                    writer.write(encode([("Event", done)] + aid +
                                        [("EventList", "Complete"),
                                         ("ListItems", str(len(items)))]))
                elif name == "originate":
                    self.originates += 1
                    number = get.get("channel", "").partition("/")[2].partition("@")[0]
                    if self.outcomes.get(number) == "refused":
                        writer.write(encode([("Response", "Error")] + aid +
                                            [("Message", "Originate failed")]))
                    else:
                        writer.write(encode([("Response", "Success")] + aid +
                                            [("Message", "Originate successfully queued")]))
                        asyncio.ensure_future(self.originate(action, aid))
                elif name == "logoff":
                    writer.write(encode([("Response", "Goodbye")] + aid +
                                        [("Message", "Thanks for all the fish.")]))
                    await writer.drain()
                    return
                else:
                    writer.write(encode([("Response", "Error")] + aid +
                                        [("Message", "Invalid/unknown command")]))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.sessions.discard(writer)
            self.writers.discard(writer)
            writer.close()

    def broadcast(self, fields):
        for w in list(self.sessions):
            w.write(encode(fields))

    async def originate(self, action, aid):
        get = {k.lower(): v for k, v in reversed(action)}
        chan = get.get("channel", "")
        number = chan.partition("/")[2].partition("@")[0]
        outcome = self.outcomes.get(number, "answered")
        if outcome == "hold":
            return
        await asyncio.sleep(self.args.originate_delay)
        reason = {"answered": "4", "busy": "5", "no_answer": "3",
                  "congestion": "8", "failed": "0"}[outcome]
        self.uniq += 1
        uid = "%d.%d" % (int(time.time()), 9000 + self.uniq)
        name = "%s-%08x" % (chan.partition("@")[0], self.uniq)
        ts = lambda: ("Timestamp", "%.6f" % time.time())
        if outcome == "answered":
            cvars = [("ChanVariable", v) for k, v in action
                     if k.lower() == "variable"]
            self.broadcast([("Event", "Newchannel"), ("Privilege", "call,all"), ts(),
                            ("Channel", name), ("ChannelState", "0"),
                            ("ChannelStateDesc", "Down"),
                            ("CallerIDNum", number), ("CallerIDName", ""),
                            ("ConnectedLineNum", "<unknown>"),
                            ("ConnectedLineName", "<unknown>"), ("Language", "en"),
                            ("AccountCode", ""), ("Context", get.get("context", "")),
                            ("Exten", get.get("exten", "")), ("Priority", "1"),
                            ("Uniqueid", uid), ("Linkedid", uid)] + cvars)
            self.broadcast([("Event", "Newstate"), ("Privilege", "call,all"), ts(),
                            ("Channel", name), ("ChannelState", "6"),
                            ("ChannelStateDesc", "Up"), ("Uniqueid", uid),
                            ("Linkedid", uid)])
        self.broadcast([("Event", "OriginateResponse"), ("Privilege", "call,all"), ts()]
                       + aid +
                       [("Response", "Success" if outcome == "answered" else "Failure"),
                        ("Channel", chan), ("Context", get.get("context", "")),
                        ("Exten", get.get("exten", "")), ("Reason", reason),
                        ("Uniqueid", uid if outcome == "answered" else "<null>"),
                        ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")])
        if outcome == "answered":
            await asyncio.sleep(0.3)
            self.broadcast([("Event", "Hangup"), ("Privilege", "call,all"), ts(),
                            ("Channel", name), ("Uniqueid", uid), ("Linkedid", uid),
                            ("Cause", "16"), ("Cause-txt", "Normal Clearing")])
        for w in list(self.sessions):
            try:
                await w.drain()
            except ConnectionError:
                pass

    async def control(self, reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd, _, arg = line.decode().strip().partition(" ")
            answer = "ok"
            if cmd == "play":
                n = 0
                for t, m in read_messages(arg):
                    if t == "sleep":
                        await asyncio.sleep(m)
                        continue
                    for w in list(self.sessions):
                        w.write(encode(m))
                    n += 1
                for w in list(self.sessions):
                    await w.drain()
                answer = "ok %d" % n
            elif cmd == "raw":
                with open(arg, "rb") as f:
                    data = f.read()
                for w in list(self.sessions):
                    w.write(data)
                    await w.drain()
            elif cmd == "drop":
                answer = "ok %d" % len(self.writers)
                for w in list(self.writers):
                    w.close()
                self.sessions.clear()
            elif cmd == "mute":
                self.muted = True
            elif cmd == "unmute":
                self.muted = False
            elif cmd == "state":
                self.state = read_messages(arg)
            elif cmd == "refuse":
                # the PBX away: every session closed, new ones at once
                self.refusing = True
                answer = "ok %d" % len(self.writers)
                for w in list(self.writers):
                    w.close()
                self.sessions.clear()
            elif cmd == "accept":
                self.refusing = False
            elif cmd == "sessions":
                answer = str(len(self.sessions))
            elif cmd == "outcome":
                number, _, what = arg.partition(" ")
                if what not in ("answered", "busy", "no_answer", "congestion",
                                "failed", "hold", "refused"):
                    answer = "error outcome"
                else:
                    self.outcomes[number] = what
            elif cmd == "originates":
                answer = str(self.originates)
            else:
                answer = "error unknown command"
            writer.write((answer + "\n").encode())
            await writer.drain()
        writer.close()

    async def main(self):
        ami = await asyncio.start_server(self.session, "127.0.0.1", 0)
        ctl = await asyncio.start_server(self.control, "127.0.0.1", 0)
        ports = [s.sockets[0].getsockname()[1] for s in (ami, ctl)]
        with open(self.args.port_file + ".tmp", "w") as f:
            f.write("%d\n%d\n" % tuple(ports))
        import os
        os.rename(self.args.port_file + ".tmp", self.args.port_file)
        async with ami, ctl:
            await asyncio.gather(ami.serve_forever(), ctl.serve_forever())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port-file", required=True)
    p.add_argument("--users")
    p.add_argument("--state")
    p.add_argument("--log")
    p.add_argument("--version", default="9.0.0")
    p.add_argument("--originate-delay", type=float, default=0.2)
    args = p.parse_args()
    try:
        asyncio.run(Server(args).main())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
