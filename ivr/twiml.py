"""Turn a dialog Turn into TwiML. The only module that imports twilio.twiml."""

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


def render(turn, texts, node_url):
    """Build the TwiML for a turn.

    Args:
        texts: the phrases of the turn, already written out in the turn's language.
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
        for text in texts:
            nest.say(text, **voice)
        # No key (or `#` alone) falls through the Gather: come back to the node with no input.
        response.redirect(node_url(gather.node), method="POST")
        return str(response)
    for text in texts:
        response.say(text, **voice)
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
