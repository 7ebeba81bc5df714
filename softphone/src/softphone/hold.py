"""Queues, conferences and transfers: a caller on hold, and what a dialled number answers.

Mixed into `Call`: `<Enqueue>` holds the caller, looping `waitUrl` (or Twilio's music) until
an agent answers (`agent_after`) or the caller gives up; `<Leave>` goes on after `<Enqueue>`;
`<Dial>` rings a number that answers as `answer` says, or waits in a queue or conference.
"""

import secrets
from dataclasses import dataclass

from softphone import codes
from softphone.common import int_attr
from softphone.common import text_of

# A caller on hold with no agent coming (no agent_after) hangs up after this long.
HOLD_PATIENCE = 60.0
HOLD_CHUNK = 30.0  # seconds of Twilio's default hold music per "hold" event
DEFAULT_WAIT_URL = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
# <Dial><Number> with answer="...": seconds of ringing before each outcome, and how long a
# call that is answered lasts (the softphone cannot talk, so the far end soon hangs up).
RING = {"completed": 5.0, "busy": 2.0, "failed": 0.0}
DIAL_TALK = 10.0
DIAL_ANSWERS = ("completed", "busy", "no-answer", "failed")


@dataclass
class Hold:
    """A caller waiting in a queue: the hold TwiML to loop, until when, and what comes after."""

    name: str
    sid: str
    started: float
    until: float  # when the hold ends: an agent answers, or the caller gives up
    result: str  # what happens then: "bridged" or "hangup"
    action: str | None
    method: str
    wait_url: str | None  # None: Twilio's default music; "": silence
    wait_method: str
    rest: list  # the verbs after <Enqueue>, for when the caller leaves the queue
    doc_url: str
    dial: object = None  # a conference's <Dial>: its action hears how the wait ended

    @property
    def kind(self):
        """Which waitUrl rules apply: "conference" or "queue"."""
        return "queue" if self.dial is None else "conference"


