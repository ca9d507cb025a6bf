#!/usr/bin/env python3
"""A bus of OSDP readers for tests and bench trials: libosdp's own PD (its Python binding,
libosdp==3.2.9) behind one pseudo-terminal, as several readers share one RS-485 pair.

    reader_peer.py --reader 1:KEY [--reader 2:KEY:install] [--reader 3::nosc]

KEY is 32 hex digits, the reader's Secure Channel key; "install" makes the reader accept the
default key SCBK-D until a key is set; "nosc" is a reader without Secure Channel. The
first line printed is {"pty": PATH}: point Warden's `osdp: {port: PATH}` at it. Then each
line is an event (JSON): a command the reader received ("command"), a Secure Channel
challenge seen on the line ("challenge", with the CP's random number), a new key
("keyset"). Lines on stdin steer it:

    {"op": "card", "address": 1, "bits": "0110..."}     a card read (raw Wiegand bits)
    {"op": "keys", "address": 1, "keys": "1234#"}        keypad input
    {"op": "status", "address": 1, "tamper": 1, "power": 0}
    {"op": "unplug", "address": 1}                        the reader stops answering
    {"op": "replug", "address": 1}                        ... and comes back, rebooted
    {"op": "noise", "bytes": 300}                         garbage on the line
    {"op": "quit"}
"""
import argparse
import json
import os
import sys
import threading
import time
import tty

import osdp

out_lock = threading.Lock()


def say(**fields):
    with out_lock:
        sys.stdout.write(json.dumps(fields, default=lambda b: b.hex() if isinstance(b, (bytes, bytearray)) else str(b)) + "\n")
        sys.stdout.flush()


class Line:
    """The bus: every reader hears every byte the CP sends; writes go out one at a time."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo or line discipline before Warden opens it
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        self.write_lock = threading.Lock()
        self.taps = []
        self.seen = bytearray()
        threading.Thread(target=self.pump, daemon=True).start()

    def pump(self):
        while True:
            try:
                data = os.read(self.master, 512)
            except OSError:
                time.sleep(0.01)
                continue
            for tap in list(self.taps):
                tap.feed(data)
            self.watch(data)

    def watch(self, data):
        """Reports each osdp_CHLNG's random number RND.A (8 bytes, sent in clear)."""
        self.seen += data
        while True:
            start = self.seen.find(b"\x53")
            if start < 0:
                self.seen.clear()
                return
            del self.seen[:start]
            if len(self.seen) < 5:
                return
            length = self.seen[2] | (self.seen[3] << 8)
            if length < 6 or length > 1024:
                del self.seen[:1]
                continue
            if len(self.seen) < length:
                return
            frame = bytes(self.seen[:length])
            del self.seen[:length]
            ctrl = frame[4]
            if ctrl & 0x08 and len(frame) > 7:
                sb_len, sb_type = frame[5], frame[6]
                at = 5 + sb_len
                if sb_type == 0x11 and len(frame) > at + 8 and frame[at] == 0x76:
                    say(event="challenge", address=frame[1] & 0x7F, rnd=frame[at + 1:at + 9])

    def write(self, data):
        with self.write_lock:
            return os.write(self.master, data)


class Tap(osdp.Channel):
    """One reader's view of the line."""

    def __init__(self, line):
        super().__init__()
        self.line = line
        self.buffer = bytearray()
        self.lock = threading.Lock()
        self.muted = False
        line.taps.append(self)

    def feed(self, data):
        with self.lock:
            if not self.muted:
                self.buffer += data

    def read(self, max_bytes):
        with self.lock:
            data = bytes(self.buffer[:max_bytes])
            del self.buffer[:max_bytes]
            return data

    def write(self, buf):
        if self.muted:
            return len(buf)
        return self.line.write(bytes(buf))

    def flush(self):
        with self.lock:
            self.buffer.clear()


