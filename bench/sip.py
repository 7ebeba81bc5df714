"""`softphone sip` under calls from a small Python caller: answer time, first audio, barge-in,
and how many calls at once keep their audio on time.

Starts `--instances` processes of `softphone sip` in front of a canned app (a Gather with a
long prompt), behind Kamailio's dispatcher (docs/kamailio-dispatcher.cfg) when there is more
than one, and places calls from this process with a minimal SIP UAC over UDP (INVITE, ACK,
RFC 4733 key, BYE; it follows the proxy's Record-Route) that receives the RTP itself. Every
packet is stamped by the kernel as it arrives (SO_TIMESTAMPNS), so this process's own load
does not show as the front's lateness:

- INVITE to 200 OK, and INVITE to the first RTP packet carrying sound (RMS > 0.01);
- barge-in: the key's first telephone-event packet to the first silent packet after it;
- the largest gap between two RTP packets of a call while its prompt plays, with every call
  up at once (the keys are sent only after the last call has heard its first audio);
- memory: the fronts' resident size with every call up, less idle, per call; and their CPU.

The pjsua2 wheel answers 4 calls per process (a 5th gets 486), so 100 calls at once take
25 instances: `.venv/bin/python bench/sip.py --instances 25 --calls 100 --concurrent 100`.
Run: .venv/bin/python bench/sip.py [--calls 20] [--concurrent 4] [--instances 1]. Figures
are printed, never asserted (the machine's load moves them).
"""

import argparse
import audioop
import contextlib
import logging
import math
import os
import random
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "softphone" / "tests"))

from flask import Flask  # noqa: E402
from local_server import serving_in_thread  # noqa: E402
from test_sip import running_kamailio  # noqa: E402

PROMPT = "Please enter your account number, then press the pound key. " * 8
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux
PER_INSTANCE_RTP = 20  # RTP ports set aside per instance, below the ephemeral ports (32768-)


def app():
    flask = Flask(__name__)

    @flask.post("/voice")
    def voice():
        return (
            f'<Response><Gather action="/done" timeout="2"><Say>{PROMPT}</Say></Gather></Response>',
            200,
            {"Content-Type": "text/xml"},
        )

    @flask.post("/done")
    def done():
        return "<Response><Hangup/></Response>", 200, {"Content-Type": "text/xml"}

    return flask


def header(message, name):
    """The values of header `name` in a SIP message's head, in order."""
    head = message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    found = []
    for line in head:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            found.append(value.strip())
    return found


def uri_of(value):
    """The URI of a name-addr (`"x" <sip:a@b>;tag=1` -> `sip:a@b`)."""
    return value.split("<", 1)[1].split(">", 1)[0] if "<" in value else value.split(";")[0]