class Queues:
    """The queue and transfer verbs of a `Call`."""

    def verb_enqueue(self, verb):
        name = text_of(verb)
        self.event("transfer", queue=name, to=f"queue:{name}")
        if self.agent_after is None:
            until, result = self.t + self.hold_patience, "hangup"
        else:
            until, result = self.t + max(self.agent_after, 0.0), "bridged"
        wait_url = verb.get("waitUrl")
        self.hold = Hold(
            name=name,
            sid="QU" + secrets.token_hex(16),
            started=self.t,
            until=until,
            result=result,
            action=self.resolve(verb.get("action")) if verb.get("action") else None,
            method=verb.get("method", "POST"),
            wait_url=self.resolve(wait_url) if wait_url else wait_url,
            wait_method=verb.get("waitUrlMethod", "POST"),
            rest=self.verbs,
            doc_url=self.doc_url,
        )
        self.verbs = []

    def hold_music(self):
        """The hold TwiML ran out: request waitUrl again, or play Twilio's music (or silence)."""
        hold = self.hold
        if hold.wait_url and hold.kind == "conference":
            # Twilio's Conference page lists no parameters of its own for waitUrl: the call's.
            self.request(hold.wait_url, hold.wait_method, {})
            return
        if hold.wait_url:
            params = {
                "QueuePosition": "1",
                "QueueSid": hold.sid,
                "QueueTime": str(int(self.t - hold.started)),
                "AvgQueueTime": str(int(self.t - hold.started)),  # the only caller's
                "CurrentQueueSize": "1",
                "MaxQueueSize": "1000",
            }
            self.request(hold.wait_url, hold.wait_method, params)
            return
        seconds = min(HOLD_CHUNK, hold.until - self.t)
        music = "silence" if hold.wait_url == "" else DEFAULT_WAIT_URL
        self.event("hold", queue=hold.name, music=music, duration=round(seconds, 2))
        self.t += seconds

    def verb_leave(self, verb):
        if self.hold is None:
            self.event("warning", code="leave", message="<Leave> outside a queue; skipped")
            return
        self.leave_queue("leave")

    def leave_queue(self, result, by="caller"):
        """The call leaves the queue: `action` hears why (QueueResult), else the next verb runs."""
        if self.hold.kind == "conference":
            return self.leave_conference(result, by)
        hold, self.hold = self.hold, None
        waited = self.t - hold.started
        self.event("dequeue", queue=hold.name, result=result, waited=round(waited, 2))
        params = {"QueueResult": result, "QueueSid": hold.sid, "QueueTime": str(int(waited))}
        if result == "hangup":
            self.verbs = []
            reason = None
            # Rounded as the event shows it: 148.64 - 88.64 is 59.99999999999999 in floats.
            patient = round(waited, 2) >= self.hold_patience
            if by == "caller" and patient and self.agent_after is None:
                reason = f"no agent answered in {self.hold_patience:.0f} s (see agent_after)"
            self.event("hangup", by=by, **({"reason": reason} if reason else {}))
            self.status = "completed"
            if hold.action:  # requested though nobody is left to hear its TwiML
                self.notify(hold.action, hold.method, params, "Enqueue action")
            return self.end("completed")
        if result == "bridged":
            self.event(
                "bridged",
                queue=hold.name,
                reason="an agent answered; the softphone "
                "cannot talk, so the agent hangs up at once",
            )
        self.doc_url = hold.doc_url
        if hold.action:
            self.request(hold.action, hold.method, params)
        else:
            self.verbs = hold.rest

    def verb_dial(self, verb):
        timeout = int_attr(
            verb.get("timeout"), 30, codes.DIAL_TIMEOUT, self.events, self.t, "timeout"
        )
        nouns = {child.tag: child for child in verb}
        if "Queue" in nouns:
            return self.dial_queue(verb, nouns["Queue"], timeout)
        if "Conference" in nouns:
            return self.dial_conference(verb, nouns["Conference"])
        numbers_ = [text_of(child) for child in verb] or [text_of(verb)]
        child_sid = "CA" + secrets.token_hex(16)
        if not any(numbers_):
            # Twilio's docs say nothing of an empty <Dial>; nothing is no number, so it fails
            # at once with 13224 (the number is invalid), as lint says, instead of ringing.
            message = "<Dial> has nothing to dial"
            self.event("error", code=codes.DIAL_INVALID_NUMBER, message=message)
            self.event("dial_result", status="failed")
            return self.dial_done(verb, "failed", 0.0, sid=child_sid)
        self.event("transfer", to=", ".join(numbers_), ring=timeout)
        self.dial_notes(verb)
        status = self.answer or "no-answer"
        self.number_callbacks(verb, child_sid, ("initiated", "initiated"), ("ringing", "ringing"))
        self.t += min(RING.get(status, timeout), timeout)  # no-answer rings out the timeout
        talk = 0.0
        if status == "completed":
            self.number_callbacks(verb, child_sid, ("answered", "in-progress"))
            self.whisper(verb, child_sid)
            limit = int_attr(
                verb.get("timeLimit"),
                14400,
                codes.DIAL_TIME_LIMIT,
                self.events,
                self.t,
                "timeLimit",
            )
            talk = min(DIAL_TALK, limit)
            self.event("bridged", to=", ".join(numbers_), duration=talk)
            self.t += talk
        self.number_callbacks(verb, child_sid, ("completed", status))
        self.event("dial_result", status=status)
        self.dial_done(verb, status, talk, sid=child_sid)

    def dial_notes(self, verb):
        """Say which <Dial> attributes act where the caller cannot hear (not simulated)."""
        for child in verb:
            if child.get("sendDigits"):
                digits = child.get("sendDigits")
                message = f"sendDigits={digits!r} is played to the called party once it answers"
                self.event("note", verb="Dial", message=message + ": the caller does not hear it")
        if verb.get("record", "do-not-record") not in ("false", "do-not-record"):
            message = f"record={verb.get('record')!r}: the softphone records no bridged call; "
            self.event("note", verb="Dial", message=message + "no RecordingUrl is sent")

    def whisper(self, verb, child_sid):
        """A <Number url>: requested on the called leg once it answers; the caller hears none."""
        for child in verb:
            if child.tag != "Number" or not child.get("url"):
                continue
            number = text_of(child)
            leg = {"CallSid": child_sid, "ParentCallSid": self.call_sid, "To": number}
            leg |= {"Called": number, "Direction": "outbound-dial", "CallStatus": "in-progress"}
            url = self.resolve(child.get("url"))
            self.notify(url, child.get("method", "POST"), leg, "Number url (whisper)")

    def number_callbacks(self, verb, child_sid, *steps):
        """<Number statusCallback>: the events it asks for (default completed), when they happen.

        `steps` are (event, CallStatus) pairs: initiated, ringing, answered, completed.
        """
        for child in verb:
            if child.tag != "Number" or not child.get("statusCallback"):
                continue
            wanted = (child.get("statusCallbackEvent") or "completed").split()
            url = self.resolve(child.get("statusCallback"))
            for event, call_status in steps:
                if event in wanted:
                    leg = {"CallSid": child_sid, "ParentCallSid": self.call_sid}
                    leg |= {"CallStatus": call_status, "To": text_of(child)}
                    method = child.get("statusCallbackMethod", "POST")
                    self.notify(url, method, leg, f"Number statusCallback {event}")

    def dial_queue(self, verb, queue, timeout):
        """<Dial><Queue>: the queue is empty (this is the only caller) until agent_after."""
        name = text_of(queue)
        self.event("transfer", queue=name, to=f"dequeue:{name}", ring=timeout)
        joined = self.agent_after is not None and self.agent_after <= timeout
        wait = self.agent_after if joined else timeout
        self.event("hold", queue=name, music=DEFAULT_WAIT_URL, duration=round(wait, 2))
        self.t += wait
        status = "completed" if joined else "no-answer"
        if joined:
            self.event("bridged", queue=name, reason="a caller joined the queue and hung up")
        self.event("dial_result", status=status)
        self.dial_done(verb, status, 0.0, sid=True)

    def dial_conference(self, verb, conference):
        """<Dial><Conference>: alone, the caller hears the hold music until agent_after.

        A waitUrl is requested (waitMethod, POST by default) and its Say, Play, Pause and
        Redirect loop until the conference starts (Twilio's Conference page; error 13238).
        """
        name = text_of(conference)
        self.event("transfer", conference=name, to=f"conference:{name}")
        wait = self.hold_patience if self.agent_after is None else max(self.agent_after, 0.0)
        if conference.get("waitUrl"):
            self.hold = Hold(
                name=name,
                sid="CF" + secrets.token_hex(16),
                started=self.t,
                until=self.t + wait,
                result="hangup" if self.agent_after is None else "bridged",
                action=None,
                method="POST",
                wait_url=self.resolve(conference.get("waitUrl")),
                wait_method=conference.get("waitMethod", "POST"),
                rest=self.verbs,
                doc_url=self.doc_url,
                dial=verb,
            )
            self.verbs = []
            return None
        music = DEFAULT_WAIT_URL
        self.event("hold", conference=name, music=music, duration=round(wait, 2))
        self.t += wait
        if self.agent_after is None:
            reason = f"alone in the conference for {self.hold_patience:.0f} s (see agent_after)"
            self.event("hangup", by="caller", reason=reason)
            return self.end("completed")
        self.event("bridged", conference=name, reason="someone joined, then left")
        self.event("dial_result", status="completed")
        self.dial_done(verb, "completed", 0.0, sid=False)  # no DialCallSid for a conference

    def leave_conference(self, result, by):
        """The wait for a conference ends: someone joined (then left), or the caller gave up."""
        hold, self.hold = self.hold, None
        self.doc_url = hold.doc_url
        if result == "hangup":
            reason = None
            if by == "caller" and self.agent_after is None:
                reason = f"alone in the conference for {self.hold_patience:.0f} s (see agent_after)"
            self.event("hangup", by=by, **({"reason": reason} if reason else {}))
            return self.end("completed")
        self.event("bridged", conference=hold.name, reason="someone joined, then left")
        self.event("dial_result", status="completed")
        self.verbs = hold.rest
        self.dial_done(hold.dial, "completed", 0.0, sid=False)
        return None

    def refused_on_hold(self, verb):
        """True if the hold document may not hold `verb`: Twilio refuses it there, with a code."""
        if self.hold is None or verb.tag in codes.HOLD_VERBS[self.hold.kind][0]:
            return False
        kind = self.hold.kind
        code = codes.HOLD_VERBS[kind][1]
        self.event(
            "error" if kind == "conference" else "warning",
            code=code,
            message=f"<{verb.tag}> is not allowed in a {kind} waitUrl document; skipped",
        )
        return True

    def dial_done(self, verb, status, duration, sid):
        """The dialled call ended: its action hears how (else the next verb runs)."""
        if verb.get("action"):
            extra = {"DialCallStatus": status, "DialCallDuration": str(int(duration))}
            if sid:
                extra["DialCallSid"] = sid if isinstance(sid, str) else "CA" + secrets.token_hex(16)
            self.request(self.resolve(verb.get("action")), verb.get("method", "POST"), extra)
