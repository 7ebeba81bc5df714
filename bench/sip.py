"""`softphone sip` under calls from a small Python caller: answer time, first audio, barge-in.

Starts `softphone sip` in front of a canned app (a Gather with a long prompt) and places calls
from this process with a minimal SIP UAC over UDP (INVITE, ACK, RFC 4733 key, BYE) that
receives the RTP itself, so every time is taken on one clock:

- INVITE to 200 OK, and INVITE to the first RTP packet carrying sound (RMS > 0.01);
- barge-in: the key's first telephone-event packet to the first silent packet after it;
- concurrency: N calls at once (the pjsua2 wheel answers 4 per process; the 5th gets 486),
  and the largest gap between two RTP packets of a call while the prompt plays.

Run: .venv/bin/python bench/sip.py [--calls 20] [--concurrent 4]. Figures are printed, never
asserted (the machine's load moves them).
"""

import argparse
import audioop
import math
import random
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "softphone" / "tests"))

from flask import Flask  # noqa: E402
from local_server import serving_in_thread  # noqa: E402

PROMPT = "Please enter your account number, then press the pound key. " * 3


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


class Caller:
    """One call: SIP over UDP on a socket of its own, RTP on another; times on monotonic."""

    def __init__(self, server, key_after):
        self.server, self.key_after = server, key_after
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.result = {}

    def request(self, method, cseq, to_tag="", body=b"", content_type=None):
        port = self.sip.getsockname()[1]
        lines = [
            f"{method} sip:12333@{self.server[0]}:{self.server[1]} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)}",
            f"From: <sip:bench@127.0.0.1:{port}>;tag={self.tag}",
            f"To: <sip:12333@{self.server[0]}>{to_tag}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:bench@127.0.0.1:{port}>",
            "Max-Forwards: 70",
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

    def _run(self):
        self.tag, self.call_id = secrets.token_hex(4), secrets.token_hex(8) + "@bench"
        rtp_port = self.rtp.getsockname()[1]
        sdp = (
            "v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        ).encode()
        invite_at = time.monotonic()
        self.request("INVITE", 1, body=sdp, content_type="application/sdp")
        self.sip.settimeout(20)
        while True:
            data = self.sip.recv(65535).decode(errors="replace")
            status = int(data.split()[1]) if data.startswith("SIP/2.0") else 0
            if status >= 200:
                break
        self.result["status"] = status
        if status != 200:
            self.request("ACK", 1)
            return
        self.result["answer_ms"] = (time.monotonic() - invite_at) * 1000
        head = data.split("\r\n\r\n")[0]
        to_tag = ";tag=" + head.split("tag=")[-1].split("\r\n")[0].split(";")[0]
        body = data.split("\r\n\r\n", 1)[1]
        media_port = int(body.split("m=audio ")[1].split()[0])
        self.request("ACK", 1, to_tag)
        target = ("127.0.0.1", media_port)
        self.rtp.settimeout(0.5)
        first_sound = key_sent = silent_after_key = None
        last = None
        gaps = []
        end = time.monotonic() + self.key_after + 2
        seq, ts, ssrc = random.randrange(60000), 0, random.getrandbits(32)
        while time.monotonic() < end:
            try:
                packet = self.rtp.recv(2048)
            except TimeoutError:
                continue
            now = time.monotonic()
            if last is not None and first_sound is not None and key_sent is None:
                gaps.append((now - last) * 1000)
            last = now
            payload = packet[12:]
            if packet[1] & 0x7F != 0:
                continue
            rms = audioop.rms(audioop.ulaw2lin(payload, 2), 2) / 32768
            if first_sound is None and rms > 0.01:
                first_sound = now
                self.result["first_audio_ms"] = (now - invite_at) * 1000
            if first_sound is not None and key_sent is None and now - first_sound >= self.key_after:
                key_sent = time.monotonic()
                for n in range(3):  # an RFC 4733 event for key 1: start, then updates
                    flags = 0x80 if n == 2 else 0
                    event = struct.pack("!BBH", 1, flags | 10, 160 * (n + 1))
                    header = struct.pack(
                        "!BBHII", 0x80, (0x80 if n == 0 else 0) | 101, seq, ts, ssrc
                    )
                    self.rtp.sendto(header + event, target)
                    seq += 1
            elif key_sent is not None and silent_after_key is None and rms <= 0.01:
                silent_after_key = now
                self.result["barge_in_ms"] = (now - key_sent) * 1000
        self.result["max_gap_ms"] = max(gaps) if gaps else math.nan
        self.request("BYE", 2, to_tag)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(math.ceil(p / 100 * len(values))) - 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--key-after", type=float, default=1.5, help="seconds into the prompt")
    args = parser.parse_args()
    with serving_in_thread(app()) as base:
        port = 5600 + random.randrange(300)
        front = subprocess.Popen(
            [sys.executable, "-m", "softphone", "sip", f"{base}/voice", "-q", "--no-tcp",
             "--listen", f"127.0.0.1:{port}", "--rtp-port", str(42000 + random.randrange(0, 8000, 20)),
             "--max-calls", "4"],
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert b"listening" in front.stderr.readline()
            Caller(("127.0.0.1", port), args.key_after).run()  # a warm cache: the prompt rendered
            results = []
            for start in range(0, args.calls, args.concurrent):
                callers = [
                    Caller(("127.0.0.1", port), args.key_after)
                    for _ in range(min(args.concurrent, args.calls - start))
                ]
                threads = [threading.Thread(target=c.run) for c in callers]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                results += [c.result for c in callers]
                time.sleep(0.5)  # the front hangs up the last ones
        finally:
            front.terminate()
            front.wait(10)
    answered = [r for r in results if r.get("status") == 200]
    print(f"calls: {len(results)}, {args.concurrent} at once; answered {len(answered)}; "
          f"not answered: {sorted({str(r.get('status') or r.get('error')) for r in results} - {'200'})}")  # fmt: skip
    for name in ("answer_ms", "first_audio_ms", "barge_in_ms", "max_gap_ms"):
        values = [r[name] for r in answered if name in r and not math.isnan(r[name])]
        if values:
            print(
                f"{name:15} n={len(values):3} median {statistics.median(values):7.1f}  "
                f"p90 {percentile(values, 90):7.1f}  p99 {percentile(values, 99):7.1f}  "
                f"max {max(values):7.1f}"
            )


if __name__ == "__main__":
    main()
