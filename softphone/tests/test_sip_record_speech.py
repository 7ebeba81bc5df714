"""<Record> in `softphone sip` with real speech as a phone delivers it, not tones.

espeak-ng says an English and a Mandarin message (8 kHz, G.711 on the wire, peaking at
-16 / -12 dBFS, and a quiet talker at -30 dBFS), each in two phrases with a deliberate 1.2 s
pause between them (shorter than the Record timeout of 2 s), with white or pink line noise
at -55..-50 dBFS under it all. baresip sends each as a caller's audio into
`<Record timeout="2">`; the app gets what an operator sees: the RecordingUrl (fetched) and
RecordingDuration, or, for a caller who sends only line noise, no recording at all.

The four calls run at once against one front (its wheel takes four), so the lot takes about
as long as one message plus the timeout. The first test needs no SIP: it measures the
frames the front's Loudness reads from the same audio and prints their RMS (-s shows it).

The last tests are about a Record on a real call whatever is said in it: four more callers
at once (a late talker, line noise alone, a hang-up mid-message, a finish key) check the
transcript (one beep; the time of what follows a trimmed message is the call's real time)
and the recordings folder (nothing but what a RecordingUrl serves); two without SIP check
the engine's clock over a real-time Record and the capture's life in the front.
"""

import array
import contextlib
import hashlib
import io
import math
import random
import re
import shutil
import subprocess
import threading
import time
import types
import urllib.request
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from flask import Flask
from flask import request
from local_server import serving_in_thread
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.interpreter import Reply
from test_sip import Baresip
from test_sip import free_udp_port
from test_sip import needs_baresip
from test_sip import needs_pjsua2
from test_sip import running_front

from softphone import sip

pytestmark = pytest.mark.xdist_group("sip-speech")  # beside test_sip.py: a baresip each

needs_espeak = pytest.mark.skipif(
    not shutil.which("espeak-ng"),
    reason="espeak-ng is not installed (Debian espeak-ng; make test installs it when root)",
)

RATE = 8000
FRAME = RATE // 50  # 20 ms, as Loudness reads
LEAD = 1.5  # seconds of line noise before the first word: the answer and beep take ~0.6 s
PAUSE = 1.2  # the deliberate pause mid-message: shorter than TIMEOUT, it must not end it
TAIL = 10.0  # line noise after the last word: baresip hangs up when its file ends
TIMEOUT = 2
TIMEOUTS = {"late": 3, "key": 3, "hangup": 3, "silent": 5}  # a Record's timeout if not TIMEOUT
ENGLISH = ("en", "Hello, this is Anna from accounts.", "Please call me back at six.")
MANDARIN = ("cmn", "你好，我是小王。", "请回电话，谢谢。")


# the audio: espeak-ng speech at a phone's levels, line noise under it


def spoken(voice, text, folder):
    """espeak-ng's `text` at 8 kHz, cut to where it is within 40 dB of its peak."""
    path = folder / f"say-{hashlib.sha1(text.encode()).hexdigest()[:12]}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True
    )
    with wave.open(str(path), "rb") as said:  # espeak-ng: 22050 Hz mono PCM16
        assert (said.getnchannels(), said.getsampwidth()) == (1, 2)
        rate, data = said.getframerate(), said.readframes(said.getnframes())
    samples = array.array("h", audioop().ratecv(data, 2, 1, rate, RATE, None)[0])
    peak = max(map(abs, samples))
    audible = [n for n, x in enumerate(samples) if abs(x) > peak / 100]
    return [float(x) for x in samples[audible[0] : audible[-1] + 1]]


def at_peak(samples, dbfs):
    gain = 32767 * 10 ** (dbfs / 20) / max(map(abs, samples))
    return [x * gain for x in samples]


def noise(seconds, dbfs, kind, seed):
    """White or pink noise (Paul Kellet's economy filter) at an RMS of `dbfs`."""
    rng = random.Random(seed)
    raw = [rng.gauss(0, 1) for _ in range(int(seconds * RATE))]
    if kind == "pink":
        b0 = b1 = b2 = 0.0
        for n, w in enumerate(raw):
            b0 = 0.99765 * b0 + w * 0.0990460
            b1 = 0.96300 * b1 + w * 0.2965164
            b2 = 0.57000 * b2 + w * 1.0526913
            raw[n] = b0 + b1 + b2 + w * 0.1848
    rms = math.sqrt(sum(x * x for x in raw) / len(raw))
    gain = 32768 * 10 ** (dbfs / 20) / rms
    return [x * gain for x in raw]


class Message:
    """What one caller sends: line noise, phrase one, a pause, phrase two, line noise."""

    def __init__(
        self,
        folder,
        language,
        peak,
        noise_dbfs,
        noise_kind,
        seed=1,
        tail=TAIL,
        lead=LEAD,
        pause=PAUSE,
    ):
        voice, first, second = language
        one, two = spoken(voice, first, folder), spoken(voice, second, folder)
        both = at_peak(one + two, peak)  # one gain: the phrases keep their own loudness
        one, two = both[: len(one)], both[len(one) :]
        self.speech = [0.0] * int(lead * RATE) + one + [0.0] * int(pause * RATE) + two
        self.start, self.end = lead, len(self.speech) / RATE  # the first word, the last
        self.speech += [0.0] * int(tail * RATE)
        self.line = noise(len(self.speech) / RATE, noise_dbfs, noise_kind, seed)
        mixed = [s + n for s, n in zip(self.speech, self.line, strict=True)]
        self.samples = array.array("h", (max(-32768, min(32767, round(x))) for x in mixed))

    def wav(self):
        return wav_bytes(self.samples)


