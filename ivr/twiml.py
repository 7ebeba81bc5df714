"""Turn a dialog Turn into TwiML. The only module that imports twilio.twiml."""

from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

# Twilio TTS voices: Polly's Mandarin voice takes the cmn-CN code, not zh-CN.
VOICES = {
    "zh": {"voice": "Polly.Zhiyu", "language": "cmn-CN"},
    "en": {"voice": "Polly.Joanna", "language": "en-US"},
}
# The query flag on a Gather's action that marks its keys as secret (a PIN). Twilio
# passes the action URL through untouched, so the softphone can mask those keys in
# transcripts without any attribute Twilio would reject.
SECRET_FLAG = "secret=1"


@dataclass(frozen=True)
class Speech:
    """One phrase as the caller will hear it: its text, and in play mode its audio URL."""

    text: str
    url: str | None = None


def _speak(parent, speech, voice):
    if speech.url:
        parent.play(speech.url)
    else:
        parent.say(speech.text, **voice)


def render(turn, speeches, node_url):
    """Build the TwiML for a turn.

    Args:
        speeches: the phrases of the turn as Speech, in the turn's language.
        node_url: node id -> the URL its input is posted to.
    """
    response = VoiceResponse()
    voice = VOICES[turn.lang]
    if turn.gather:
        gather = turn.gather
        action = node_url(gather.node)
        if gather.secret:
            action += ("&" if "?" in action else "?") + SECRET_FLAG
        nest = response.gather(
            input="dtmf",
            action=action,
            method="POST",
            timeout=gather.timeout,
            num_digits=gather.num_digits,
            finish_on_key=gather.finish_on_key,
        )
        for speech in speeches:
            _speak(nest, speech, voice)
        # No key (or `#` alone) falls through the Gather: come back to the node with no input.
        response.redirect(node_url(gather.node), method="POST")
        return str(response)
    for speech in speeches:
        _speak(response, speech, voice)
    if turn.queue:
        response.enqueue(turn.queue)
    response.hangup()
    return str(response)


def empty():
    """Return an empty TwiML document (the answer to a status callback)."""
    return str(VoiceResponse())


def hangup():
    """Return a bare hang-up, the last resort when even the busy message cannot be built."""
    response = VoiceResponse()
    response.hangup()
    return str(response)
