"""<Gather>: its prompts as the caller hears them, and the keys or words it takes.

Mixed into `Call`. The nested prompts play while it listens; the first key (or word) cuts
them (barge-in); a loop="0" prompt repeats until then; the timeout starts when the prompts
end and restarts with each key; `finishOnKey` is not sent in Digits, and alone it falls
through like silence; `numDigits` ends at once. Speech posts SpeechResult and Confidence.
"""

import math
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from softphone import codes
from softphone.common import DTMF_KEYS
from softphone.common import LOOP_CAP
from softphone.common import MAX_SECONDS
from softphone.common import REACTION
from softphone.common import WAIT
from softphone.common import Event
from softphone.common import estimate_say
from softphone.common import int_attr
from softphone.common import text_of

GATHER_CHILDREN = ("Say", "Play", "Pause")
KEY_GAP = 0.4  # seconds between two keys of one entry
SECRET_FLAG = ("secret", "1")  # ?secret=1 on a Gather's action: its keys are masked
MAX_SPEECH = 60.0  # Twilio listens to speech for at most 60 s
# speechTimeout="auto" ends at "the first pause in speech"; its length is undocumented.
SPEECH_PAUSE = 1.0
CONFIDENCE = "0.9"  # the softphone hears the words exactly; Twilio's score is 0.0-1.0


