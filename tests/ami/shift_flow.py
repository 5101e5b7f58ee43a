#!/usr/bin/python3
"""Moves AMI flows (tests/ami/map/*.ami) in time, for tests that want their
calls to have happened just now (analytics buckets a call by its PBX times):
  shift_flow.py AGO OUTDIR FLOW...
The first flow's first Newchannel is put AGO seconds before now and every
flow moved by the same amount: Timestamp, LoginTime and LastCall values,
and the creation time in Uniqueid, Linkedid, DestUniqueid and DestLinkedid
(Asterisk's ids are a channel's creation time and a count). Writes
OUTDIR/<name>.ami for each FLOW and OUTDIR/<name>.call, the call's id as
the connector names it for PBX eu1 (eu1:<Linkedid of its first channel>)."""
import os, re, sys, time

ago, out, paths = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
texts = [open(p).read() for p in paths]
first = float(re.search(r"^Event: Newchannel\n(?:.*\n)*?Timestamp: ([0-9.]+)$",
                        texts[0], re.M).group(1))
shift = int(time.time() - ago - first)


def move(m):
    v = m.group(2)
    if float(v) == 0:
        return m.group(0)
    if "." in v:
        return "%s: %.6f" % (m.group(1), float(v) + shift)
    return "%s: %d" % (m.group(1), int(v) + shift)


def move_id(m):
    t, _, n = m.group(2).partition(".")
    return "%s: %d.%s" % (m.group(1), int(t) + shift, n)


for path, x in zip(paths, texts):
    name = os.path.splitext(os.path.basename(path))[0]
    x = re.sub(r"^(Timestamp|LoginTime|LastCall): ([0-9.]+)$", move, x, flags=re.M)
    x = re.sub(r"^((?:Dest)?(?:Uniqueid|Linkedid)): ([0-9]+\.[0-9]+)$", move_id, x,
               flags=re.M)
    open(os.path.join(out, name + ".ami"), "w").write(x)
    call = re.search(r"^Linkedid: (.*)$", x, re.M)
    if call:
        open(os.path.join(out, name + ".call"), "w").write("eu1:" + call.group(1) + "\n")