def noise_only(seconds, dbfs, kind, seed=7):
    return array.array("h", (round(x) for x in noise(seconds, dbfs, kind, seed)))


def wav_bytes(samples):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def audioop():
    """The stdlib's audioop (deprecated in 3.11, as pydub uses it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    return audioop


def g711(samples):
    """What PCMU does to the samples on the way (the codec baresip and PJSIP use here)."""
    coded = audioop().ulaw2lin(audioop().lin2ulaw(samples.tobytes(), 2), 2)
    return array.array("h", coded)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def spread(values):
    return (
        f"p10 {percentile(values, 10):5.0f}  median {percentile(values, 50):5.0f}  "
        f"p90 {percentile(values, 90):5.0f}  max {max(values):5.0f}"
    )


# what the front's Loudness reads from that audio (no SIP needed)


def read_as_the_front_does(samples, tmp_path, name):
    """Feed `samples` to sip.Loudness as PJSIP's recorder writes them: a 44-byte header whose
    sizes read 0, then 4000 bytes at a time (PJMEDIA_FILE_PORT_BUFSIZE)."""
    path = tmp_path / f"{name}.wav"
    header = bytearray(wav_bytes(array.array("h"))[:44])
    header[4:8] = header[40:44] = b"\0\0\0\0"
    path.write_bytes(bytes(header))
    data = samples.tobytes()
    with open(path, "rb", buffering=0) as audio, open(path, "ab") as out:
        listening = sip.Loudness(audio)
        for n in range(0, len(data), 4000):
            out.write(data[n : n + 4000])
            out.flush()
            listening.loud_until()
    return listening


def frame_levels(samples):
    return sip.Loudness(None).levels(samples)


@needs_espeak
def test_line_noise_reads_as_silence_and_every_talker_as_talk(tmp_path):
    """The figures behind LOUD_RMS: 20 ms frame RMS (of 32768, high-passed as the front
    measures it) of speech, of the pauses in it and of line noise, after G.711. Noise at
    -55..-50 dBFS never reaches the threshold; every talker, the quiet one too, is heard
    from the first phrase to the last, through the mid-message pause, to within 0.25 s of
    either end (the margin the front keeps covers that), and never before or after."""
    report = [f"LOUD_RMS {sip.LOUD_RMS} ({20 * math.log10(sip.LOUD_RMS / 32768):.1f} dBFS)"]
    for dbfs in (-55, -50):
        for kind in ("white", "pink"):
            levels = frame_levels(g711(noise_only(10, dbfs, kind)))[5:]  # the filter settles
            report.append(f"noise {kind} {dbfs} dBFS: {spread(levels)}")
            assert max(levels) < sip.LOUD_RMS, report[-1]
    cases = [
        (ENGLISH, -16, -50, "pink"),
        (ENGLISH, -12, -50, "white"),
        (MANDARIN, -16, -50, "white"),
        (MANDARIN, -12, -50, "pink"),
        (ENGLISH, -30, -55, "white"),
        (MANDARIN, -30, -55, "pink"),
    ]
    for language, peak, noise_dbfs, kind in cases:
        said = Message(tmp_path, language, peak, noise_dbfs, kind, tail=TIMEOUT + 0.5)
        received = g711(said.samples)
        levels = frame_levels(received)
        clean = [
            math.sqrt(sum(x * x for x in said.speech[n : n + FRAME]) / FRAME)
            for n in range(0, len(levels) * FRAME, FRAME)
        ]
        floor = 32768 * 10 ** (noise_dbfs / 20)  # a frame of speech above the line noise
        talk = [v for v, c in zip(levels, clean, strict=True) if c > floor]
        quiet = [v for v, c in zip(levels, clean, strict=True) if c == 0]
        name = f"{language[0]} peak {peak} dBFS, {kind} {noise_dbfs} dBFS"
        report.append(f"{name}: speech {spread(talk)}; pauses {spread(quiet)}")
        listening = read_as_the_front_does(received, tmp_path, name.replace(" ", "_"))
        assert listening.first is not None, report[-1]
        first, last = listening.first, listening.loud
        report.append(
            f"    heard {first - said.start:+.2f} s from the first word's start, "
            f"{last - said.end:+.2f} s from the last one's end"
        )
        assert said.start - 0.02 <= first <= said.start + 0.25, report
        assert said.end - 0.25 <= last <= said.end + 0.04, report
        loud = [n for n, v in enumerate(levels) if v > sip.LOUD_RMS]
        longest = max(b - a for a, b in zip(loud, loud[1:], strict=False)) / 50
        assert longest < TIMEOUT - 0.3, f"{name}: a {longest:.2f} s gap ends the recording"
    print("\n".join(report))


# real calls: baresip sends the audio, the front records it


@contextlib.contextmanager
def serving_the_app():
    """The TwiML app: every caller gets a Record (the Mandarin caller's untrimmed); what
    each request brings is kept by the caller's name (the To user)."""
    flask = Flask(__name__)
    seen, lock = {}, threading.Lock()

    def keep(kind):
        with lock:
            seen.setdefault(request.form["To"], {})[kind] = {
                **request.form,
                "_at": time.monotonic(),
            }

    def xml(body):
        return f"<Response>{body}</Response>", 200, {"Content-Type": "text/xml"}

    @flask.post("/voice")
    def voice():
        keep("voice")
        trim = ' trim="do-not-trim"' if request.form["To"] == "mandarin" else ""
        timeout = TIMEOUTS.get(request.form["To"], TIMEOUT)
        return xml(
            f'<Record timeout="{timeout}" action="/done"{trim} recordingStatusCallback='
            '"/recording" recordingStatusCallbackEvent="completed absent"/>'
            "<Redirect>/after</Redirect>"
        )

    @flask.post("/done")
    def done():
        keep("done")
        with urllib.request.urlopen(request.form["RecordingUrl"], timeout=5) as reply:
            wav = reply.read()  # as an app fetches it
        with lock:
            seen[request.form["To"]]["done"]["_wav"] = wav
        return xml("<Hangup/>")

    @flask.post("/after")
    def after():
        keep("after")
        return xml("<Hangup/>")

    @flask.post("/recording")
    def recording_status():
        keep("recording")
        return "", 204

    @flask.post("/status")
    def status():
        keep("status")
        return "", 204

    with serving_in_thread(flask) as base:
        yield base, seen


def dial_four_callers(folder):
    """Four callers dial one front at once; {name: (what they said, what the app got, the
    front's transcript)} once each call is over (its status callback came)."""
    said = {
        "english": Message(folder, ENGLISH, -16, -50, "pink", seed=1),
        "mandarin": Message(folder, MANDARIN, -12, -50, "white", seed=2),
        "quiet": Message(folder, MANDARIN, -30, -55, "pink", seed=3),
    }
    sources = {name: message.wav() for name, message in said.items()}
    sources["noise"] = wav_bytes(noise_only(LEAD + TAIL, -50, "white"))
    seen, transcript = dial(folder, sources)
    return {name: (said.get(name), seen.get(name, {}), transcript) for name in sources}


def dial(folder, sources, *extra, then=()):
    """Callers dial one front at once, each sending its WAV (`sources`: {name: bytes});
    `then`: [(name, seconds after its /voice request, a baresip command, its params)].
    Return (what the app got by caller, the front's transcript) once each call is over (its
    status callback came)."""
    port = free_udp_port()
    with (
        serving_the_app() as (base, seen),
        running_front(base, port, folder, *extra) as log,
    ):
        phones, pending = {}, sorted(then, key=lambda step: step[1])
        try:
            for name, source in sources.items():
                (folder / name).mkdir()
                phones[name] = Baresip(folder / name, source=source)
            for name, phone in phones.items():
                phone.send("dial", f"sip:{name}@127.0.0.1:{port}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all("status" in seen.get(name, {}) for name in sources):
                    break
                for step in list(pending):
                    name, after, command, params = step
                    asked = seen.get(name, {}).get("voice", {}).get("_at")
                    if asked is not None and time.monotonic() >= asked + after:
                        phones[name].send(command, params)
                        pending.remove(step)
                time.sleep(0.02)
        finally:
            for phone in phones.values():
                phone.stop()
        transcript = log.read_text(errors="replace")
    return seen, transcript


def recording_of(done):
    with wave.open(io.BytesIO(done["_wav"]), "rb") as audio:
        assert (audio.getframerate(), audio.getnchannels()) == (RATE, 1)
        return array.array("h", audio.readframes(audio.getnframes()))


def envelope(samples, hop=RATE // 100):
    """Loudness (dB) every 10 ms."""
    return [
        10 * math.log10(1 + sum(x * x for x in samples[n : n + hop]) / hop)
        for n in range(0, len(samples) - hop + 1, hop)
    ]


def best_match(piece, whole):
    """(seconds into `whole` where `piece` fits best, the correlation there): 10 ms steps."""
    best, offset = -math.inf, 0
    size = len(piece)
    mean_p = sum(piece) / size
    spread_p = math.sqrt(sum((p - mean_p) ** 2 for p in piece))
    for lag in range(len(whole) - size + 1):
        part = whole[lag : lag + size]
        mean_w = sum(part) / size
        spread_w = math.sqrt(sum((w - mean_w) ** 2 for w in part))
        score = sum((p - mean_p) * (w - mean_w) for p, w in zip(piece, part, strict=True))
        if spread_w and score / (spread_p * spread_w) > best:
            best, offset = score / (spread_p * spread_w), lag
    return offset / 100, best


# The envelopes of what was sent and what was recorded correlated 0.74-0.98 where they
# matched (lowest for the quiet talker: its noise's 10 ms energies match only when the hops
# line up, and a frame the jitter buffer dropped shifts the rest); a recording of something
# else does not reach this, and the place found is checked against where the words were.
MATCH = 0.6


def where_in(recorded, said, timeout=TIMEOUT):
    """(begins, ends, match): where the recording's first 2.5 s and last `timeout` + 1 s
    (the last word in it even untrimmed) are in what the caller sent, by their loudness
    envelopes. Each end is found on its own: under load PJSIP's jitter buffer may drop or
    repeat a frame in between."""
    heard, sent = envelope(recorded), envelope(said.samples)
    sent = sent[: int((said.end + timeout + 1) * 100)]
    head, tail = heard[:250], heard[-(timeout + 1) * 100 :]
    begins, head_match = best_match(head, sent)
    ends, tail_match = best_match(tail, sent)
    return begins, ends + len(tail) / 100, min(head_match, tail_match)


def check_whole_message(name, calls, timeout=TIMEOUT):
    """The operator's view of a trimmed message: one recording, action and status callback,
    holding the whole utterance from before its first word to after its last (the
    mid-message pause did not end it), trimmed to within Loudness.MARGIN + 0.1 s of it; its
    action requested about `timeout` s after the last word."""
    said, got, transcript = calls[name]
    assert "done" in got, f"{name}: the Record action never came: {sorted(got)}\n{transcript}"
    done = got["done"]
    assert "after" not in got, f"{name}: the recording was taken for silence"
    assert done["Digits"] == ""
    check_trimmed(name, said, done, got, timeout)
    # The action: `timeout` s of silence after the last word (its last loud frame up to 0.25 s
    # before its end), then PJSIP's file buffer (0.25 s), the 0.1 s poll, the answer after
    # /voice and the webhook; on a loaded machine PJSIP's bridge runs up to 1.3 s behind the
    # wall clock (measured at a load of 9 on 2 cores), and the silence is counted in its time.
    waited = done["_at"] - got["voice"]["_at"] - said.end
    assert timeout - 0.3 <= waited <= timeout + 1.5, f"{name}: the action came {waited:.2f} s after"


def check_trimmed(name, said, done, got, timeout):
    """The served recording holds the whole utterance, trimmed to within Loudness.MARGIN
    + 0.1 s of it either side; RecordingDuration is its length."""
    recorded = recording_of(done)
    seconds = len(recorded) / RATE
    assert done["RecordingDuration"] == str(math.floor(seconds))
    assert got["recording"]["RecordingStatus"] == "completed"
    begins, ends, match = where_in(recorded, said, timeout)
    assert match > MATCH, f"{name}: the recording is not what the caller said ({match:.2f})"
    shown = (
        f"{name}: kept {begins:.2f}..{ends:.2f} s of the {said.start:.2f}..{said.end:.2f} s said"
    )
    print(shown)
    # Whole: the first word's start and the last word's end are in it (10 ms envelope hop)
    assert begins <= said.start + 0.01, shown
    assert ends >= said.end - 0.01, shown
    # Trimmed: no more than the margin kept either side (0.1 s: the 20 ms frames, the hop and
    # the 40 dB cut of the phrases' faint edges)
    margin = sip.Loudness.MARGIN + 0.1
    assert begins >= said.start - margin, shown
    assert ends <= said.end + margin, shown
    assert abs(seconds - (said.end - said.start)) <= 2 * margin, shown


def an_english_message_with_a_pause_is_kept_whole(calls):
    """Peaking at -16 dBFS over pink line noise at -50 dBFS. The old front (RMS 300, no
    margin, no leading trim) kept the noise before the first word and cut the final "six"
    0.2 s short, its s."""
    check_whole_message("english", calls)


def a_quiet_mandarin_talker_is_kept_whole(calls):
    """Peaking at -30 dBFS (median frame -48 dBFS) over pink noise at -55 dBFS: the old
    threshold (RMS 300, unfiltered) heard none of it, and the message was dropped as
    silence (no action, the next verb ran)."""
    check_whole_message("quiet", calls)


def do_not_trim_keeps_the_silence_that_ended_the_recording(calls):
    """A Mandarin message at -12 dBFS over white noise at -50 dBFS, trim="do-not-trim": the
    recording runs from the beep to TIMEOUT s after the last word, and that silence is the
    caller's own line noise, not digital zero."""
    said, got, transcript = calls["mandarin"]
    assert "done" in got, f"the Record action never came: {sorted(got)}\n{transcript}"
    recorded = recording_of(got["done"])
    seconds = len(recorded) / RATE
    assert got["done"]["RecordingDuration"] == str(math.floor(seconds))
    begins, ends, match = where_in(recorded, said)
    assert match > MATCH, f"the recording is not what the caller said ({match:.2f})"
    assert begins <= said.start - 0.3, f"the recording starts {begins:.2f} s in: trimmed"
    after = ends - said.end
    assert TIMEOUT - 0.3 <= after <= TIMEOUT + 0.1, f"{after:.2f} s kept after the last word"
    tail = recorded[-RATE:]
    level = 20 * math.log10(max(math.sqrt(sum(x * x for x in tail) / len(tail)), 1) / 32768)
    assert -52 <= level <= -48, f"the silence kept reads {level:.1f} dBFS, not the line noise"


def line_noise_alone_is_no_recording(calls):
    """A caller who sends only white noise at -50 dBFS said nothing: as the engine has it
    from Twilio's older docs (research/twilio-voice-spec.md: "an empty recording is not
    submitted and the call falls through to the next verb"), no action is requested, the
    recordingStatusCallback says absent, and the next verb runs TIMEOUT s after the beep."""
    _, got, transcript = calls["noise"]
    assert "done" not in got, (
        f"line noise was recorded: {got.get('done', {}).get('RecordingDuration')} s"
    )
    assert "after" in got, f"the next verb never ran: {sorted(got)}\n{transcript}"
    assert got["recording"]["RecordingStatus"] == "absent"
    assert "RecordingUrl" not in got["after"]
    # the beep (0.5 s) and TIMEOUT s of silence after the answer; the file buffer, the poll
    # and, on a loaded machine, PJSIP's bridge behind the wall clock (see above)
    waited = got["after"]["_at"] - got["voice"]["_at"]
    assert TIMEOUT + 0.4 <= waited <= TIMEOUT + 2.0, f"the next verb came {waited:.2f} s after"


@needs_pjsua2
@needs_baresip
@needs_espeak
def test_real_callers_speech_is_recorded_whole_and_line_noise_is_not(tmp_path):
    """The four callers at once (one front; each check says what it proves). One test, not
    four sharing a module fixture: with xdist spreading them, each worker would dial all four
    again. Every check runs, and the failures are told together."""
    calls = dial_four_callers(tmp_path)
    failures = []
    for check in (
        an_english_message_with_a_pause_is_kept_whole,
        a_quiet_mandarin_talker_is_kept_whole,
        do_not_trim_keeps_the_silence_that_ended_the_recording,
        line_noise_alone_is_no_recording,
    ):
        try:
            check(calls)
        except AssertionError as error:
            failures.append(f"{check.__name__}: {error}")
    assert not failures, "\n\n".join(failures)


# a Record in the call's real time: the engine's clock, the transcript, the capture


def test_a_real_time_record_moves_the_engines_clock_by_the_seconds_it_lasted():
    """A real-time driver tells the engine how long the caller was in the Record
    (Keys.spent, from the beep's end): a message kept trimmed to 2.4 s that began after 2 s
    of silence and ended 2 s of silence later took 6.6 s of the call, and the action is
    requested 6.6 s after the beep, not 4.4 s (the kept length plus the timeout); the
    RecordingDuration is still the kept length. An empty one lasts as long as it lasted."""
    doc = '<Response><Record action="/done" timeout="2"/><Say>Nothing heard.</Say></Response>'

    def fetch(method, url, params):
        body = doc if url.endswith("/voice") else "<Response><Hangup/></Response>"
        return Reply(200, "text/xml", body.encode(), url)

    kept = Call("https://app.example/voice", fetch).start()
    beep_end = kept.t
    kept.send(Keys(talk=2.4, spent=6.6))
    recorded = next(e for e in kept.events if e.kind == "recording")
    silence = next(e for e in kept.events if e.kind == "silence")
    assert recorded.t == pytest.approx(beep_end + 6.6)
    assert (silence.t, silence.data["duration"]) == (pytest.approx(beep_end + 4.6), 2)
    assert recorded.data["duration"] == 2.4
    empty = Call("https://app.example/voice", fetch).start()
    empty.send(Keys(talk=0.0, spent=2.4))
    said = next(e for e in empty.events if e.kind == "say")
    assert said.t == pytest.approx(beep_end + 2.4)


def test_the_capture_has_no_name_in_the_folder_and_an_error_leaves_none(tmp_path):
    """While the caller is heard, the capture PJSIP writes is already gone from the
    recordings folder (a front killed mid-Record leaves nothing); an error that ends the
    Record leaves nothing either, and the audio taken is still what the engine keeps."""
    front = types.SimpleNamespace(recordings=tmp_path, do=lambda action: action())
    session = sip.Session(front, None, None)
    session.call = types.SimpleNamespace(waiting=ET.Element("Record"), call_sid="CA" + "0" * 32)
    said = wav_bytes(array.array("h", [1000, -1000] * RATE))  # 2 s the caller said

    def start_recorder(path):
        Path(path).write_bytes(said)
        return True

    listed = []

    def next_message(deadline):
        listed.append(sorted(path.name for path in tmp_path.iterdir()))
        raise RuntimeError("the worker fails mid-Record")

    session.start_recorder, session.next_message = start_recorder, next_message
    with pytest.raises(RuntimeError):
        session.record({"kind": "record", "timeout": 2, "finish_on_key": "#"})
    assert listed == [[]], f"the capture was in the folder: {listed}"
    assert list(tmp_path.iterdir()) == []
    kept = session.keep_recording(tmp_path, "RE1", 1.5, 0)
    assert recording_of({"_wav": kept.read_bytes()}).tolist() == [1000, -1000] * (RATE * 3 // 4)


LATE = 2.0  # seconds the late talker is silent after the beep: its Record's timeout is longer
BEEP_END = 0.6  # seconds from the caller's first audio to the beep's end (the answer, 0.5 s)
SHORT = ("en", "Hello, this is Anna.", "Call me back.")


def lines_of(transcript, got):
    """The front's transcript lines of one call (its label is the CallSid's last 6)."""
    label = f"[{got['voice']['CallSid'][-6:]}] "
    return [line[len(label) :] for line in transcript.splitlines() if line.startswith(label)]


def each_record_shows_its_beep_once(calls):
    """The transcript is what the caller heard: one beep each. The old front showed the
    beep (and the prompts before it) again once the Record ended."""
    for name, (_, got, transcript) in calls.items():
        lines = lines_of(transcript, got)
        beeps = [line for line in lines if "tones beep" in line]
        assert len(beeps) == 1, f"{name}: {len(beeps)} beeps shown\n" + "\n".join(lines)


def a_late_talkers_action_comes_when_the_transcript_says(calls):
    """Silent LATE s after the beep, then a message, then 3 s of silence (its timeout):
    trimmed (RecordingDuration the kept talk, check_whole_message), and the Record took the
    caller's real time: the transcript's time of its action is when the app got it, to
    within 0.3 s. The old front's engine moved by the kept talk and the timeout only, and
    ran 1.9 s behind (the trimmed silence, less the margin, and the file's lag)."""
    check_whole_message("late", calls, TIMEOUTS["late"])
    _, got, transcript = calls["late"]
    lines = lines_of(transcript, got)
    found = [re.match(r"\[\s*([\d.]+)s\] recording ", line) for line in lines]
    shown = next(float(match.group(1)) for match in found if match)
    real = got["done"]["_at"] - got["voice"]["_at"]
    print(f"late: the action at {real:.2f} s, shown at {shown:.1f} s")
    assert abs(shown - real) <= 0.3, f"shown at {shown} s, requested at {real:.2f} s\n" + (
        "\n".join(lines)
    )


def no_capture_is_left_beside_the_recordings(calls, folder):
    """A silent caller's, a hang-up's and a finish key's Record leave only the recordings
    served at a RecordingUrl in the folder: no capture of the caller's voice that nobody
    can find, and each recording holds the caller's voice. The old front left the capture
    of an empty message."""
    _, seen, _ = calls["silent"]
    assert "done" not in seen, f"silent: line noise was recorded: {sorted(seen)}"
    assert "after" in seen, f"silent: the next verb never ran: {sorted(seen)}"
    served = set()
    for name in ("late", "hangup", "key"):
        done = calls[name][1].get("done")
        assert done is not None, f"{name}: no Record action: {sorted(calls[name][1])}"
        assert int(done["RecordingDuration"]) >= 1, f"{name}: {done['RecordingDuration']} s"
        loudest = max(envelope(recording_of(done)))  # speech at -16 dBFS: about 70 dB
        assert loudest > 55, f"{name}: the recording is line noise at most ({loudest:.0f} dB)"
        served.add(f"{done['RecordingSid']}.wav")
    assert calls["hangup"][1]["done"]["Digits"] == "hangup"
    assert calls["key"][1]["done"]["Digits"] == "#"
    assert sorted(path.name for path in folder.iterdir()) == sorted(served)


QUIET_FOR = 1.0  # seconds of silence after the last word before the # or the hang-up
SILENT_KEY = 1.6  # seconds after /voice the silent caller presses # (the beep ends at ~0.6)


def a_key_or_a_hang_up_after_talk_is_trimmed(calls):
    """The key caller is silent 1.5 s after the beep, talks, and presses # QUIET_FOR s
    later; the hang-up caller talks 1 s after the beep and hangs up QUIET_FOR s later. Each
    recording is the talk with Loudness.MARGIN either side (RecordingDuration its length,
    not the ~4.5 s from the beep), as one silence ended is; the key's recording is shown in
    the transcript when the app got it (the engine's clock moved by the key's real moment).
    The old front kept everything from the beep to the key or the hang-up."""
    for name, digits in (("key", "#"), ("hangup", "hangup")):
        said, got, transcript = calls[name]
        done = got.get("done")
        assert done is not None, f"{name}: no Record action: {sorted(got)}\n{transcript}"
        assert done["Digits"] == digits
        check_trimmed(name, said, done, got, timeout=1)
        seconds, talk = len(recording_of(done)) / RATE, said.end - said.start
        expected = talk + 2 * sip.Loudness.MARGIN
        assert abs(seconds - expected) <= 0.35, f"{name}: kept {seconds:.2f} s of {talk:.2f} s"
    _, got, transcript = calls["key"]
    lines = lines_of(transcript, got)
    found = [re.match(r"\[\s*([\d.]+)s\] recording ", line) for line in lines]
    shown = next(float(match.group(1)) for match in found if match)
    real = got["done"]["_at"] - got["voice"]["_at"]
    assert abs(shown - real) <= 0.3, f"shown at {shown} s, requested at {real:.2f} s\n" + (
        "\n".join(lines)
    )


def a_key_after_line_noise_alone_is_no_recording(calls):
    """The silent caller sends line noise and presses # SILENT_KEY s after /voice: an empty
    message, as one silence ended (line_noise_alone_is_no_recording): no action, the status
    callback says absent, and the next verb runs at once, long before its timeout (5 s).
    The old front submitted the line noise up to the key."""
    _, got, transcript = calls["silent"]
    assert "done" not in got, f"a recording was submitted: {got.get('done', {}).get('Digits')}"
    assert "after" in got, f"the next verb never ran: {sorted(got)}\n{transcript}"
    assert got["recording"]["RecordingStatus"] == "absent"
    waited = got["after"]["_at"] - got["voice"]["_at"]
    assert waited <= SILENT_KEY + 1.2, f"the next verb came {waited:.2f} s after /voice"


@needs_pjsua2
@needs_baresip
@needs_espeak
def test_records_on_real_calls(tmp_path):
    """Four callers into <Record> at once, the front keeping its recordings in a folder of
    its own (--recordings): one silent LATE s after the beep, then a message; one who sends
    line noise alone and presses #; one who talks and hangs up; one who is silent 1.5 s,
    talks and ends it with #. Each check says what it proves; the failures are told
    together."""
    said = {
        "late": Message(
            tmp_path, SHORT, -16, -50, "pink", seed=4, tail=6, lead=BEEP_END + LATE, pause=0.4
        ),
        "hangup": Message(
            tmp_path, SHORT, -16, -50, "white", seed=5, tail=6, lead=BEEP_END + 1.0, pause=0.4
        ),
        "key": Message(
            tmp_path, SHORT, -16, -50, "pink", seed=6, tail=6, lead=BEEP_END + 1.5, pause=0.4
        ),
    }
    sources = {name: message.wav() for name, message in said.items()}
    sources["silent"] = wav_bytes(noise_only(6, -50, "pink"))
    folder = tmp_path / "recordings"
    then = [
        ("hangup", said["hangup"].end + QUIET_FOR, "hangup", ""),
        ("key", said["key"].end + QUIET_FOR, "sndcode", "#"),
        ("silent", SILENT_KEY, "sndcode", "#"),
    ]
    seen, transcript = dial(tmp_path, sources, "--recordings", str(folder), then=then)
    calls = {name: (said.get(name), seen.get(name, {}), transcript) for name in sources}
    failures = []
    for check, args in (
        (each_record_shows_its_beep_once, (calls,)),
        (a_late_talkers_action_comes_when_the_transcript_says, (calls,)),
        (no_capture_is_left_beside_the_recordings, (calls, folder)),
        (a_key_or_a_hang_up_after_talk_is_trimmed, (calls,)),
        (a_key_after_line_noise_alone_is_no_recording, (calls,)),
    ):
        try:
            check(*args)
        except AssertionError as error:
            failures.append(f"{check.__name__}: {error}")
    assert not failures, "\n\n".join(failures)


# a Record a key, the hang-up or maxLength ended: trimmed as one silence ended


RECORD_THEN_SAY = (
    '<Response><Record action="/done" timeout="3"{attrs} recordingStatusCallback="/recording"'
    ' recordingStatusCallbackEvent="completed absent"/><Say>Nothing heard.</Say></Response>'
)


def an_engine(attrs=""):
    """A Call waiting at a Record (its beep played), and the requests it makes by path."""
    requests = []

    def fetch(method, url, params):
        requests.append((url.rsplit("/", 1)[-1], dict(params)))
        body = RECORD_THEN_SAY.format(attrs=attrs) if url.endswith("/voice") else "<Response/>"
        return Reply(200, "text/xml", body.encode(), url)

    return Call("https://app.example/voice", fetch).start(), requests


def test_a_key_or_a_hang_up_keeps_the_trimmed_talk_and_moves_the_clock_by_its_moment():
    """A real-time driver gives the audio it kept (`talk`) with the key's or the hang-up's
    real moment (`at`): RecordingDuration is the kept length, the clock moves by `at`. The
    old engine took a Keys with `talk` for a Record silence ended (Digits "", the timeout's
    silence added) and dropped `talk` on a hang-up (RecordingDuration the moment)."""
    call, requests = an_engine()
    beep_end = call.t
    call.send(Keys(keys="#", at=4.5, talk=2.6))
    recorded = next(e for e in call.events if e.kind == "recording")
    assert (recorded.t, recorded.data["duration"]) == (pytest.approx(beep_end + 4.5), 2.6)
    done = dict(requests)["done"]
    assert (done["Digits"], done["RecordingDuration"]) == ("#", "2")
    assert not [e for e in call.events if e.kind == "silence"]
    gone, requests = an_engine()
    gone.send(Keys(hangup=True, at=4.0, talk=1.2))
    recorded = next(e for e in gone.events if e.kind == "recording")
    assert (recorded.t, recorded.data["duration"]) == (pytest.approx(beep_end + 4.0), 1.2)
    assert dict(requests)["done"]["Digits"] == "hangup"
    assert dict(requests)["done"]["RecordingDuration"] == "1"
    assert gone.status == "completed"


def test_maxlength_ends_a_trimmed_record_with_no_silence():
    """maxLength ended it (`spent` reaches it) and trim-silence kept 1.4 s: no silence ended
    it, so none is shown, and the clock moves by maxLength."""
    call, requests = an_engine(' maxLength="5"')
    beep_end = call.t
    call.send(Keys(talk=1.4, spent=5.0))
    assert not [e for e in call.events if e.kind == "silence"]
    recorded = next(e for e in call.events if e.kind == "recording")
    assert (recorded.t, recorded.data["duration"]) == (pytest.approx(beep_end + 5.0), 1.4)
    assert dict(requests)["done"]["RecordingDuration"] == "1"


def test_nothing_said_before_a_key_or_a_hang_up_is_an_empty_message():
    """The caller pressed # or hung up having said nothing the front heard (talk 0): as for
    a Record silence ended, the recording is not submitted (no action; the status callback
    says absent); after the key the next verb runs at the key's moment, after the hang-up
    the call ends. The old engine submitted a recording of the silence up to the key."""
    call, requests = an_engine()
    beep_end = call.t
    call.send(Keys(keys="#", at=2.0, talk=0.0))
    assert [path for path, _ in requests] == ["voice", "recording"]
    assert dict(requests)["recording"]["RecordingStatus"] == "absent"
    said = next(e for e in call.events if e.kind == "say")
    assert said.t == pytest.approx(beep_end + 2.0)
    gone, requests = an_engine()
    gone.send(Keys(hangup=True, at=2.0, talk=0.0))
    assert [path for path, _ in requests] == ["voice", "recording"]
    assert not [e for e in gone.events if e.kind in ("recording", "say")]
    assert gone.status == "completed"


def a_session(tmp_path, record, audio, messages):
    """A Session without SIP whose Record's capture is `audio` (PCM16 samples, written at
    once) and whose caller sends `messages`: [(kind, key or None, seconds after the
    capture began)], one per wait; then none until the deadline (it passes in real time)."""
    front = types.SimpleNamespace(recordings=tmp_path, do=lambda action: action())
    session = sip.Session(front, None, None)
    session.call = types.SimpleNamespace(waiting=record, call_sid="CA" + "0" * 32)
    started = []

    def start_recorder(path):
        Path(path).write_bytes(wav_bytes(audio))
        started.append(time.monotonic())
        return True

    pending = list(messages)

    def next_message(deadline):
        if pending:
            kind, key, after = pending.pop(0)
            moment = started[0] + after
            return ("bye", moment) if kind == "bye" else ("key", key, moment, "rfc2833")
        time.sleep(max(deadline - time.monotonic(), 0))
        return None

    session.start_recorder, session.next_message = start_recorder, next_message
    return session


def tone(seconds, hz=1000, level=8000):
    return [
        round(level * math.sin(2 * math.pi * hz * n / RATE)) for n in range(int(seconds * RATE))
    ]


def quiet(seconds):
    return [0] * int(seconds * RATE)


EXPECTS = {"kind": "record", "timeout": 3, "finish_on_key": "#"}


@pytest.mark.parametrize(
    ("ending", "attrs", "messages"),
    (
        ("key", {}, [("key", "#", 4.5)]),
        ("hang-up", {}, [("bye", None, 4.5)]),
        ("maxLength", {"maxLength": "4"}, []),
    ),
)
def test_the_front_trims_a_record_a_key_the_hang_up_or_maxlength_ended(
    tmp_path, ending, attrs, messages
):
    """Silent 1.5 s, a 2 s tone, then silence: the key (4.5 s), the hang-up (4.5 s) or
    maxLength (4 s) ends it, and the front keeps the talk with Loudness.MARGIN either side
    (2.6 s from 1.2 s), the key's and the hang-up's moment still the real one. The old
    front kept everything from the beep (talk = the moment, capture_from 0)."""
    audio = array.array("h", quiet(1.5) + tone(2.0) + quiet(2.5))
    session = a_session(tmp_path, ET.Element("Record", attrs), audio, messages)
    keys = session.record(EXPECTS)
    margin = sip.Loudness.MARGIN
    assert keys.talk == pytest.approx(2.0 + 2 * margin, abs=0.03)
    assert session.capture_from == pytest.approx(1.5 - margin, abs=0.03)
    if ending != "maxLength":
        assert keys.at == pytest.approx(4.5, abs=0.05)
    kept = recording_of(
        {"_wav": session.keep_recording(tmp_path, "RE1", keys.talk, 0).read_bytes()}
    )
    loud = [n for n, level in enumerate(frame_levels(kept)) if level > sip.LOUD_RMS]
    assert loud[0] * 0.02 == pytest.approx(margin, abs=0.03)
    assert len(kept) / RATE - (loud[-1] + 1) * 0.02 == pytest.approx(margin, abs=0.03)


@pytest.mark.parametrize("trim", ("trim-silence", "do-not-trim"))
def test_the_front_gives_a_key_after_silence_alone_as_an_empty_message(tmp_path, trim):
    """Only silence before the # (trimmed or not): talk 0, nothing of the capture kept, as
    for a Record silence ended. The old front gave the key's moment as the talk."""
    audio = array.array("h", quiet(3.0))
    record = ET.Element("Record", {"trim": trim})
    session = a_session(tmp_path, record, audio, [("key", "#", 2.0)])
    keys = session.record(EXPECTS)
    assert (keys.keys, keys.talk, session.captured) == ("#", 0.0, None)
    assert keys.at == pytest.approx(2.0, abs=0.05)


def test_do_not_trim_keeps_all_up_to_the_key(tmp_path):
    """trim="do-not-trim": the whole capture from the beep to the key, as before."""
    audio = array.array("h", quiet(1.5) + tone(2.0) + quiet(2.5))
    record = ET.Element("Record", {"trim": "do-not-trim"})
    session = a_session(tmp_path, record, audio, [("key", "#", 4.5)])
    keys = session.record(EXPECTS)
    assert (keys.talk, session.capture_from) == (keys.at, 0.0)
    assert keys.at == pytest.approx(4.5, abs=0.05)


def test_a_key_before_the_recorder_started_is_at_zero(tmp_path):
    """A key pressed as the recorder was starting (its moment before the capture began):
    at 0, not a negative moment the engine would move its clock back by."""
    audio = array.array("h", tone(1.0))
    session = a_session(tmp_path, ET.Element("Record"), audio, [("key", "#", -0.3)])
    keys = session.record(EXPECTS)
    assert keys.at == 0.0


def test_a_hang_up_in_the_beep_is_an_empty_message(tmp_path):
    """The caller hangs up while the beep plays: the front never listened, and the engine
    is told so (nothing kept): no recording, no action, the call over. The old front told
    the engine only "hang-up", which took a caller's reaction (1 s) for the talk and
    submitted a 1 s silent recording."""
    call, requests = an_engine()
    front = types.SimpleNamespace(
        recordings=tmp_path,
        do=lambda action: action(),
        pj=None,
        say=lambda line: None,
    )
    session = sip.Session(front, None, None)
    session.call = call
    session.finish()
    assert [path for path, _ in requests] == ["voice", "recording"]
    assert dict(requests)["recording"]["RecordingStatus"] == "absent"
    assert not [e for e in call.events if e.kind == "recording"]
    assert call.ended