class Caller:
    """One call: SIP over UDP on a socket of its own, RTP on another; times on the wall clock,
    received packets stamped by the kernel."""

    def __init__(self, server, key_at):
        self.server, self.key_at = server, key_at
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.result = {}
        self.sounding = threading.Event()  # set once the first audio is heard (or never will be)
        self.uri, self.routes, self.to_tag = f"sip:12333@{server[0]}:{server[1]}", [], ""

    def request(self, method, cseq, body=b"", content_type=None):
        port = self.sip.getsockname()[1]
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
            f"From: <sip:bench@127.0.0.1:{port}>;tag={self.tag}",
            f"To: <sip:12333@{self.server[0]}>{self.to_tag}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:bench@127.0.0.1:{port}>",
            "Max-Forwards: 70",
            *(f"Route: {route}" for route in self.routes),
        ]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        self.sip.sendto(("\r\n".join(lines) + "\r\n\r\n").encode() + body, self.server)

    def run(self):
        try:
            self._run()
        except Exception as error:  # noqa: BLE001 - one failed call is a figure too
            self.result["error"] = f"{type(error).__name__}: {error}"
        finally:
            self.sounding.set()

    def receive(self):
        """The next RTP packet and the kernel's time of its arrival (None after 0.5 s)."""
        try:
            packet, ancillary, _, _ = self.rtp.recvmsg(2048, socket.CMSG_SPACE(16))
        except TimeoutError:
            return None, None
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", data[:16])
                return packet, seconds + nanoseconds / 1e9
        return packet, time.time()

    def _run(self):
        self.tag, self.call_id = secrets.token_hex(4), secrets.token_hex(8) + "@bench"
        rtp_port = self.rtp.getsockname()[1]
        sdp = (
            "v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        ).encode()
        invite_at = time.time()
        self.request("INVITE", 1, body=sdp, content_type="application/sdp")
        self.sip.settimeout(20)
        while True:
            data = self.sip.recv(65535).decode(errors="replace")
            status = int(data.split()[1]) if data.startswith("SIP/2.0") else 0
            if status >= 200:
                break
        self.result["status"] = status
        self.to_tag = ";tag=" + header(data, "To")[0].split(";tag=")[1].split(";")[0]
        if status != 200:
            self.request("ACK", 1)
            return
        self.result["answered"] = time.time()
        self.result["answer_ms"] = (self.result["answered"] - invite_at) * 1000
        self.routes = list(reversed(header(data, "Record-Route")))  # as a UAC keeps them
        self.uri = uri_of(header(data, "Contact")[0])
        media_port = int(data.split("\r\n\r\n", 1)[1].split("m=audio ")[1].split()[0])
        self.request("ACK", 1)
        target = ("127.0.0.1", media_port)
        self.rtp.settimeout(0.5)
        first_sound = key_sent = None
        last = None
        gaps = []
        seq, ts, ssrc = random.randrange(60000), 0, random.getrandbits(32)
        while True:
            packet, now = self.receive()
            if packet is None:
                if first_sound is None and time.time() - invite_at > 20:
                    break  # never heard: the call is a figure without audio
                if key_sent is None:
                    continue
                break
            if last is not None and first_sound is not None and key_sent is None:
                gaps.append((now - last) * 1000)
            last = now
            if packet[1] & 0x7F != 0:
                continue
            rms = audioop.rms(audioop.ulaw2lin(packet[12:], 2), 2) / 32768
            if first_sound is None and rms > 0.01:
                first_sound = now
                self.result["first_audio_ms"] = (now - invite_at) * 1000
                self.sounding.set()
            if first_sound is not None and key_sent is None and time.time() >= self.key_at():
                key_sent = time.time()
                for n in range(3):  # an RFC 4733 event for key 1: start, then updates
                    flags = 0x80 if n == 2 else 0
                    event = struct.pack("!BBH", 1, flags | 10, 160 * (n + 1))
                    header_ = struct.pack(
                        "!BBHII", 0x80, (0x80 if n == 0 else 0) | 101, seq, ts, ssrc
                    )
                    self.rtp.sendto(header_ + event, target)
                    seq += 1
            elif key_sent is not None and rms <= 0.01 and now > key_sent:
                self.result["barge_in_ms"] = (now - key_sent) * 1000
                break
        self.result["max_gap_ms"] = max(gaps) if gaps else math.nan
        self.result["packets"] = len(gaps)
        self.request("BYE", 2)
        self.result["ended"] = time.time()


class Fronts:
    """`instances` processes of `softphone sip`, each on its own SIP port and RTP range."""

    def __init__(self, url, instances, max_calls, folder):
        first = 5600 + random.randrange(0, 300 - instances)
        rtp = 10000 + random.randrange(0, 20000 - PER_INSTANCE_RTP * instances, PER_INSTANCE_RTP)
        self.ports = [first + n for n in range(instances)]
        self.processes = []
        self.cpu_at_start = 0.0
        for n, port in enumerate(self.ports):
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "softphone",
                        "sip",
                        url,
                        "-q",
                        "--no-tcp",
                        "--listen",
                        f"127.0.0.1:{port}",
                        "--rtp-port",
                        str(rtp + PER_INSTANCE_RTP * n),
                        "--max-calls",
                        str(max_calls),
                        "--audio-cache",
                        str(folder / "audio"),
                    ],
                    stderr=subprocess.PIPE,
                )  # fmt: skip
            )
        for process in self.processes:
            line = process.stderr.readline()
            assert b"listening" in line, line

    def rss_mb(self):
        return sum(status(p.pid, "VmRSS:") / 1024 for p in self.processes)

    def cpu_seconds(self):
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                print(f"an instance did not stop within 15 s: killed (pid {process.pid})")
                process.kill()
                process.wait()


