#!/usr/bin/env python3
"""Captures the UDP gossip of real HashiCorp Serf agents on loopback, for the
HashiCorp codec's tests (tests/fixtures/hashicorp/). Needs root (a raw
AF_PACKET socket on lo) and /usr/bin/serf.

    sudo python3 scripts/capture-hashicorp.py OUT.bin [--encrypt KEY] [--internal]

core/testdata/hashicorp/plain.bin (and plain-streams.bin) was taken without
a key, keyed.bin (and keyed-streams.bin) with
--encrypt AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= (the bytes 0..32).

Starts three agents on 127.0.0.61-63, joins them, fires an event, runs a
query, lets one leave (with --internal instead: a query whose responses are
relayed by two members, then a fourth agent on 127.0.0.64 claiming hc0's
name, whose conflict resolution queries the others; internal.bin), and writes every UDP payload between their gossip
ports as records (u16 big-endian length, then the payload) to OUT.bin, and
each direction of every TCP connection between them (push-pull) as records
(u32 big-endian length, then the bytes) to OUT-streams.bin.
"""
import os, signal, socket, struct, subprocess, sys, tempfile, threading, time

out = sys.argv[1]
key = sys.argv[sys.argv.index("--encrypt") + 1] if "--encrypt" in sys.argv else None
internal = "--internal" in sys.argv
hosts = ["127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"]
port = 7946
payloads, stop = [], threading.Event()
# TCP: each direction of each connection, its payload bytes in arrival order
# (loopback delivers in order; retransmissions are not expected there).
streams, stream_order = {}, []

def sniff():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
    s.bind(("lo", 0))
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            frame, where = s.recvfrom(70000)
        except socket.timeout:
            continue
        # lo shows every frame twice: as sent (PACKET_OUTGOING) and as received.
        if where[2] == socket.PACKET_OUTGOING:
            continue
        ip = frame[14:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] not in (6, 17):
            continue
        ihl = (ip[0] & 15) * 4
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        if ip[9] == 6:
            sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
            total = struct.unpack("!H", ip[2:4])[0]
            data = ip[ihl + ((ip[ihl + 12] >> 4) * 4):total]
            key = (src, sport, dst, dport)
            # memberlist dials without binding, so a stream's client side
            # may be 127.0.0.1: one end on a gossip port is enough.
            ours = (src in hosts and sport == port) or (dst in hosts and dport == port)
            if ours and data:
                if key not in streams:
                    streams[key] = bytearray()
                    stream_order.append(key)
                streams[key] += data
            continue
        sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
        if src in hosts and dst in hosts and port in (sport, dport):
            payloads.append(ip[ihl + 8:ihl + ulen])

t = threading.Thread(target=sniff)
t.start()
time.sleep(0.3)
agents, dirs = [], []
def start(i, h, name):
    d = tempfile.mkdtemp()
    dirs.append(d)
    args = ["serf", "agent", f"-node={name}", f"-bind={h}:{port}", f"-rpc-addr=127.0.0.1:{7380 + i}",
            f"-tag", f"role=r{i}", f"-snapshot={d}/snap"]
    if key:
        args.append(f"-encrypt={key}")
    agents.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

for i, h in enumerate(hosts[:3]):
    start(i, h, f"hc{i}")
time.sleep(1.5)
rpc = lambda i, cmd, *a: subprocess.run(["serf", cmd, f"-rpc-addr=127.0.0.1:{7380 + i}", *a],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
rpc(1, "join", f"{hosts[0]}:{port}")
rpc(2, "join", f"{hosts[0]}:{port}")
time.sleep(3)
if internal:
    rpc(1, "query", "-timeout=2s", "-relay-factor=2", "load", "x")
    time.sleep(2)
    start(3, hosts[3], "hc0")  # a second hc0, at another address
    time.sleep(1.5)
    rpc(3, "join", f"{hosts[1]}:{port}")
    time.sleep(4)
else:
    rpc(0, "event", "deploy", "v1")
    rpc(1, "query", "-timeout=2s", "load", "x")
    time.sleep(2)
    agents[2].send_signal(signal.SIGINT)  # graceful leave
    time.sleep(4)
for a in agents:
    a.send_signal(signal.SIGINT)
for a in agents:
    try:
        a.wait(timeout=10)
    except subprocess.TimeoutExpired:
        a.kill()
stop.set()
t.join()
with open(out, "wb") as f:
    for p in payloads:
        f.write(struct.pack("!H", len(p)) + p)
print(f"{len(payloads)} datagrams, {sum(map(len, payloads))} bytes -> {out}")
# Streams: u32 big-endian length, then the bytes one direction carried.
with open(out.replace(".bin", "-streams.bin"), "wb") as f:
    for k in stream_order:
        f.write(struct.pack("!I", len(streams[k])) + bytes(streams[k]))
print(f"{len(stream_order)} stream directions -> {out.replace('.bin', '-streams.bin')}")
