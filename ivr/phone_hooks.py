"""What the hotline hands the softphone: its own voice for recordings, the words of its audio."""

from urllib.parse import urlsplit

from ivr import audio
from ivr import tts
from ivr.softphone.target import Hooks
from ivr.store import get_store


def for_app(app):
    """The hooks of one app: speak as `flask audio render` does, tell what a played file says."""

    def speak(text, language):
        return tts.synthesize(text)  # Mandarin through pinyin: plain espeak-ng reads Han poorly

    def words(url):
        with app.app_context():
            return audio.library().text_of(urlsplit(url).path, get_store())

    return Hooks(speak=speak, words=words)
