"""`softphone sip`: answer real SIP calls and run the TwiML app for each, in real time.

The same engine (`interpreter.Call`) computes what the caller hears; this module is only its
real-time driver. It plays each stretch of the engine's say/play/pause events (rendered by
`media`), gathers the caller's RFC 4733 or SIP INFO keys, and hands them to the engine as
`Keys(keys=..., at=<seconds since the prompts began>)`, so barge-in, finishOnKey, numDigits
and the timeouts follow the engine's Twilio rules, with the Gather timeout measured in real
time after the prompts. The engine learns the real length of every prompt (`say_seconds`,
`measure`), so its timeline is the caller's.

Threads (research/sip-spike.md, pitfalls): one PJSUA thread owns the library. It polls
`libHandleEvents`, receives every callback (`mainThreadOnly`), and runs every pjsua call
the others need, sent through one command queue. Each call has a Python worker thread that
runs the engine: webhooks, speech and files happen there, never on the library's threads.
The only thing a callback does itself is the barge-in: a key stops the prompt's player at
once. pjsua2 objects are kept referenced until DISCONNECTED and dropped on the PJSUA thread
outside their own callbacks; on any exit every call is hung up before the library goes.

Requests are mapped as Twilio's SIP Domains map them: the Request-URI's user is `To`, the
From user `From`, a new CallSid per call (kept with the SIP Call-ID), and `SipCallId`,
`SipSourceIp` and each `X-` header as `SipHeader_X-...`.
"""

import argparse
import array
import concurrent.futures
import contextlib
import http.server
import math
import os
import queue
import re
import signal
import sys
import threading
import time
import wave
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

from softphone import recording
from softphone import settings
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.interpreter import Reply
from softphone.media import Media
from softphone.recording import directory as recording_directory
from softphone.transcript import describe

DEFAULT_LISTEN = "127.0.0.1:5060"
RTP_PORT = 40000  # the first RTP port; a call takes two
POLL_MS = 10  # libHandleEvents' wait: the longest a command waits for the PJSUA thread
MEDIA_WAIT = 5.0  # seconds a call waits for its audio to flow after the 200 OK
PLAYOUT = 0.3  # seconds between the last audio and the BYE: the phone's jitter buffer plays out
STOP_WAIT = 3.0  # seconds the front waits for its calls to end when it stops
STRETCH_SECONDS = 60.0  # the longest run of audio joined into one file outside a Gather
ENDED = ("completed", "busy", "no-answer", "failed", "canceled")
AUDIBLE = ("say", "play", "pause", "hold")  # the events the caller hears
LEVEL_POLL = 0.1  # seconds between two reads of the caller's audio during <Record>
# A 20 ms frame whose RMS (of 32768), once what lies below 200 Hz is filtered out, is above
# this is the caller talking: -46.8 dBFS. Measured with espeak-ng speech (English and
# Mandarin) and line noise through G.711 (test_sip_record_speech.py; figures in Loudness):
# line noise at -50 dBFS reads at most 123 (white) and 84 (pink), a quiet talker peaking at
# -30 dBFS 133-141 at the median and 250-258 at p90. The old 300 (-40.8 dBFS, unfiltered)
# heard 0-4% of that talker's frames: over a real call the quiet Mandarin message was taken
# for silence and dropped, and a louder English one lost its final "s" (0.2 s).
LOUD_RMS = 150
HOLD_LIMIT = 3600.0  # seconds on hold with no agent: a real caller hangs up before
SIP_REJECT = {"busy": 486, "rejected": 603}  # <Reject reason>: the final SIP answer
RECORDING_PATH = re.compile(
    r"/2010-04-01/Accounts/AC[0-9a-f]{32}/Recordings/(RE[0-9a-f]{32})(?:\.wav)?"
)


class Unavailable(RuntimeError):
    """This machine cannot answer SIP calls (pjsua2 is not installed); says what to do."""


def pjsua2():
    try:
        import pjsua2 as pj
    except ImportError:
        raise Unavailable(
            'the SIP front needs pjsua2: pip install "softphone[sip]" (or pjsua2-python)'
        ) from None
    return pj


# the request, as Twilio's SIP Domains map it


@dataclass
class Invite:
    """What an INVITE says that the app is told: users, Call-ID, source, X- headers."""

    to: str
    caller: str
    call_id: str
    source_ip: str
    headers: dict = field(default_factory=dict)

    def params(self):
        extra = {"SipCallId": self.call_id, "SipSourceIp": self.source_ip}
        for name, value in self.headers.items():
            if name.lower().startswith("x-"):
                extra[f"SipHeader_{name}"] = value
        return extra


HEADER_ALIASES = {"f": "From", "t": "To", "i": "Call-ID"}


def user_of(uri):
    """The user part of a SIP or tel URI (`sip:12333@host` -> 12333), unescaped; '' if none."""
    found = re.search(r"(?:sips?:|tel:)([^@;>?\s]+)(?:@|;|>|$|\s)", uri or "")
    if not found or ("@" not in uri and not uri.lstrip("<").startswith("tel:")):
        return ""
    return unquote(found.group(1))


