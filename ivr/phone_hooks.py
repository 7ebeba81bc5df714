"""What the hotline hands the softphone: its own voice for recordings, the words of its audio."""

from urllib.parse import urlsplit

from softphone.target import Hooks

from ivr import flowmap
from ivr import tts


def for_hotline(hotline):
    """The hooks of one line: speak as `flask audio render` does, tell what a played file says,
    and hand over the flow for path coverage."""

    def speak(text, language):
        return tts.synthesize(text)  # Mandarin through pinyin: plain espeak-ng reads Han poorly

    def words(url):
        return hotline.words(urlsplit(url).path)

    return Hooks(speak=speak, words=words, flow=lambda: flowmap.coverage_model(hotline.flow))
