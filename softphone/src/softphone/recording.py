"""<Record>: the caller's message, its action request, and the WAV the softphone writes.

The softphone has no microphone: while the caller talks the file holds a low 200 Hz hum,
then silence (only with trim="do-not-trim"). 8 kHz mono 16-bit, like Twilio's recordings.
"""

import math
import secrets
import shutil
import struct
import tempfile
import time
import wave
from datetime import UTC
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from softphone import codes
from softphone.common import REACTION
from softphone.common import Event
from softphone.common import estimate_say
from softphone.common import int_attr
from softphone.common import language_of

RATE = 8000
RECORDINGS_HOST = "https://softphone.invalid"  # where a RecordingUrl points
HUM_HZ = 200  # 40 samples a period: one period repeats exactly
PERIOD = b"".join(
    struct.pack("<h", int(4000 * math.sin(2 * math.pi * n * HUM_HZ / RATE)))
    for n in range(RATE // HUM_HZ)
)


def directory(path=None):
    """Where recordings go: `path`, or a new temporary directory."""
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        return Path(path)
    return Path(tempfile.mkdtemp(prefix="softphone-recordings-"))


def write(folder, sid, talk, silence=0.0):
    """Write `talk` seconds of hum then `silence` seconds to folder/sid.wav; return its path."""
    frames = int(talk * RATE)
    hum = PERIOD * (frames // (RATE // HUM_HZ) + 1)
    body = hum[: frames * 2] + b"\0\0" * int(silence * RATE)
    path = Path(folder) / f"{sid}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(body)
    return path


class Recording:
    """The <Record> verb of a `Call`."""

    def discard_recordings(self):
        """Remove the temporary folder of the call's recordings, once no webhook can fetch them.

        A folder the caller named (`recordings=`) is theirs and stays.
        """
        if self.recordings_dir is None and self.recordings_folder is not None:
            shutil.rmtree(self.recordings_folder, ignore_errors=True)
            self.recordings_folder = None

    def verb_record(self, verb):
        if verb.get("transcribe") == "true" or verb.get("transcribeCallback"):
            self.event(
                "warning",
                code="transcribe",
                message="Record: transcription is not simulated; no transcribeCallback comes",
            )
        if verb.get("playBeep", "true") != "false":
            self.event("play", digits="beep", duration=0.5)
            self.t += 0.5
        self.waiting = verb
        self.event("record", action=self.resolve(verb.get("action")))
        self.record_started = self.t

    def finish_record(self, record, keys):
        """The caller's message: it ends on a finish key, silence, maxLength or a hang-up.

        A key group's time (`at`, else REACTION) is how long the caller talks before the key
        or the hang-up; words take as long as they would be said. A real-time driver gives
        the audio it kept (`talk`, however the Record ended) and the seconds the Record took
        on the call (`at` for a key or the hang-up, else `spent`): the clock moves by those,
        as the caller lived them, while RecordingDuration is the kept audio's length
        (trim-silence trims the silence either side of the talk, so it is shorter). A
        `spent` of maxLength or more is a Record maxLength ended: no silence ended it. A
        recording with no audio (silence until `timeout`, or a key) is not submitted and the
        next verb runs: Twilio's older docs say so (its current ones say silent recordings
        are kept; we follow the older); after a hang-up with nothing kept (a driver's
        `talk` of 0) no action is requested either, and the call ends.
        """
        timeout = int_attr(
            record.get("timeout"), 5, codes.RECORD_TIMEOUT, self.events, self.t, "timeout"
        )
        max_length = int_attr(
            record.get("maxLength"), 3600, codes.RECORD_MAX_LENGTH, self.events, self.t, "maxLength"
        )
        max_length = max_length or 3600
        finish = record.get("finishOnKey", "1234567890*#")
        trim = record.get("trim", "trim-silence") != "do-not-trim"
        moment = keys.at if keys.at is not None else REACTION
        pressed = next((key for key in keys.keys if key in finish), "")
        ended_by_key = keys.hangup or pressed
        if ended_by_key:
            kept = moment if keys.talk is None else keys.talk  # a driver's: trimmed
            talk, digits, quiet = min(kept, max_length), "hangup" if keys.hangup else pressed, 0
            if moment > max_length and not keys.hangup:
                digits = ""  # the key came after maxLength had ended the recording
            if pressed and moment <= max_length:
                data = {"keys": pressed, "secret": False}
                self.events.append(Event("keys", self.t + moment, data))
        elif keys.talk is not None:  # a real-time driver heard the caller talk, then silence
            talk = min(keys.talk, max_length)
            limited = talk >= max_length or (keys.spent or 0) >= max_length
            digits, quiet = "", (0 if limited else timeout)
        elif keys.speech is not None:
            talk = min(estimate_say(keys.speech, language_of(keys.speech)), max_length)
            self.events.append(Event("speech", self.t, {"text": keys.speech, "secret": False}))
            digits, quiet = "", (timeout if talk < max_length else 0)
        else:
            talk = min(moment, max_length) if keys.keys.strip("w") else 0.0
            digits, quiet = "", (timeout or max_length) if talk < max_length else 0
            if talk == 0:
                quiet = min(quiet, max_length)
        if ended_by_key:
            lasted = min(max(moment, 0.0), max_length)  # the real moment, kept audio or not
        else:
            lasted = talk + quiet if keys.spent is None else max(keys.spent, 0.0)
        if talk == 0 and keys.talk is not None and ended_by_key:
            # a driver heard nothing before the key or the hang-up: an empty message
            self.t += lasted
            self.event("record_empty", message="no audio: the recording is not submitted")
            self.recording_status(record, "absent", {})
            if keys.hangup:  # no next verb: the caller has gone
                self.verbs = []
                self.event("hangup", by="caller")
                self.end("completed")
            return
        if talk == 0 and not keys.hangup:
            silent = quiet if keys.spent is None else round(lasted, 2)
            self.events.append(Event("silence", self.t, {"duration": silent}))
            self.t += lasted
            self.event(
                "record_empty",
                message="no audio: the recording is not submitted; the next verb runs",
            )
            self.recording_status(record, "absent", {})
            return
        if quiet:  # the silence that ended it, up to its end
            ended = talk if keys.spent is None else max(lasted - quiet, 0.0)
            self.events.append(Event("silence", self.t + ended, {"duration": quiet}))
        sid = "RE" + secrets.token_hex(16)
        length = talk if trim else talk + quiet
        if self.recordings_folder is None:
            self.recordings_folder = directory(self.recordings_dir)
        path = (self.record_file or write)(self.recordings_folder, sid, talk, 0 if trim else quiet)
        # Shaped like Twilio's; .invalid never resolves, so only the softphone plays it (its
        # length is known) and the WAV is the file the "recording" event names. A driver
        # that serves the files (the SIP front) gives its own host.
        host = self.recordings_url or RECORDINGS_HOST
        url = f"{host}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"
        self.recordings[url] = self.recordings[url + ".wav"] = length
        self.t += lasted
        self.recording_status(record, "in-progress", {"RecordingSid": sid, "RecordingUrl": url})
        self.event("recording", url=url, file=str(path), duration=round(length, 2), digits=digits)
        if pressed and moment > max_length:  # the key came after maxLength ended the recording
            data = {"keys": pressed, "secret": False}
            self.events.append(Event("keys", self.t - lasted + moment, data))
        params = {
            "RecordingUrl": url,
            "RecordingSid": sid,
            "RecordingDuration": str(math.floor(length)),
            "Digits": digits,
        }
        action, method = self.resolve(record.get("action")), record.get("method", "POST")
        if keys.hangup:  # requested though nobody is left to hear its TwiML
            self.verbs = []
            self.status = "completed"
            self.event("hangup", by="caller")
            self.notify(action, method, params, "Record action")
        else:
            self.request(action, method, params)
        self.recording_status(
            record,
            "completed",
            {
                "RecordingSid": sid,
                "RecordingUrl": url,
                "RecordingDuration": str(math.floor(length)),
            },
        )
        if keys.hangup:
            self.end("completed")

    def recording_status(self, record, status, fields):
        """Send recordingStatusCallback for `status` if its recordingStatusCallbackEvent asks.

        The events are in-progress, completed (the default) and absent (a silent recording).
        """
        url = record.get("recordingStatusCallback")
        wanted = (record.get("recordingStatusCallbackEvent") or "completed").replace(",", " ")
        if not url or status not in wanted.split():
            return
        started = time.time() - (self.t - getattr(self, "record_started", self.t))
        params = {
            **fields,
            "RecordingStatus": status,
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
            "RecordingStartTime": format_datetime(datetime.fromtimestamp(started, UTC)),
        }
        method = record.get("recordingStatusCallbackMethod", "POST")
        self.notify(self.resolve(url), method, params, "recordingStatusCallback")
