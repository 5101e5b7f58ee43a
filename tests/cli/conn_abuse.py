#!/usr/bin/python3
"""Raw-socket clients that misbehave, for the connection-limit tests. Each
prints one line of KEY VALUE pairs for the shell to check. PID is the
server's process: its resident memory (VmRSS of /proc/PID/status) is read
while the attack runs, and an attack stops early once the server grew by
LIMIT_MB (so that a server without the bound does not take the machine).

  halfclose HOST PORT TOKEN
      two pipelined requests (a POST of one event, a GET /v1/health), then
      shutdown(SHUT_WR): the answers that come back before the server
      closes.                      -> ANSWERS n STATUS s1,s2
  pipeline HOST PORT PID BYTES LIMIT_MB
      GET /metrics pipelined, BYTES of them, never reading; then reads the
      answers.                     -> SENT reqs BASE kb PEAK kb ANSWERED n
  wsflood HOST PORT TOKEN PID KIND MB LIMIT_MB
      a WebSocket client that sends MB of pings (KIND ping) or of small
      invalid messages (KIND invalid) and never reads; then reads what it
      was sent.                    -> SENT bytes BASE kb PEAK kb CLOSE code
  wsbad HOST PORT TOKEN KIND
      one bad frame header: a fragmented ping (fragping), a ping of 126
      bytes (longping), a 64-bit length with its top bit set (toplen).
                                   -> CLOSE code
  refuse HOST PORT PID N LIMIT_MB
      N requests with refused tokens (missing, malformed, forged in turn),
      pipelined on one connection.  -> SENT n UNAUTHORIZED n BASE kb PEAK kb
"""
import base64
import os
import re
import socket
import struct
import sys
import time


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ws_connect(host, port, token, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: %s\r\nAuthorization: Bearer %s\r\n\r\n"
               % (key, token)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("handshake: the server closed")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit("handshake: %r" % head[:80])
    return s, rest


def masked(opcode_byte, payload, length_field=None):
    """A client frame: first byte as given, mask bit set, payload masked."""
    mask = os.urandom(4)
    n = len(payload)
    if length_field is not None:
        head = bytes([opcode_byte]) + length_field
    elif n < 126:
        head = bytes([opcode_byte, 0x80 | n])
    elif n < 65536:
        head = bytes([opcode_byte, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([opcode_byte, 0x80 | 127]) + struct.pack(">Q", n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def read_to_eof(s, first=b"", limit_s=30):
    data = first
    s.settimeout(2)
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            chunk = s.recv(1 << 16)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def close_code(data):
    """The status code of the first close frame among server frames."""
    i = 0
    while i + 2 <= len(data):
        op, ln = data[i] & 0x0F, data[i + 1] & 0x7F
        j = i + 2
        if ln == 126:
            ln = struct.unpack(">H", data[j:j + 2])[0]
            j += 2
        elif ln == 127:
            ln = struct.unpack(">Q", data[j:j + 8])[0]
            j += 8
        if op == 8:
            return struct.unpack(">H", data[j:j + 2])[0] if ln >= 2 else 1005
        i = j + ln
    return None


def flood(s, chunk, total, pid, limit_kb, base):
    """Sends chunk repeatedly, non-blocking, until total bytes went, the
    server stopped taking them for 3 s, or it grew by limit_kb. Returns
    (bytes sent, peak rss)."""
    s.setblocking(False)
    sent, peak, idle_since = 0, base, None
    view = b""
    while sent < total:
        if not view:
            view = chunk
        try:
            n = s.send(view)
            view = view[n:]
            sent += n
            idle_since = None
        except BlockingIOError:
            if idle_since is None:
                idle_since = time.time()
            elif time.time() - idle_since > 3:
                break
            time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            break
        r = rss_kb(pid)
        peak = max(peak, r)
        if r - base > limit_kb:
            break
    s.setblocking(True)
    # the server works through what it was sent: watch it for a while more,
    # still not reading
    until = time.time() + 3
    while time.time() < until and peak - base <= limit_kb:
        peak = max(peak, rss_kb(pid))
        time.sleep(0.05)
    return sent, peak


def halfclose(host, port, token):
    body = ('{"specversion":"1.0","type":"lead.created","source":"crm://t",'
            '"subject":"lead-hc","time":"%s",'
            '"data":{"lead_source":"web_form"}}'
            % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    req = ("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
           "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
           % (token, len(body), body))
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(req.encode())
    s.shutdown(socket.SHUT_WR)
    data = read_to_eof(s, limit_s=20)
    statuses = [m.decode() for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    print("ANSWERS %d STATUS %s" % (len(statuses), ",".join(statuses) or "-"))


def pipeline(host, port, pid, nbytes, limit_mb):
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    base = rss_kb(pid)
    sent, peak = flood(s, req * 256, nbytes, pid, limit_mb * 1024, base)
    reqs = sent // len(req)
    # every complete request is answered, in order, once we read; the
    # server is given up on after 30 s without a byte (not a total: on a
    # loaded machine 31,000 /metrics pages take long, and that is no fault)
    s.settimeout(5)
    got, tail, quiet_since = 0, b"", time.time()
    while got < reqs and time.time() - quiet_since < 30:
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not chunk:
            break
        quiet_since = time.time()
        buf = tail + chunk
        got += buf.count(b"HTTP/1.1 200 ")
        tail = buf[-16:]
        got -= tail.count(b"HTTP/1.1 200 ")
    got += tail.count(b"HTTP/1.1 200 ")
    print("SENT %d BASE %d PEAK %d ANSWERED %d" % (reqs, base, peak, got))


def wsflood(host, port, token, pid, kind, mb, limit_mb):
    s, rest = ws_connect(host, port, token, rcvbuf=4096)
    if kind == "ping":
        frames = b"".join(masked(0x89, b"") for _ in range(1024))
    else:  # a text message that is not JSON: an error reply for each
        frames = b"".join(masked(0x81, b"x") for _ in range(1024))
    base = rss_kb(pid)
    sent, peak = flood(s, frames, int(mb * (1 << 20)), pid, limit_mb * 1024, base)
    data = read_to_eof(s, rest, limit_s=40)
    print("SENT %d BASE %d PEAK %d CLOSE %s" % (sent, base, peak, close_code(data)))


def wsbad(host, port, token, kind):
    s, rest = ws_connect(host, port, token)
    if kind == "fragping":  # FIN clear on a ping
        frame = masked(0x09, b"abc")
    elif kind == "longping":  # 126 bytes: over the control frames' 125
        frame = masked(0x89, b"p" * 126)
    else:  # toplen: a 64-bit length with its most significant bit set
        frame = (bytes([0x82, 0x80 | 127]) + struct.pack(">Q", (1 << 63) | 5) +
                 os.urandom(4) + b"hello")
    s.sendall(frame)
    data = read_to_eof(s, rest, limit_s=10)
    print("CLOSE %s" % close_code(data))


def refuse(host, port, pid, n, limit_mb):
    tokens = [None, "not-a-token",
              "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWZvcmdlZA"]
    reqs = []
    for t in tokens:
        auth = "Authorization: Bearer %s\r\n" % t if t else ""
        reqs.append(("POST /v1/events HTTP/1.1\r\nHost: x\r\nUser-Agent: "
                     "refuse/1\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: 2\r\n\r\n{}" % auth).encode())
    s = socket.create_connection((host, int(port)), timeout=10)
    base = rss_kb(pid)
    peak, sent, got, tail = base, 0, 0, b""
    batch = 300
    deadline = time.time() + 120
    while sent < n and time.time() < deadline:
        k = min(batch, n - sent)
        s.sendall(b"".join(reqs[(sent + i) % 3] for i in range(k)))
        sent += k
        while got < sent - batch // 2 or (sent >= n and got < n):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf = tail + chunk
            got += buf.count(b"HTTP/1.1 401 ")
            tail = buf[-16:]
            got -= tail.count(b"HTTP/1.1 401 ")
        if sent % 6000 < batch:
            peak = max(peak, rss_kb(pid))
            if peak - base > limit_mb * 1024:
                break
    got += tail.count(b"HTTP/1.1 401 ")
    peak = max(peak, rss_kb(pid))
    print("SENT %d UNAUTHORIZED %d BASE %d PEAK %d" % (sent, got, base, peak))


def main():
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "halfclose":
        halfclose(a[0], a[1], a[2])
    elif mode == "pipeline":
        pipeline(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
    elif mode == "wsflood":
        wsflood(a[0], a[1], a[2], int(a[3]), a[4], float(a[5]), int(a[6]))
    elif mode == "wsbad":
        wsbad(a[0], a[1], a[2], a[3])
    elif mode == "refuse":
        refuse(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