class Reader:
    def __init__(self, line, address, key, mode):
        self.line, self.address, self.key, self.mode = line, address, key, mode
        self.pd = None
        self.tap = None
        self.plug()

    def plug(self):
        self.tap = Tap(self.line)
        flags = [osdp.LibFlag.InstallMode] if self.mode == "install" else []
        caps = [
            (osdp.Capability.OutputControl, 1, 1),
            (osdp.Capability.LEDControl, 1, 1),
            (osdp.Capability.AudibleControl, 1, 1),
            (osdp.Capability.CardDataFormat, 1, 1),
            (osdp.Capability.Readers, 1, 1),
        ]
        if self.mode != "nosc":
            caps.append((osdp.Capability.CommunicationSecurity, 1, 1))
        info = osdp.PDInfo(self.address, self.tap, scbk=self.key if self.mode != "nosc" else None, flags=flags,
                           id=osdp.PdId(1, 7, 0x00A1B2, 0x1000 + self.address, 0x030209))
        self.pd = osdp.PeripheralDevice(info, osdp.PDCapabilities(caps), log_level=osdp.LogLevel.Debug if os.environ.get("OSDP_PEER_LOG") == "debug" else osdp.LogLevel.Error,
                                        command_handler=self.on_command)
        self.pd.start()

    def on_command(self, cmd):
        say(event="command", address=self.address, command=cmd)
        if cmd.get("command") == osdp.Command.Keyset:
            say(event="keyset", address=self.address, key=cmd.get("data"))
            # A real reader keeps its key through a power cut: so does this one's replug.
            self.key, self.mode = bytes(cmd.get("data")), "secure"
        return 0, None

    def unplug(self):
        self.tap.muted = True
        self.pd.stop()
        self.line.taps.remove(self.tap)

    def replug(self):
        self.plug()

    def submit(self, event):
        self.pd.submit_event(event)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reader", action="append", required=True, help="ADDRESS:KEYHEX[:install|:nosc]")
    ap.add_argument("--control", help="read the steering lines from this file (a FIFO) instead of stdin")
    args = ap.parse_args()
    line = Line()
    readers = {}
    for spec in args.reader:
        parts = spec.split(":")
        address = int(parts[0])
        key = bytes.fromhex(parts[1]) if len(parts) > 1 and parts[1] else None
        mode = parts[2] if len(parts) > 2 else "secure"
        readers[address] = Reader(line, address, key, mode)
    say(pty=line.path)
    control = open(args.control, "r") if args.control else sys.stdin
    for raw in control:
        raw = raw.strip()
        if not raw:
            continue
        try:
            op = json.loads(raw)
            kind = op["op"]
            if kind == "quit":
                break
            if kind == "noise":
                line.write(os.urandom(int(op.get("bytes", 100))))
                say(event="done", op=kind)
                continue
            r = readers[int(op["address"])]
            if kind == "card":
                bits = op["bits"]
                data = (int(bits, 2) << ((8 - len(bits) % 8) % 8)).to_bytes((len(bits) + 7) // 8, "big")
                r.submit({"event": osdp.Event.CardRead, "reader_no": 0, "format": osdp.CardFormat.Wiegand,
                          "direction": 0, "length": len(bits), "data": data})
            elif kind == "keys":
                r.submit({"event": osdp.Event.KeyPress, "reader_no": 0, "data": op["keys"].encode()})
            elif kind == "status":
                r.submit({"event": osdp.Event.Status, "type": osdp.StatusReportType.Local,
                          "report": bytes([int(op.get("tamper", 0)), int(op.get("power", 0))])})
            elif kind == "unplug":
                r.unplug()
            elif kind == "replug":
                r.replug()
            say(event="done", op=kind)
        except Exception as e:  # a test's typo must say so, not hang it
            say(event="error", error=str(e), line=raw)
    for r in readers.values():
        try:
            r.pd.stop()
        except Exception:
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
