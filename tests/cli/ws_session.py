#!/usr/bin/python3
"""A WebSocket client for the rbac and session tests (Debian's
python3-websockets).

  ws_session.py URL OUT HEADER...
      connects with the given headers ("Name: value": a Cookie and an
      Origin, or an Authorization), writes the first message (the welcome)
      or "REFUSED <status>" to OUT, subscribes to sb.leads, then appends
      what it receives, one a line, and at the end "CLOSED <code> <reason>".
      Runs until the server closes.
"""
import asyncio
import sys

import websockets


def out_line(path, text):
    with open(path, "a") as f:
        f.write(text.replace("\n", " ") + "\n")


async def main(url, out, headers):
    hdrs = [tuple(h.split(": ", 1)) for h in headers]
    try:
        ws = await websockets.connect(url, extra_headers=hdrs, ping_interval=None)
    except websockets.exceptions.InvalidStatusCode as e:
        out_line(out, "REFUSED %d" % e.status_code)
        return
    try:
        out_line(out, await ws.recv())
        await ws.send('{"subscribe":{"topics":["sb.leads"]}}')
        async for m in ws:
            out_line(out, m)
    except websockets.exceptions.ConnectionClosed:
        pass
    finally:
        await ws.close()
    out_line(out, "CLOSED %s %s" % (ws.close_code, ws.close_reason))


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