def parse_invite(message, source):
    """Read an INVITE's text (pjsua2's rdata.wholeMsg) and its source address ("ip:port")."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")
    request_line = head[0].split()
    headers, last = {}, None
    for line in head[1:]:
        if line[:1] in (" ", "\t") and last:  # a folded header goes on
            headers[last] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        name = HEADER_ALIASES.get(name.strip().lower(), name.strip())
        if name and name not in headers:
            headers[name], last = value.strip(), name
    lookup = {k.lower(): v for k, v in headers.items()}
    source_ip = source.rsplit(":", 1)[0].strip("[]") if source else ""
    return Invite(
        to=user_of(request_line[1] if len(request_line) > 1 else ""),
        caller=user_of(lookup.get("from", "")),
        call_id=lookup.get("call-id", ""),
        source_ip=source_ip,
        headers=headers,
    )


# the PJSUA thread


class Front:
    """A SIP address in front of a TwiML app: answers calls and drives the engine for each.

    Args:
        target: where webhooks go (softphone.target.Target: its fetch, URL and hooks).
        number: the number's settings (softphone.settings.Number); `to`/`caller` are the
            defaults for an INVITE whose users are empty.
        host, port: where SIP listens (UDP, and TCP with `tcp`).
        public_address: the address put in SDP and Contact (default: the bound one).
        rtp_port: the first RTP port.
        max_calls: calls at once (the PyPI wheel caps it at 4; more get 486).
        audio: the folder of the rendered prompts (default: a temporary one).
        recordings: the folder of <Record>'s WAV files (default: a temporary one), served
            over HTTP on `recordings_port` (0: any free one) as each RecordingUrl.
        out: where the transcript lines go (None: nowhere).
    """

    def __init__(
        self,
        target,
        number=None,
        host="127.0.0.1",
        port=5060,
        *,
        tcp=True,
        public_address=None,
        rtp_port=RTP_PORT,
        max_calls=4,
        audio=None,
        recordings=None,
        recordings_port=0,
        out=sys.stdout,
    ):
        self.pj = pjsua2()
        self.target, self.number = target, number or settings.Number()
        self.host, self.port, self.tcp = host, port, tcp
        self.public_address, self.rtp_port, self.max_calls = public_address, rtp_port, max_calls
        self.media = Media(target.fetch, target.hooks.speak, audio)
        self.recordings = recording_directory(recordings)
        self.recordings_port = recordings_port
        self.recordings_url = None  # http://host:port, once its server listens
        self.recordings_server = None
        self.out = out
        self.commands = queue.Queue()
        self.sessions = {}  # SIP Call-ID -> Session, until its pjsua2 call is dropped
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.failure = None
        self.thread = None
        self.print_lock = threading.Lock()

    # life

    def start(self):
        """Start the PJSUA thread; return once SIP listens (raise what stopped it)."""
        self.serve_recordings()
        self.thread = threading.Thread(target=self._run, name="pjsua", daemon=True)
        self.thread.start()
        self.ready.wait(30)
        if self.failure is not None:
            self.recordings_server.shutdown()
            raise self.failure
        return self

    def serve_recordings(self):
        """Serve <Record>'s files over HTTP, as Twilio serves a RecordingUrl (WAV, or + .wav)."""
        folder = self.recordings
        bind = "" if self.host in ("0.0.0.0", "") else self.host

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                found = RECORDING_PATH.fullmatch(self.path.split("?", 1)[0])
                path = folder / f"{found.group(1)}.wav" if found else None
                if path is None or not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "audio/x-wav")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer((bind, self.recordings_port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="recordings", daemon=True).start()
        self.recordings_server = server
        shown = self.public_address or (self.host if bind else "127.0.0.1")
        self.recordings_url = f"http://{shown}:{server.server_address[1]}"

    def stop(self):
        """Hang up every call, wait for them to end, close the library."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(STOP_WAIT + 5)
        for session in list(self.sessions.values()):
            session.post(("bye", time.monotonic()))
        if self.recordings_server is not None:
            self.recordings_server.shutdown()
            self.recordings_server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def do(self, action, timeout=10):
        """Run `action()` on the PJSUA thread and return its result (or raise its error)."""
        if threading.current_thread() is self.thread:
            return action()
        if self.stopping.is_set() and not self.thread.is_alive():
            raise RuntimeError("the SIP front has stopped")
        future = concurrent.futures.Future()
        self.commands.put((action, future))
        return future.result(timeout)

    def say(self, line):
        if self.out is not None:
            with self.print_lock:
                print(line, file=self.out, flush=True)

    def _run(self):
        pj = self.pj
        endpoint = None
        try:
            endpoint = self.endpoint = pj.Endpoint()
            with quiet_stdout():  # pjlib's start-up lines, printed before its log is set
                endpoint.libCreate()
            config = pj.EpConfig()
            config.uaConfig.threadCnt = 0
            config.uaConfig.mainThreadOnly = True
            config.uaConfig.maxCalls = self.max_calls
            config.uaConfig.userAgent = "softphone sip"
            config.logConfig.level = 1
            config.logConfig.consoleLevel = 1
            config.medConfig.clockRate = 8000
            config.medConfig.sndClockRate = 8000
            config.medConfig.channelCount = 1
            config.medConfig.ecTailLen = 0  # no echo canceller: prompts go out as rendered
            config.medConfig.noVad = True  # silence is still sent as packets
            endpoint.libInit(config)
            endpoint.audDevManager().setNullDev()  # the software clock of the bridge
            for codec in endpoint.codecEnum2():
                endpoint.codecSetPriority(codec.codecId, 0)
            endpoint.codecSetPriority("PCMU/8000", 255)
            endpoint.codecSetPriority("PCMA/8000", 254)
            transports = [pj.PJSIP_TRANSPORT_UDP] + ([pj.PJSIP_TRANSPORT_TCP] if self.tcp else [])
            for kind in transports:
                transport = pj.TransportConfig()
                transport.port = self.port
                if self.host not in ("0.0.0.0", ""):
                    transport.boundAddress = self.host
                if self.public_address:
                    transport.publicAddress = self.public_address
                endpoint.transportCreate(kind, transport)
            endpoint.libStart()
            account_config = pj.AccountConfig()
            shown = self.public_address or self.host
            account_config.idUri = f"sip:softphone@{shown}:{self.port}"
            rtp = account_config.mediaConfig.transportConfig
            rtp.port, rtp.portRange = self.rtp_port, 2 * self.max_calls + 2
            if self.host not in ("0.0.0.0", ""):
                rtp.boundAddress = self.host
            if self.public_address:
                rtp.publicAddress = self.public_address
            self.account = _account_class(pj)(self)
            self.account.create(account_config, True)
        except Exception as error:  # noqa: BLE001 - said by start(), in the caller's thread
            self.failure = (
                error
                if isinstance(error, Unavailable)
                else RuntimeError(
                    f"SIP could not listen on {self.host}:{self.port}: {_pj_reason(error)}"
                )
            )
            self.ready.set()
            self._destroy(endpoint)
            return
        self.ready.set()
        try:
            while not self.stopping.is_set():
                endpoint.libHandleEvents(POLL_MS)
                self._drain()
        finally:
            self._close()

    def _drain(self):
        while True:
            try:
                action, future = self.commands.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(action())
            except BaseException as error:  # noqa: BLE001 - handed to the call that asked
                future.set_exception(error)

    def _close(self):
        """Hang up every call, let them reach DISCONNECTED, then destroy the library."""
        pj = self.pj
        for session in list(self.sessions.values()):
            session.stop_player()
            session.stop_recorder()
            if session.sip is not None and not session.disconnected:
                with contextlib.suppress(Exception):
                    param = pj.CallOpParam()
                    param.statusCode = 200 if session.answered else 503
                    session.sip.hangup(param)
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline and any(
            not s.disconnected for s in self.sessions.values()
        ):
            self.endpoint.libHandleEvents(POLL_MS)
            self._drain()
        self._drain()
        for session in self.sessions.values():
            session.sip = None
        self.account = None
        self._destroy(self.endpoint)

    def _destroy(self, endpoint):
        if endpoint is not None:
            with contextlib.suppress(Exception):
                endpoint.libDestroy()

    # callbacks (on the PJSUA thread)

    def incoming(self, sip_call, invite):
        session = Session(self, sip_call, invite)
        self.sessions[invite.call_id or id(sip_call)] = session
        sip_call.session = session
        param = self.pj.CallOpParam()
        param.statusCode = 180  # ringing while the first webhook is fetched
        try:
            sip_call.answer(param)
        except Exception:  # noqa: BLE001 - the caller went already; its state callback says so
            pass
        session.thread.start()

    def forget(self, session):
        """Drop a call's pjsua2 objects, on the PJSUA thread after its callbacks returned."""

        def drop():
            session.stop_player()
            session.stop_recorder()
            session.sip = None
            for key, value in list(self.sessions.items()):
                if value is session:
                    del self.sessions[key]

        self.commands.put((drop, concurrent.futures.Future()))


def _pj_reason(error):
    return getattr(error, "info", lambda: str(error))() if hasattr(error, "info") else str(error)


_CLASSES = {}


def _account_class(pj):
    """pjsua2's Account and Call subclasses, made once pjsua2 is imported."""
    if "account" in _CLASSES:
        return _CLASSES["account"]

    class SipCall(pj.Call):
        session = None
        audio = None

        def onCallState(self, prm):
            info = self.getInfo()
            session = self.session
            if session is None:
                return
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                session.confirmed = True  # the ACK came: the caller's side listens
                session.post(("confirmed", time.monotonic()))
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                session.disconnected = True
                session.post(("bye", time.monotonic()))
                session.front.forget(session)

        def onCallMediaState(self, prm):
            info = self.getInfo()
            for media in info.media:
                if (
                    media.type == pj.PJMEDIA_TYPE_AUDIO
                    and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                ):
                    self.audio = self.getAudioMedia(media.index)
                    if self.session is not None:
                        self.session.post(("media", time.monotonic()))

        def onDtmfDigit(self, prm):
            now = time.monotonic()
            session = self.session
            if session is None:
                return
            if session.barge_in:  # the key cuts the prompt now, not a thread switch later
                session.stop_player()
            method = "rfc4733" if prm.method == pj.PJSUA_DTMF_METHOD_RFC2833 else "sip-info"
            session.post(("key", prm.digit, now, method))

    class Account(pj.Account):
        def __init__(self, front):
            super().__init__()
            self.front = front

        def onIncomingCall(self, prm):
            sip_call = SipCall(self, prm.callId)
            invite = parse_invite(prm.rdata.wholeMsg, prm.rdata.srcAddress)
            self.front.incoming(sip_call, invite)

    _CLASSES["account"] = Account
    return Account


# one call (its worker thread runs the engine)


class Hangup(Exception):
    """The caller hung up: the BYE came at `at` (monotonic seconds)."""

    def __init__(self, at):
        super().__init__("the caller hung up")
        self.at = at


class Session:
    """One SIP call: its pjsua2 objects (touched on the PJSUA thread only) and its worker."""

    def __init__(self, front, sip_call, invite):
        self.front, self.sip, self.invite = front, sip_call, invite
        self.inbox = queue.Queue()
        self.player = None  # the AudioMediaPlayer playing now
        self.recorder = None  # the AudioMediaRecorder keeping the caller's audio (<Record>)
        self.captured = None  # (rate, frames) of the caller's audio in the last <Record>
        self.capture_from = 0.0  # seconds into it where the kept recording starts
        self.barge_in = False  # a key stops the player (a Gather's prompts are playing)
        self.disconnected = False
        self.confirmed = False
        self.answered = False
        self.answered_at = None
        self.hung_up = False
        self.deferred = []  # the status callback, sent when the call really ends
        self.call = None
        self.shown = 0  # the engine's events up to this mark are shown and played
        self.heard_prompts = None  # (first event, mark): a Gather's prompts, shown once heard
        self.thread = threading.Thread(target=self.run, name="sip-call", daemon=True)

    def post(self, message):
        self.inbox.put(message)

    # on the PJSUA thread

    def stop_player(self):
        player, self.player, self.barge_in = self.player, None, False
        audio = getattr(self.sip, "audio", None) if self.sip is not None else None
        if player is not None and audio is not None:
            with contextlib.suppress(Exception):
                player.stopTransmit(audio)

    def stop_recorder(self):
        """Stop keeping the caller's audio; dropping the recorder closes its WAV file."""
        recorder, self.recorder = self.recorder, None
        audio = getattr(self.sip, "audio", None) if self.sip is not None else None
        if recorder is not None and audio is not None:
            with contextlib.suppress(Exception):
                audio.stopTransmit(recorder)
        del recorder  # PJSIP closes the file on the bridge's next tick (its removal is queued)

    # commands from the worker

    def start_recorder(self, path):
        pj = self.front.pj

        def start():
            self.stop_recorder()
            if self.sip is None or self.sip.audio is None:
                return False
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(path)
            self.sip.audio.startTransmit(recorder)
            self.recorder = recorder
            return True

        return self.front.do(start)

    def start_player(self, path, barge_in):
        pj = self.front.pj

        def start():
            self.stop_player()
            if self.sip is None or self.sip.audio is None:
                return False
            player = pj.AudioMediaPlayer()
            player.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(self.sip.audio)
            self.player, self.barge_in = player, bool(barge_in)
            return True

        return self.front.do(start)

    def hang_up(self, code=200):
        pj = self.front.pj

        if self.hung_up:
            return
        self.hung_up = True

        def hangup():
            self.stop_player()
            if self.sip is not None and not self.disconnected:
                param = pj.CallOpParam()
                param.statusCode = code
                self.sip.hangup(param)

        with contextlib.suppress(Exception):
            self.front.do(hangup)

    def answer(self):
        pj = self.front.pj

        def answer():
            if self.sip is None or self.disconnected:
                return False
            param = pj.CallOpParam()
            param.statusCode = 200
            self.sip.answer(param)
            return True

        return self.front.do(answer)

    # the worker

    def run(self):
        try:
            self.drive()
        except Hangup:
            pass
        except Exception as error:  # noqa: BLE001 - one bad call never takes the front down
            self.front.say(f"{self.label()} failed: {type(error).__name__}: {error}")
            self.hang_up(200 if self.answered else 500)
        finally:
            self.finish()

    def label(self):
        sid = self.call.call_sid if self.call is not None else "CA?"
        return f"[{sid[-6:]}]"

    def fetch(self, method, url, params):
        """The target's fetch, but the status callback waits for the real end of the call."""
        number = self.front.number
        if url == number.status_callback and params.get("CallStatus") in ENDED:
            self.deferred.append((method, url, dict(params)))
            return Reply(200, "text/xml", b"<Response/>", url)
        return self.front.target.fetch(method, url, params)

    def make_call(self):
        number, invite, media = self.front.number, self.invite, self.front.media
        options = number.call_options()
        options["to"] = invite.to or number.to
        options["caller"] = invite.caller or options["caller"]
        return Call(
            self.front.target.url,
            self.fetch,
            measure=lambda url: media.play(url)[1],
            say_seconds=lambda text, voice, language: media.say(text, voice, language)[1],
            before_request=self.catch_up,
            record_file=self.keep_recording,
            recordings=self.front.recordings,
            recordings_url=self.front.recordings_url,
            hold_patience=HOLD_LIMIT,
            extra_params=invite.params(),
            **options,
        )

    def drive(self):
        call = self.call = self.make_call()
        front = self.front
        front.say(
            f"{self.label()} {call.call_sid} from {self.invite.caller or '?'} to "
            f"{self.invite.to or '?'} (Call-ID {self.invite.call_id}, {self.invite.source_ip})"
        )
        self.shown = call.mark()
        call.start()
        self.check_bye()
        heard = self.answered or call.answered() or any(e.kind in AUDIBLE for e in call.events)
        if call.ended and not heard:  # <Reject>, or an error before any audio
            reject = next((e for e in call.events if e.kind == "reject"), None)
            reason = reject.data.get("reason", "rejected") if reject else "rejected"
            self.show(call.since(self.shown))
            self.hang_up(SIP_REJECT.get(reason, 603))
            return
        while True:
            self.catch_up()
            expects = call.expects()
            if call.ended or expects is None:
                break
            if expects["kind"] == "gather":
                first, last = call.prompts_span
                keys = self.gather(call.events[first:last], expects)
            elif expects["kind"] == "record":
                keys = self.record(expects)
            else:  # <Echo>: only a hang-up ends it
                self.wait_until(math.inf)
                keys = Keys(hangup=True)
            # a Gather's prompts as heard (a key may have cut them) are shown before what
            # follows; a Record's beep, like all before an Echo, was shown as it played
            if expects["kind"] == "gather":
                self.heard_prompts = (call.prompts_span[0], call.mark())
            call.send(keys)
        self.wait_until(time.monotonic() + PLAYOUT)
        self.hang_up(200)

    def catch_up(self):
        """Show and play what the engine computed since the last catch-up, until it is heard.

        The engine calls it (`before_request`) before each webhook, so a <Redirect> or an
        action is requested once the audio before it has been heard, as Twilio requests it.
        A waiting Gather's prompts are left to `gather`, which plays them with barge-in.
        """
        call = self.call
        if self.heard_prompts is not None:
            first, before = self.heard_prompts
            self.heard_prompts = None
            heard = [e for e in call.events[first:] if e.seq < before]
            self.show([e for e in heard if e.kind in AUDIBLE])
        prompts = []
        expects = call.expects()
        if expects is not None and expects["kind"] == "gather":
            first, last = call.prompts_span
            prompts = call.events[first:last]
        new = [e for e in call.since(self.shown) if not any(e is p for p in prompts)]
        self.shown = call.mark()
        audible = [e for e in new if e.kind in AUDIBLE]
        if not audible:
            self.show(new)
        if (audible or expects is not None) and not self.answered:
            self.answer_now()
        if audible:
            self.play_shown(new)

    def play_shown(self, events):
        """Play events outside a Gather, each shown as it begins to play (an hour of hold
        music is printed a line at a time as it is heard, not at once); a minute's worth of
        audio is joined into one file at a time."""
        batch, total = [], 0.0
        for event in events:
            if total >= STRETCH_SECONDS:
                self.play(batch, barge_in=None, show=True)
                batch, total = [], 0.0
            batch.append(event)
            if event.kind in AUDIBLE:
                total += float(event.data.get("duration") or 0)
        self.play(batch, barge_in=None, show=True)

    def answer_now(self):
        """Answer (200 OK) and wait for the caller's ACK and audio stream."""
        if not self.answer():
            raise Hangup(time.monotonic())
        self.answered, self.answered_at = True, time.monotonic()
        self.wait_for_media()

    def show(self, events):
        for event in events:
            self.front.say(f"{self.label()} {describe(event)}")

    def check_bye(self):
        """Raise Hangup if the caller has gone (keys that came meanwhile are dropped)."""
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if message[0] == "bye":
                raise Hangup(message[1])

    def wait_for_media(self):
        """Wait for the caller's ACK and the audio stream: a prompt sent before them is lost."""
        deadline = time.monotonic() + MEDIA_WAIT
        while getattr(self.sip, "audio", None) is None or not self.confirmed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no audio stream was set up with the caller")
            with contextlib.suppress(queue.Empty):
                message = self.inbox.get(timeout=min(left, 0.05))
                if message[0] == "bye":
                    raise Hangup(message[1])

    def next_message(self, deadline):
        """The next message from the PJSUA thread before `deadline` (monotonic), else None."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            return self.inbox.get(timeout=min(left, 3600))
        except queue.Empty:
            return None

    def wait_until(self, deadline):
        """Wait until `deadline`; keys that come meanwhile are dropped (no Gather listens)."""
        while (message := self.next_message(deadline)) is not None:
            if message[0] == "bye":
                raise Hangup(message[1])

    def stretch(self, events):
        """Render events into one file: (path, seconds, [(event, start in the file)])."""
        parts, kept = [], []
        for event in events:
            rendered = self.front.media.event(event)
            if rendered is None:
                continue
            path, seconds = rendered
            least = float(event.data.get("duration") or 0)
            if event.data.get("cut"):
                continue  # a cut prompt was heard already, as far as the key
            parts.append((path, seconds, least))
            kept.append(event)
        if not parts:
            return None, 0.0, []
        path, seconds, starts = self.front.media.join(parts)
        return path, seconds, list(zip(kept, starts, strict=True))

    def play(self, events, barge_in, show=False):
        """Play the audible events back to back; return (when they began, their seconds).

        With `show`, every event is shown when the caller reaches it: an audible one as it
        begins, another once the audio before it has played.
        """
        path, seconds, starts = self.stretch([e for e in events if e.kind in AUDIBLE])
        if path is None:
            if show:
                self.show(events)
            return time.monotonic(), 0.0
        if not self.start_player(path, barge_in):
            raise Hangup(time.monotonic())
        began = time.monotonic()  # the player is on the bridge: its next tick sends it
        if show:
            for offset, event in shown_at(events, starts, seconds):
                self.wait_until(began + offset)
                self.show([event])
        if not barge_in:
            # It stops by itself at its end; the next stretch's player replaces it.
            self.wait_until(began + seconds)
        return began, seconds

    def gather(self, prompts, expects):
        """Play a Gather's prompts and take keys by its rules; return the engine's Keys."""
        began, seconds = self.play([e for e in prompts if e.kind in AUDIBLE], True)
        prompts_end = began + seconds
        timeout, num_digits = expects["timeout"], expects.get("num_digits")
        finish = expects.get("finish_on_key", "#")
        keys, times = "", []
        # loop="0" prompts: the engine's timeline goes on past the first pass (up to its cap)
        timeline, first_pass, _ = self.call.prompts
        rest = [item for item in timeline if item[0] >= first_pass - 1e-6]
        deadline = prompts_end + timeout
        while True:
            message = self.next_message(prompts_end if rest and not keys else deadline)
            if message is None and rest and not keys:
                rest, seconds = self.repeat_prompts(rest)
                prompts_end = time.monotonic() + seconds
                deadline = prompts_end + timeout
                continue
            if message is None:
                break
            if message[0] == "bye":
                self.front.do(self.stop_player)
                if keys:
                    return self.timed(keys, times, began)
                return Keys(hangup=True, at=message[1] - began)
            if message[0] != "key":
                continue
            _, key, moment, _method = message
            if not keys:
                self.front.do(self.stop_player)  # the callback did already; twice is harmless
                prompts_end = min(prompts_end, moment)  # the key cut them: the timer runs now
            keys, times = keys + key, [*times, moment]
            if finish and key == finish:
                break
            if num_digits and len(keys) >= num_digits:
                break
            deadline = max(moment, prompts_end) + timeout
        self.front.do(self.stop_player)
        return self.timed(keys, times, began) if keys else Keys()

    def repeat_prompts(self, rest):
        """Play the next minute of a Gather's repeated (loop="0") prompts, with barge-in, as
        the engine's timeline lays them; return (what is left, the seconds playing)."""
        batch, total = [], 0.0
        while rest and total < STRETCH_SECONDS:
            batch.append(rest.pop(0))
            total += batch[-1][1] - batch[-1][0]
        events = self.call.prompt_events(batch, math.inf)
        _, seconds = self.play([e for e in events if e.kind in AUDIBLE], True)
        return rest, seconds

    @staticmethod
    def timed(keys, times, began):
        """Keys at the moments they were pressed, from the start of the prompts (`began`)."""
        moments = tuple(max(t - began, 0.0) for t in times)
        return Keys(keys=keys, at=moments[0], times=moments)

    def record(self, expects):
        """<Record>: keep the caller's audio until a finish key, the hang-up, maxLength or
        `timeout` seconds of silence, as Twilio ends it; `keep_recording` makes the engine's
        file of it. Silence is read from the recorded samples every LEVEL_POLL s (pjsua2's
        getRxLevel reads 0 on this bridge) and counted in the recording's own time: PJSIP
        writes the file 0.25 s at a time and, on a loaded machine, over a second behind the
        wall clock (1.3 s measured), so a pause the wall clock takes for `timeout` s may not
        be one. trim="trim-silence" (the default) keeps the talk from the first loud frame to
        the last, with Loudness.MARGIN either side, however the Record ended (a key, the
        hang-up and maxLength too, once the capture is closed and read to its end);
        "do-not-trim" keeps all of it up to the end of the silence, the key or the hang-up.
        A message in which the caller was never heard is empty (talk 0), however it ended.

        PJSIP writes the capture into the recordings folder; its name is removed as soon as
        it is open, and it is read through that open file. However the Record ends (an empty
        message, a key, the hang-up, an error, the front killed), no copy of the caller's
        voice is left that no RecordingUrl points at: only what the engine keeps is written
        again, by `keep_recording`, from the audio taken here.
        """
        element = self.call.waiting
        try:
            max_length = int(element.get("maxLength", "3600")) or 3600
        except ValueError:
            max_length = 3600
        trim = element.get("trim", "trim-silence") != "do-not-trim"
        path = self.front.recordings / f"capture-{self.call.call_sid}.wav"
        self.captured, self.capture_from = None, 0.0
        capture = keys = None
        try:
            if not self.start_recorder(str(path)):
                raise Hangup(time.monotonic())
            began = time.monotonic()
            capture = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in the finally
            with contextlib.suppress(OSError):  # where an open file cannot go: removed below
                path.unlink()
            listening = Loudness(capture)
            keys = self.listen(listening, began, expects, max_length, trim)
        finally:
            with contextlib.suppress(Exception):
                self.front.do(self.stop_recorder)
            if capture is not None:
                if keys is None or keys.talk != 0:  # an empty message keeps nothing
                    self.captured = closed_wav(capture)
                if keys is not None and keys.talk is None:  # a key, the hang-up, maxLength
                    keys = self.kept(listening, keys, max_length, trim)
                    if keys.talk == 0:
                        self.captured = None
                capture.close()
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        return keys

    def listen(self, listening, began, expects, max_length, trim):
        """The caller's part of a <Record> whose capture began at `began` (monotonic), as
        the beep ended: until a finish key, the hang-up, maxLength or `timeout` s of silence;
        the engine's Keys. Its `at` or `spent` is the wall clock's, the caller's: the engine
        moves its timeline by it, not by the recording kept (trimmed, it is shorter). Ended
        by silence, its `talk` is the audio kept; by a key, the hang-up or maxLength, `talk`
        is left to `kept`, once the capture is closed and all of it can be read."""
        finish = expects.get("finish_on_key", "1234567890*#")
        deadline = began + max_length
        timeout = expects.get("timeout") or 0  # 0: only a key, the hang-up or maxLength
        poll = began + LEVEL_POLL
        while True:
            message = self.next_message(min(deadline, poll))
            now = time.monotonic()
            if message is None and now >= deadline:
                return Keys(spent=max(now - began, max_length))  # maxLength: no silence
            # a key or a hang-up while the recorder was starting came before `began`
            if message is not None and message[0] == "bye":
                return Keys(hangup=True, at=max(message[1] - began, 0.0))
            if message is not None and message[0] == "key" and message[1] in finish:
                return Keys(keys=message[1], at=max(message[2] - began, 0.0))
            if now < poll:
                continue
            poll = now + LEVEL_POLL
            last = listening.loud_until() or 0.0
            quiet = listening.heard - last  # seconds of audio since the caller was heard
            stalled = now - began - last >= timeout + Loudness.STALL  # no audio comes
            if timeout and (quiet >= timeout or stalled):
                if listening.loud is None:
                    return Keys(talk=0.0, spent=now - began)
                if trim:
                    self.capture_from = max(listening.first - Loudness.MARGIN, 0.0)
                    last = min(last + Loudness.MARGIN, listening.heard)
                talk = min(last - self.capture_from, max_length)
                return Keys(talk=talk, spent=now - began)

    def kept(self, listening, keys, max_length, trim):
        """`keys` (a key, the hang-up or maxLength ended the Record) with the audio kept as
        `talk`: the capture, closed, read to its end; trim-silence keeps the talk with
        Loudness.MARGIN either side, as for a Record silence ended; do-not-trim all of it up
        to the key or the hang-up (`at`) or maxLength. Nothing heard: talk 0, empty."""
        listening.loud_until()  # what PJSIP wrote since the last poll, up to the end
        if listening.loud is None:
            return replace(keys, talk=0.0)
        if not trim:
            return replace(
                keys, talk=min(keys.at if keys.at is not None else max_length, max_length)
            )
        self.capture_from = max(listening.first - Loudness.MARGIN, 0.0)
        end = min(listening.loud + Loudness.MARGIN, listening.heard)
        return replace(keys, talk=min(max(end - self.capture_from, 0.0), max_length))

    def keep_recording(self, folder, sid, talk, silence):
        """The engine's `record_file`: `talk` seconds of what the caller said, from where
        `record` found the talk began, then `silence` seconds (trim="do-not-trim": the
        caller's own audio, line noise and all), as folder/sid.wav."""
        rate, frames = self.captured or (recording.RATE, b"")
        self.captured = None
        start = int(self.capture_from * rate) * 2
        wanted = (int(talk * rate) + int(silence * rate)) * 2
        frames = frames[start : start + wanted]
        path = Path(folder) / f"{sid}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(frames + b"\0" * (wanted - len(frames)))
        return path

    def finish(self):
        """The call is over: the engine told of a caller's hang-up, the status callback sent."""
        call = self.call
        if call is not None and not call.ended:
            with contextlib.suppress(Exception):
                mark = call.mark()
                keys = Keys(hangup=True)
                waiting = call.waiting
                if waiting is not None and waiting.tag == "Record" and self.captured is None:
                    # gone before the Record heard them (in its beep): an empty message
                    keys = Keys(hangup=True, at=0.0, talk=0.0)
                call.send(keys)
                self.show(call.since(mark))
        self.hang_up(200 if self.answered else 487)
        for method, url, params in self.deferred:
            if self.answered_at is not None:
                seconds = time.monotonic() - self.answered_at
                params["CallDuration"] = str(math.ceil(seconds))
            try:
                self.front.target.fetch(method, url, params)
            except Exception as error:  # noqa: BLE001 - a callback that fails is only told
                self.front.say(f"{self.label()} status callback failed: {error}")
        self.front.say(f"{self.label()} ended")


class Loudness:
    """The caller's audio as PJSIP's recorder writes it (8 kHz PCM16 WAV, its header's sizes
    still 0, flushed every few hundred ms), read from `audio` (a file opened "rb",
    unbuffered): where the talk first and last reached LOUD_RMS.

    Each 20 ms frame is measured after a 200 Hz high-pass (a 2nd-order Butterworth): speech
    carries its words above it (the telephone band starts at 300 Hz), while mains hum, rumble
    and the low end of pink line noise lie below and would read as talk. Frame RMS after the
    filter, through G.711 (test_sip_record_speech.py prints them; -45 dBFS and hum measured
    the same way once):

        white noise -55 / -50 / -45 dBFS: median 58 / 102 / 180, max 70 / 123 / 217
        pink noise  -55 / -50 / -45 dBFS: median 36 / 63 / 107, max 48 / 84 / 146
                    (unfiltered, pink at -50 dBFS reaches 277: 0.7 dB under the old 300)
        50 Hz hum   -45 dBFS: 12
        English and Mandarin speech (the frames above the line noise under it), peaking at
            -12 dBFS: p10 200-204, median 568-777, p90 1720-1945
            -16 dBFS: p10 146-188, median 401-522, p90 1094-1242
            -30 dBFS: p10 73-82, median 133-141, p90 250-258, max 307-340

    So white noise louder than about -48 dBFS reads as talk. The first and last sounds of a
    phrase (an h, a final s) read below the threshold, up to 0.2 s of them: the recording
    keeps MARGIN s either side of the loud frames, so "at six" keeps its s.
    """

    FRAME = 160 * 2  # bytes of 20 ms
    HIGH_PASS = 200.0  # Hz
    MARGIN = 0.3  # seconds kept before the first loud frame and after the last (trim-silence)
    STALL = 5.0  # a file this far behind the wall clock (1.3 s seen under load) has stopped

    def __init__(self, audio):
        self.audio, self.offset = audio, 44
        self.first = self.loud = None  # seconds into the recording: first loud frame's start
        self.heard = 0.0  # seconds of the recording read
        w = 2 * math.pi * self.HIGH_PASS / recording.RATE
        alpha, cos = math.sin(w) / math.sqrt(2), math.cos(w)  # Q = 1/sqrt(2): Butterworth
        a0 = 1 + alpha
        self.coefficients = (
            (1 + cos) / 2 / a0,
            -(1 + cos) / a0,
            (1 + cos) / 2 / a0,
            -2 * cos / a0,
            (1 - alpha) / a0,
        )
        self.state = (0.0, 0.0, 0.0, 0.0)  # the filter's last two inputs and outputs

    def levels(self, samples):
        """The RMS of each whole 20 ms frame of `samples` (PCM16 ints), high-passed; the
        filter goes on from the samples given before."""
        b0, b1, b2, a1, a2 = self.coefficients
        x1, x2, y1, y2 = self.state
        size = self.FRAME // 2
        levels = []
        for n in range(0, len(samples) - size + 1, size):
            energy = 0.0
            for x in samples[n : n + size]:
                y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
                x2, x1, y2, y1 = x1, x, y1, y
                energy += y * y
            levels.append(math.sqrt(energy / size))
        self.state = (x1, x2, y1, y2)
        return levels

    def loud_until(self):
        """Seconds into the recording where the caller was last heard, None if never yet."""
        with contextlib.suppress(OSError):
            self.audio.seek(self.offset)
            data = self.audio.read()
            data = data[: len(data) - len(data) % self.FRAME]
            frames = array.array("h", data)
            if sys.byteorder == "big":
                frames.byteswap()
            start = (self.offset - 44) / (2 * recording.RATE)
            for n, level in enumerate(self.levels(frames)):
                if level > LOUD_RMS:
                    at = start + n * self.FRAME / (2 * recording.RATE)
                    self.first = at if self.first is None else self.first
                    self.loud = at + self.FRAME / (2 * recording.RATE)
            self.offset += len(data)
            self.heard = (self.offset - 44) / (2 * recording.RATE)
        return self.loud


def shown_at(events, starts, seconds):
    """[(seconds into the stretch, event)]: an audible event at its start in the stretch, any
    other (or one not played) where the next played one starts, or at the stretch's end."""
    begins = {id(event): start for event, start in starts}
    timed, pending = [], []
    for event in events:
        pending.append(event)
        if id(event) in begins:
            timed += [(begins[id(event)], e) for e in pending]
            pending = []
    return timed + [(seconds, e) for e in pending]


@contextlib.contextmanager
def quiet_stdout():
    """Send file descriptor 1 to /dev/null meanwhile (C code prints there, not to sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def closed_wav(file, wait=1.0):
    """(rate, frames) of a WAV, open as `file`, that PJSIP's recorder closes meanwhile; None
    if it never does.

    PJSIP writes the header's sizes when it closes the file, a bridge tick after the
    recorder is dropped: until then they read 0.
    """
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(OSError, wave.Error, EOFError):
            file.seek(0)
            with wave.open(file, "rb") as audio:  # closing it leaves `file` open
                if audio.getnframes() or os.fstat(file.fileno()).st_size <= 44:
                    return audio.getframerate(), audio.readframes(audio.getnframes())
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)


# the command


def parse_listen(text):
    host, _, port = (text or DEFAULT_LISTEN).rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="softphone sip",
        description="Answer SIP calls (UDP and TCP) and run the TwiML app for each in real "
        "time, as Twilio's SIP Domains would: the Request-URI's user is To, the From user From.",
    )
    parser.add_argument("url", nargs="?", help="the Voice URL (default: the --app, in-process)")
    parser.add_argument(
        "--app", metavar="MODULE:NAME", help="the WSGI app to run in-process (default: app:app)"
    )
    parser.add_argument(
        "--listen",
        type=parse_listen,
        default=parse_listen(DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"where SIP listens (default {DEFAULT_LISTEN}; 0.0.0.0:5060 for the LAN)",
    )
    parser.add_argument("--no-tcp", action="store_true", help="listen on UDP only")
    parser.add_argument(
        "--public-address", help="the address phones reach this host at (SDP, Contact)"
    )
    parser.add_argument("--rtp-port", type=int, default=RTP_PORT, help="the first RTP port")
    parser.add_argument(
        "--max-calls", type=int, default=4, help="calls at once (the pjsua2 wheel allows 4)"
    )
    parser.add_argument("--audio-cache", metavar="DIR", help="where rendered prompts are kept")
    parser.add_argument(
        "--recordings", metavar="DIR", help="where <Record> keeps the caller's audio (WAV)"
    )
    parser.add_argument(
        "--recordings-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the HTTP port that serves each RecordingUrl (default: any free one)",
    )
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no transcript")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the app's log")
    settings.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    from softphone import cli

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        pjsua2()
        target = cli.make_target(args)
    except (Unavailable, cli.Refused) as error:
        print(f"softphone sip: {error}", file=sys.stderr)
        return 2
    host, port = args.listen
    front = Front(
        target,
        settings.from_args(args),
        host,
        port,
        tcp=not args.no_tcp,
        public_address=args.public_address,
        rtp_port=args.rtp_port,
        max_calls=args.max_calls,
        audio=args.audio_cache,
        recordings=args.recordings,
        recordings_port=args.recordings_port,
        out=None if args.quiet else sys.stdout,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        front.start()
    except Exception as error:  # noqa: BLE001
        print(f"softphone sip: {error}", file=sys.stderr)
        return 1
    where = args.public_address or host
    transports = "UDP" + ("" if args.no_tcp else " and TCP")
    print(
        f"softphone sip: listening on sip:{settings.DEFAULT_TO}@{where}:{port} ({transports}); "
        f"calls go to {target.url}; recordings at {front.recordings_url}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.2):
            if not front.thread.is_alive():
                return 1
    finally:
        front.stop()
    return 0
