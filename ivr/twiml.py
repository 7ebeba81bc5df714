"""Turn a dialog Turn into TwiML. The only module that imports twilio.twiml."""

import re
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from softphone.gather import SECRET_FLAG
from twilio.twiml.voice_response import VoiceResponse

from ivr.types import Speech

# Twilio TTS voices: Polly's Mandarin voice takes the cmn-CN code, not zh-CN.
VOICES = {
    "zh": {"voice": "Polly.Zhiyu", "language": "cmn-CN"},
    "en": {"voice": "Polly.Joanna", "language": "en-US"},
}
# The softphone's flag for a Gather whose keys are secret (a PIN), on its action URL. Twilio
# passes the action URL through untouched, so no attribute Twilio would reject is needed.
SECRET_QUERY = urlencode([SECRET_FLAG])
# Marks a numbered slot in a template: private-use characters, which XML escaping keeps as
# they are and no prompt holds.
SLOT = re.compile("\ue000([0-9]+)\ue001")
STATE = object()  # the slot of a template where the call's sealed state goes


def say_or_play(parent, speech, lang, origin=""):
    """A phrase as <Play> of its audio, or as <Say> in its own language's voice (the offer of
    the other language too)."""
    if speech.path:
        parent.play(origin + speech.path)
    else:
        parent.say(speech.text, **VOICES[speech.lang or lang])


def render(turn, speeches, node_url, origin="", wait_url=None):
    """Build the TwiML for a turn.

    Args:
        speeches: the phrases of the turn as types.Speech (each in its own language, or
            the turn's).
        node_url: node id -> the URL its input is posted to.
        origin: the public scheme and host that audio paths are played from.
        wait_url: what a queue's waitUrl is (the line's hold message and music), if any.
    """
    response = VoiceResponse()
    if turn.gather:
        gather = turn.gather
        action = node_url(gather.node)
        if gather.secret:
            action += ("&" if "?" in action else "?") + SECRET_QUERY
        nest = response.gather(
            input="dtmf",
            action=action,
            method="POST",
            timeout=gather.timeout,
            num_digits=gather.num_digits,
            finish_on_key=gather.finish_on_key,
        )
        for speech in speeches:
            say_or_play(nest, speech, turn.lang, origin)
        # No key (or `#` alone) falls through the Gather: come back to the node with no input.
        response.redirect(node_url(gather.node), method="POST")
        return str(response)
    for speech in speeches:
        say_or_play(response, speech, turn.lang, origin)
    if turn.queue:
        wait = {"wait_url": wait_url, "wait_url_method": "POST"} if wait_url else {}
        response.enqueue(turn.queue, **wait)
    response.hangup()
    return str(response)


def hold(turn, speeches, music, loops, origin=""):
    """Build a queue's waitUrl document: the turn's words, then the music `loops` times.

    No <Hangup>: here it would end the call of a caller waiting for an agent. Twilio asks
    for the document again once it has played, so words and music take turns.
    """
    response = VoiceResponse()
    for speech in speeches:
        say_or_play(response, speech, turn.lang, origin)
    response.play(music, loop=loops)
    return str(response)


def template(turn, slots, node_url, state_mark=None, wait_url=None):
    """Build a turn's TwiML once, with a slot where each phrase and the sealed state go.

    `slots` holds, per phrase, its language (None: the turn's) and whether it is played
    (its slot is the audio's URL) or said (its slot is the text). `state_mark` is what the
    node URLs hold where the call's state goes. The document is built by twilio's TwiML
    classes as `render` builds it; `fill` puts a call's words and state into it, so one
    template serves every caller who hears a turn of that shape.
    """
    speeches = []
    for index, (lang, played) in enumerate(slots):
        mark = f"\ue000{index}\ue001"
        speeches.append(Speech(mark, mark if played else None, lang))
    parts = []
    document = render(turn, speeches, node_url, wait_url=wait_url)
    for index, part in enumerate(SLOT.split(document)):
        if index % 2:  # re.split puts each captured slot number between two texts
            parts.append(int(part))
            continue
        texts = part.split(state_mark) if state_mark else [part]
        parts += [texts[0], *(piece for text in texts[1:] for piece in (STATE, text))]
    return tuple(parts)


def fill(template_parts, words, state=""):
    """Put a call's words (texts, or audio URLs) and its state into a template.

    Words are escaped for XML; the state is URL-safe as it is.
    """
    return "".join(
        part if part.__class__ is str else state if part is STATE else escape(words[part])
        for part in template_parts
    )


def empty():
    """Return an empty TwiML document (the answer to a status callback)."""
    return str(VoiceResponse())