def status(pid, name):
    """A number (kB) from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(math.ceil(p / 100 * len(values))) - 1)]


def most_at_once(results):
    """The most calls that were up (answered, not yet hung up) at one moment."""
    edges = sorted(
        [(r["answered"], 1) for r in results if "ended" in r]
        + [(r["ended"], -1) for r in results if "ended" in r]
    )
    up = best = 0
    for _, step in edges:
        up += step
        best = max(best, up)
    return best


def run_batch(server, size, rate, hold, fronts, samples):
    """`size` calls started `rate` a second; each keys `hold` s after every call has sound."""
    keys_at = [math.inf]
    callers = [Caller(server, lambda: keys_at[0]) for _ in range(size)]
    threads = [threading.Thread(target=c.run) for c in callers]
    for thread in threads:
        thread.start()
        time.sleep(1 / rate)
    for caller in callers:
        caller.sounding.wait(30)
    samples.append(fronts.rss_mb())
    keys_at[0] = time.time() + hold  # every call is up and playing: key them all
    for thread in threads:
        thread.join()
    return [c.result for c in callers]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--instances", type=int, default=1, help="softphone sip processes")
    parser.add_argument("--max-calls", type=int, default=4, help="each instance's --max-calls")
    parser.add_argument("--rate", type=float, default=20, help="new calls a second")
    parser.add_argument(
        "--hold", type=float, default=2, help="seconds all calls play at once before their keys"
    )
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per webhook
    with (
        tempfile.TemporaryDirectory() as folder,
        serving_in_thread(app()) as base,
    ):
        folder = Path(folder)
        fronts = Fronts(f"{base}/voice", args.instances, args.max_calls, folder)
        try:
            with contextlib.ExitStack() as stack:
                server = ("127.0.0.1", fronts.ports[0])
                if args.instances > 1:
                    (folder / "kamailio").mkdir()
                    proxy = fronts.ports[-1] + 1
                    stack.enter_context(running_kamailio(proxy, fronts.ports, folder / "kamailio"))
                    server = ("127.0.0.1", proxy)
                warm = Caller(server, lambda: 0)  # renders the prompt once: a warm cache
                warm.run()
                time.sleep(1)
                idle_mb, cpu_before, started = fronts.rss_mb(), fronts.cpu_seconds(), time.time()
                results, peaks = [], []
                for start in range(0, args.calls, args.concurrent):
                    size = min(args.concurrent, args.calls - start)
                    results += run_batch(server, size, args.rate, args.hold, fronts, peaks)
                    time.sleep(1)  # the front hangs up the last ones
                cpu, took = fronts.cpu_seconds() - cpu_before, time.time() - started
        finally:
            fronts.stop()
    answered = [r for r in results if r.get("status") == 200]
    refused = sorted({str(r.get("status") or r.get("error")) for r in results} - {"200"})
    print(
        f"calls: {len(results)}, {args.concurrent} at once, {args.instances} instance(s) of "
        f"{args.max_calls}; answered {len(answered)}; not answered: {refused}; "
        f"most up at once: {most_at_once(answered)}"
    )
    for name in ("answer_ms", "first_audio_ms", "barge_in_ms", "max_gap_ms"):
        values = [r[name] for r in answered if name in r and not math.isnan(r[name])]
        if values:
            print(
                f"{name:15} n={len(values):3} median {statistics.median(values):7.1f}  "
                f"p90 {percentile(values, 90):7.1f}  p99 {percentile(values, 99):7.1f}  "
                f"max {max(values):7.1f}"
            )
    late = sum(1 for r in answered if r.get("max_gap_ms", 0) > 30)
    packets = sum(r.get("packets", 0) for r in answered)
    print(f"calls with a gap over 30 ms: {late} of {len(answered)} ({packets} packets timed)")
    per_call = (max(peaks) - idle_mb) / max(1, args.concurrent)
    print(
        f"memory: {idle_mb:.0f} MB idle over {args.instances} process(es), "
        f"{max(peaks):.0f} MB with {args.concurrent} calls up: {per_call:.2f} MB a call; "
        f"CPU {cpu:.1f} s in {took:.0f} s ({100 * cpu / took:.0f} % of one core)"
    )


if __name__ == "__main__":
    main()