class Gathering:
    """The <Gather> verb of a `Call`."""

    def verb_gather(self, verb):
        action = self.resolve(verb.get("action"))
        inputs = inputs_of(verb)
        extra = {} if inputs == {"dtmf"} else {"input": " ".join(sorted(inputs))}
        if verb.get("hints") and "speech" in inputs:
            extra["hints"] = [hint.strip() for hint in verb.get("hints").split(",")]
        self.event("gather", action=action, secret=is_secret(action), **extra)
        timeline, first_pass, self.prompts_end = self.prompt_timeline(verb)
        # The prompts' first pass is heard now; a key pressed during them cuts them later
        # (barge-in), and a caller who waits hears loop="0" prompts again (replay).
        first = len(self.events)
        self.prompts = (timeline, first_pass, first)
        self.events.extend(self.prompt_events(timeline, first_pass))
        self.prompts_span = (first, len(self.events))
        self.waiting = verb

    def prompt_timeline(self, gather):
        """Lay the nested prompts end to end from now: ([(start, end, verb)], first pass, end).

        The first pass ends where a loop="0" prompt has played once: after that the caller
        hears only repetitions (up to LOOP_CAP of them, or the call's 4 hours).
        """
        timeline, t, first_pass = [], self.t, None
        for child in gather:
            if child.tag not in GATHER_CHILDREN:
                self.event(
                    "warning",
                    code=codes.GATHER_NESTED,
                    message=f"Gather: invalid nested verb <{child.tag}>",
                )
                continue
            loop_code = codes.GATHER_SAY_LOOP if child.tag == "Say" else codes.PLAY_LOOP
            loops = int_attr(child.get("loop"), 1, loop_code, self.events, t, "loop")
            if child.tag == "Say":
                duration = self.saytext_of(child)[1]
            elif child.tag == "Play":
                duration = self.play_duration(child, nested=True)
            else:
                duration = (
                    int_attr(child.get("length"), 1, codes.PAUSE_LENGTH, self.events, t, "length")
                    or 1
                )
            for n in range(loops or LOOP_CAP):
                if n and t > MAX_SECONDS:
                    break
                timeline.append((t, t + duration, child))
                t += duration
                if loops == 0 and first_pass is None:
                    first_pass = t
        return timeline, t if first_pass is None else first_pass, t

    def prompt_events(self, timeline, cut):
        """The events of the prompts that play until `cut` (a key), marking the one it cut."""
        events = []
        for start, end, child in timeline:
            if start >= cut:
                break
            played = min(end, cut) - start
            data = {"duration": round(played, 2)}
            if end > cut:
                data["cut"] = True
            if child.tag == "Say":
                data |= self.say_data(child)  # its pieces too: a recording puts breaks in place
            elif child.tag == "Play":
                data |= (
                    {"digits": child.get("digits")}
                    if child.get("digits")
                    else {"url": self.resolve(text_of(child))}
                )
            events.append(Event(child.tag.lower(), start, data))
        return events

    def replay(self, cut):
        """Show the waiting Gather's prompts as heard until `cut`; return when they stopped."""
        timeline = self.prompts[0]
        cut = min(cut, self.prompts_end)
        first, last = self.prompts_span
        heard = self.prompt_events(timeline, cut)
        shown = self.events[first:last]
        for n, event in enumerate(heard):
            # Edited in place: a prompt keeps its place in the call's order (Event.seq), so a
            # mark taken before the key (Call.mark) still points before what follows it.
            if shown:
                event.seq = shown[min(n, len(shown) - 1)].seq
        self.events[first:last] = heard
        self.prompts_span = (first, first + len(heard))
        return cut

    def key_times(self, keys, first):
        """Give each key its moment: the first at `first`, then one every KEY_GAP (`w` waits);
        a real-time driver's keys keep the moments they were pressed at (`keys.times`)."""
        if keys.times is not None:
            pressed = [key for key in keys.keys if key not in "wW"]
            return [(key, self.t + at) for key, at in zip(pressed, keys.times, strict=True)]
        timed, t = [], first
        for key in keys.keys:
            if key == "w":
                t += WAIT
                continue
            timed.append((key, t))
            t += KEY_GAP
        return timed

    def accept(self, gather, keys):
        """Keep only the input the Gather listens for; the rest is a warning and no input."""
        inputs = inputs_of(gather)
        if keys.speech is not None and "speech" not in inputs:
            self.event(
                "warning",
                code="input",
                message="Gather listens for keys only "
                f'(input="dtmf"): the words {keys.speech!r} are not heard',
            )
            return type(keys)()
        if keys.speech is None and keys.keys.strip("w") and "dtmf" not in inputs:
            self.event(
                "warning",
                code="input",
                message="Gather listens for speech only "
                f'(input="speech"): the keys {keys.keys!r} are refused',
            )
            return type(keys)()
        return keys

    def finish_gather(self, gather, keys):
        timeout = (
            int_attr(gather.get("timeout"), 5, codes.GATHER_TIMEOUT, self.events, self.t, "timeout")
            or 5
        )
        keys = self.accept(gather, keys)
        if keys.speech is not None:
            return self.finish_speech(gather, keys, timeout)
        num_digits = int_attr(
            gather.get("numDigits"), None, codes.GATHER_NUM_DIGITS, self.events, self.t, "numDigits"
        )
        finish = gather.get("finishOnKey", "#")
        if len(finish) > 1 or (finish and finish not in DTMF_KEYS):
            self.event(
                "warning",
                code=codes.GATHER_FINISH_ON_KEY,
                message=f"Gather: invalid finishOnKey {finish!r}",
            )
            finish = "#"
        action = self.resolve(gather.get("action"))
        secret = is_secret(action)
        first_pass = self.prompts[1]
        first = first_pass + REACTION if keys.at is None else self.t + max(keys.at, 0.0)
        timed = self.key_times(keys, first)
        # A key during the prompts cuts them (barge-in); with none, they play to their end.
        prompts_end = self.replay(timed[0][1] if timed else math.inf)
        digits, finished_on, last, ended_at, used = "", "", None, None, 0
        for key, moment in timed:
            # The timer starts when the prompts end, and again with each key.
            timer_from = prompts_end if last is None else last
            if moment > timer_from + timeout:
                ended_at = timer_from + timeout
                break
            used += 1
            if finish and key == finish:  # alone, it ends the Gather with no input
                finished_on, ended_at = key, moment
                break
            digits, last = digits + key, moment
            if num_digits and len(digits) >= num_digits:
                ended_at = moment
                break
        else:
            ended_at = (prompts_end if last is None else last) + timeout
        if self.hold is not None and ended_at > self.hold.until:
            return self.taken_off_hold(timed, secret)
        pressed = "".join(key for key, _ in timed[:used])
        if pressed:
            self.events.append(
                Event("keys", timed[0][1], {"keys": mask_keys(pressed, secret), "secret": secret})
            )
        lost = "".join(key for key, _ in timed[used:])
        if lost:
            self.events.append(Event("lost_keys", ended_at, {"keys": mask_keys(lost, secret)}))
        if not pressed:
            self.events.append(Event("silence", prompts_end, {"duration": timeout}))
        self.t = ended_at
        if digits:
            extra = {"Digits": digits, "FinishedOnKey": finished_on}
            self.request(action, gather.get("method", "POST"), extra)
        elif gather.get("actionOnEmptyResult") == "true":
            self.request(
                action, gather.get("method", "POST"), {"Digits": "", "FinishedOnKey": finished_on}
            )
        # else: no input, or the finish key alone, falls through to the next verb

    def taken_off_hold(self, timed, secret):
        """An agent takes the caller before a waitUrl Gather ends: its action never comes.

        Twilio dequeues at the agent's time, whatever the caller is keying; the entry is lost.
        """
        until = self.hold.until
        self.replay(min([until] + [moment for _, moment in timed[:1]]))
        if timed:
            keys = mask_keys("".join(key for key, _ in timed), secret)
            self.events.append(Event("lost_keys", until, {"keys": keys}))
        self.t = until

    def speech_timeout(self, gather, timeout):
        """Seconds of quiet after the words before Twilio sends them (speechTimeout)."""
        value = gather.get("speechTimeout")
        if value is None:
            return timeout  # Twilio: speechTimeout defaults to the timeout value
        if value.strip().lower() == "auto":
            return SPEECH_PAUSE
        number = int_attr(
            value, None, codes.GATHER_SPEECH_TIMEOUT, self.events, self.t, "speechTimeout"
        )
        return timeout if number is None else number

    def finish_speech(self, gather, keys, timeout):
        """The caller speaks: SpeechResult and Confidence go to the action, as Twilio sends."""
        action = self.resolve(gather.get("action"))
        secret = is_secret(action)
        start = self.prompts[1] + REACTION if keys.at is None else self.t + max(keys.at, 0.0)
        barge_in = gather.get("bargeIn", "true") != "false"
        prompts_end = self.replay(start if barge_in else math.inf)
        if start > prompts_end + timeout:  # the words come after the Gather has given up
            self.events.append(Event("silence", prompts_end, {"duration": timeout}))
            self.events.append(Event("lost_speech", start, {"text": _mask_words(keys, secret)}))
            self.t = prompts_end + timeout
            return
        language = gather.get("language", "en-US")
        talk = min(estimate_say(keys.speech, language), MAX_SPEECH)
        data = {"text": _mask_words(keys, secret), "duration": round(talk, 2), "secret": secret}
        self.events.append(Event("speech", start, data))
        self.t = start + talk
        if gather.get("partialResultCallback"):
            # Twilio posts partial transcripts as it hears; the softphone hears the words at
            # once, so it posts once, with the whole text still unstable (nothing is final
            # before the speechTimeout), its Stability our confidence, and SequenceNumber 1.
            partial = {
                "UnstableSpeechResult": keys.speech,
                "StableSpeechResult": "",
                "Stability": CONFIDENCE,
                "SequenceNumber": "1",
            }
            url = self.resolve(gather.get("partialResultCallback"))
            method = gather.get("partialResultCallbackMethod", "POST")
            self.notify(url, method, partial, "partialResultCallback")
        self.t += self.speech_timeout(gather, timeout)
        extra = {"SpeechResult": keys.speech, "Confidence": CONFIDENCE}
        self.request(action, gather.get("method", "POST"), extra)


def mask_keys(keys, secret):
    """Mask keys for a transcript: all of a secret entry, long entries but the last 4."""
    if secret:
        return "•" * len(keys.rstrip("#")) + ("#" if keys.endswith("#") else "")
    body = keys.rstrip("#")
    if len(body) > 6:
        body = "•" * (len(body) - 4) + body[-4:]
    return body + keys[len(keys.rstrip("#")) :]


def inputs_of(gather):
    """What a Gather listens for: {"dtmf"}, {"speech"} or both (input="dtmf speech")."""
    inputs = set((gather.get("input") or "dtmf").lower().split()) & {"dtmf", "speech"}
    return inputs or {"dtmf"}


def _mask_words(keys, secret):
    return "•••" if secret else keys.speech


def is_secret(url):
    query = parse_qs(urlsplit(url).query)
    return SECRET_FLAG[1] in query.get(SECRET_FLAG[0], [])
