#!/usr/bin/python3
"""An independent WebSocket client for the hub tests (Debian's
python3-websockets, not our framing).

  ws_client.py listen URL TOKEN SUBSCRIBE_JSON OUT
      connects with Authorization: Bearer TOKEN, sends SUBSCRIBE_JSON, and
      appends every message it receives to OUT, one a line; at the end a
      line "CLOSED <code> <reason>". Runs until the server closes.
  ws_client.py stall URL TOKEN SUBSCRIBE_JSON OUT UNTIL
      the same with a tiny receive buffer, but it stops reading once
      subscribed, until the file UNTIL exists (at most 120 s: the test
      says when, however slow a loaded machine makes the rest); then it
      reads what is left and records the close as above.
  ws_client.py query URL TOKEN OUT
      connects with ?token=TOKEN, records the welcome, closes normally.
  ws_client.py big URL TOKEN OUT BYTES
      sends a text message of BYTES and records how the server closes.
  ws_client.py unmasked HOST PORT TOKEN OUT
      performs the handshake by hand, then sends an unmasked frame (which
      a server must refuse, RFC 6455 5.1) and records the close code.
"""
import asyncio
import base64
import os
import socket
import struct
import sys

import websockets


def out_line(path, text):
    with open(path, "a") as f:
        f.write(text.replace("\n", " ") + "\n")


async def read_all(ws, out):
    try:
        async for m in ws:
            out_line(out, m if isinstance(m, str) else m.decode("utf-8", "replace"))
    except websockets.exceptions.ConnectionClosed:
        pass
    code = ws.close_code
    reason = ws.close_reason
    out_line(out, "CLOSED %s %s" % (code, reason))


async def listen(url, token, sub, out, stall=None):
    kw = dict(extra_headers={"Authorization": "Bearer " + token},
              max_size=2**24, ping_interval=None)
    if stall is not None:
        # tiny buffers: the server's send queue fills soon after we stop
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((host, int(port)))
        kw.update(sock=s, max_queue=1, read_limit=1024)
    async with websockets.connect(url, **kw) as ws:
        out_line(out, await ws.recv())  # welcome
        await ws.send(sub)
        out_line(out, await ws.recv())  # subscribed, or an error
        if stall is not None:
            ws.transport.pause_reading()
            for _ in range(1200):
                if os.path.exists(stall):
                    break
                await asyncio.sleep(0.1)
            ws.transport.resume_reading()
        await read_all(ws, out)


async def query(url, token, out):
    async with websockets.connect(url + "?token=" + token, ping_interval=None) as ws:
        out_line(out, await ws.recv())
        await ws.close()
    out_line(out, "CLOSED %s %s" % (ws.close_code, ws.close_reason))


async def big(url, token, out, n):
    async with websockets.connect(url, extra_headers={"Authorization": "Bearer " + token},
                                  ping_interval=None, max_size=2**24) as ws:
        await ws.recv()
        try:
            await ws.send("x" * n)
            await read_all(ws, out)
        except websockets.exceptions.ConnectionClosed:
            out_line(out, "CLOSED %s %s" % (ws.close_code, ws.close_reason))


def unmasked(host, port, token, out):
    s = socket.create_connection((host, int(port)), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: %s\r\nAuthorization: Bearer %s\r\n\r\n"
               % (key, token)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, rest = buf.split(b"\r\n\r\n", 1)
    out_line(out, head.split(b"\r\n")[0].decode())
    payload = b'{"subscribe":{"topics":["sb.leads"]}}'
    s.sendall(bytes([0x81, len(payload)]) + payload)  # FIN|text, no mask bit
    data = rest
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    # find the close frame (opcode 8) among the server's frames
    i = 0
    code = None
    while i + 2 <= len(data):
        op, ln = data[i] & 0x0F, data[i + 1] & 0x7F
        j = i + 2
        if ln == 126:
            ln = struct.unpack(">H", data[j:j + 2])[0]
            j += 2
        elif ln == 127:
            ln = struct.unpack(">Q", data[j:j + 8])[0]
            j += 8
        if op == 8 and ln >= 2:
            code = struct.unpack(">H", data[j:j + 2])[0]
        i = j + ln
    out_line(out, "CLOSED %s" % code)


def main():
    mode = sys.argv[1]
    a = sys.argv[2:]
    if mode == "listen":
        asyncio.run(listen(a[0], a[1], a[2], a[3]))
    elif mode == "stall":
        asyncio.run(listen(a[0], a[1], a[2], a[3], stall=a[4]))
    elif mode == "query":
        asyncio.run(query(a[0], a[1], a[2]))
    elif mode == "big":
        asyncio.run(big(a[0], a[1], a[2], int(a[3])))
    elif mode == "unmasked":
        unmasked(a[0], a[1], a[2], a[3])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
