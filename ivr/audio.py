"""Recorded-prompt mode: render prompts to audio/, assemble phrases from clips, serve them.

`flask audio render` speaks every prompt (and every clip numbers are built from) with
espeak-ng into audio/<lang>/<key>.wav, 8 kHz mono 16-bit as a phone line carries it. A
prompt with placeholders is rendered in pieces (<key>.<n>.wav) and, on a call, assembled
with the clips of its values into one WAV per phrase, cached on disk by content hash.

Pauses are measured, not left to espeak-ng: 250 ms at a comma, 500 ms at a full stop, inside a
prompt (tts.synthesize), where a piece's punctuation meets a value, and after a prompt's last
word, so that two phrases played one after the other are two sentences. Not after the options
a caller hears last before the line listens (a gathering node's prompt): the Gather's timeout
is the silence after them, and a pause there only delays the caller.
"""

import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import string
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import send_file
from flask.cli import AppGroup
from softphone.recorder import RATE  # one sample rate: a phone line's 8 kHz

from ivr import identity
from ivr import tts
from ivr.flow import GATHERING
from ivr.prompts import Ref
from ivr.spoken import Value
from ivr.spoken import en
from ivr.store import StoreError

log = identity.logger(__name__)
bp = Blueprint("audio", __name__, url_prefix="/audio")
AUDIO_DIR = Path(__file__).resolve().parent.parent / "audio"
# Part of every text hash: a new speed or reading re-renders what it touches (here: all).
RENDERER = f"espeak-ng+pypinyin/2+{tts.version()}"
JOIN_MS = 30  # silence between two clips of a phrase
# A pause in a recipe: "|" and the mark it stands for ("|，", "|."); "|" alone is a comma.
PAUSE = "|"
MARKS = "，、；：。！？,;:.!?"
EDGES = re.compile(rf"^([\s{MARKS}]*)(.*?)([\s{MARKS}]*)$", re.DOTALL)
KEY = re.compile(r"[a-z0-9_]+(\.[0-9]+)?")
PHRASE = re.compile(r"[0-9a-f]{32}")
SPEAKABLE = re.compile(r"[\w\u3007\u3400-\u9fff]")
VALUE_PAUSES = "，、,;；"
# An assembled phrase (a balance, a number's last 4) is kept this long after it was last
# spoken, then its recipe and file are deleted: longer than Twilio's longest call (4 h).
PHRASE_RETENTION = dt.timedelta(hours=6)
PURGE_EVERY = dt.timedelta(minutes=10)


class AudioError(RuntimeError):
    """Audio that cannot be made (a clip missing, espeak-ng absent)."""


def is_pause(clip):
    return clip.startswith(PAUSE)


def pause(marks):
    """The recipe's pause for a piece's marks: the longest of them ("，" before "。" is 。)."""
    marks = [mark for mark in marks if mark in tts.PAUSE_MS]
    return PAUSE + max(marks, key=tts.PAUSE_MS.get) if marks else None


def pause_ms(clip):
    return tts.PAUSE_MS.get(clip[len(PAUSE) :], tts.COMMA_MS)


def sandhi_clips(prompts, lang):
    """The clip of 一 in the tones a number gives it, by reading: {"yi2": key, "yi4": key}.

    一 is yí before a fourth tone (一万, 一次) and yì before the others (一千, 一百, 一元); its
    own clip (yī) says the rest (十一, 二〇一九, 一月). tts decides which, in the phrase.
    """
    base = {text: key for key, text in prompts.clips.get(lang, {}).items()}.get("一")
    return {f"yi{t}": f"{base}_{t}" for t in (2, 4)} if lang == "zh" and base else {}


def template_parts(text):
    """Split a prompt into its literal pieces and placeholders: [("text", s) | ("field", name)]."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(text):
        if literal:
            parts.append(("text", literal))
        if name:
            parts.append(("field", name))
    return parts


def items(prompts, lang):
    """Every audio file a language needs: {key: text to speak}."""
    found = {}
    for key, text in prompts.texts[lang].items():
        parts = template_parts(text)
        if all(kind == "text" for kind, _ in parts):
            found[key] = text
            continue
        for index, (kind, piece) in enumerate(parts):
            if kind == "text" and SPEAKABLE.search(piece):
                found[f"{key}.{index}"] = piece
    found.update(prompts.clips[lang])
    found.update({key: f"一[{reading}]" for reading, key in sandhi_clips(prompts, lang).items()})
    return found


def text_hash(text):
    return hashlib.sha256(f"{RENDERER}\n{text}".encode()).hexdigest()[:16]


def turn_ends(flow):
    """The prompts a caller hears last before the line listens: a gathering node's options."""
    return frozenset(
        key
        for node in flow.nodes.values()
        if node.kind in GATHERING
        for key in (node.prompt, node.short_prompt, node.last_prompt)
        if key
    )


def digest(key, text, ends=frozenset()):
    """What a rendered file's manifest entry is: its text's hash, and whether a pause ends it."""
    return text_hash(f"{text}\n(no pause after it)" if key in ends else text)


def prepare(sound):
    """Make a clip phone-ready: silence trimmed, normalised, 8 kHz mono 16-bit."""
    from pydub import effects
    from pydub.silence import detect_leading_silence

    start = detect_leading_silence(sound, silence_threshold=-50)
    end = detect_leading_silence(sound.reverse(), silence_threshold=-50)
    trimmed = sound[start : len(sound) - end] if len(sound) - end > start else sound
    return (
        effects.normalize(trimmed, headroom=1.0)
        .set_frame_rate(RATE)
        .set_channels(1)
        .set_sample_width(2)
    )


def load_manifest(directory):
    path = Path(directory) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def render(prompts, lang, directory, force=False, progress=None, ends=frozenset()):
    """Render a language's prompts and clips; return (rendered, unchanged, removed) counts.

    Only texts whose hash differs from the manifest's are spoken again, on every core: each
    clause is an espeak-ng process of its own, so one at a time left the cores idle. The
    prompts in `ends` (turn_ends) end at their last word, the others with its mark's pause.
    """
    folder = Path(directory) / lang
    folder.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(folder)
    wanted = items(prompts, lang)
    entries = sorted(wanted.items())
    stale = [
        (key, text)
        for key, text in entries
        if force
        or manifest.get(key) != digest(key, text, ends)
        or not (folder / f"{key}.wav").exists()
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = {
            key: pool.submit(_render_one, prompts, lang, folder, key, text, key not in ends)
            for key, text in stale
        }
        for key, text in (progress or (lambda x: x))(entries):
            if key in done:
                done[key].result()
                manifest[key] = digest(key, text, ends)
    rendered, unchanged = len(stale), len(entries) - len(stale)
    removed = 0
    for path in folder.glob("*.wav"):
        if path.stem not in wanted:
            path.unlink()
            removed += 1
    manifest = {key: manifest[key] for key in sorted(wanted)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return rendered, unchanged, removed


def _render_one(prompts, lang, folder, key, text, pause_after=True):
    """Speak one text into its WAV; a whole prompt ends with the pause after its last mark."""
    sound = prepare(tts.synthesize(text))
    if key in prompts.texts[lang] and pause_after:
        sound += tts.audio_segment().silent(tts.final_pause(text), frame_rate=RATE)
    sound.export(folder / f"{key}.wav", format="wav").close()


class Library:
    """The rendered clips of every language, and the phrases assembled from them."""

    def __init__(self, prompts, directory, cache, secret="", clock=None):
        self.prompts = prompts
        self.secret = secret.encode()  # keys phrase ids, so nobody can compute one
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.purged_at = None
        self.directory = Path(directory)
        self.cache = Path(cache)
        self.manifests = {lang: load_manifest(self.directory / lang) for lang in prompts.texts}
        self.loaded = {}  # clips read from disk
        self.words = {}  # audio path -> the words it says (paths are content-addressed)
        # Which clip says a character of a Mandarin value; English clips are named for their word.
        self.by_text = {
            lang: {text: key for key, text in clips.items()}
            for lang, clips in prompts.clips.items()
        }
        self.sandhi = {lang: sandhi_clips(prompts, lang) for lang in prompts.clips}

    def has(self, lang, key):
        return key in self.manifests.get(lang, {}) and self.path(lang, key).exists()

    def path(self, lang, key):
        return self.directory / lang / f"{key}.wav"

    def value_clips(self, lang, text):
        """The clips that read a spoken value: a character (or a word) at a time."""
        clips = []
        tokens = text if lang == "zh" else en.words(text).replace(",", " , ").split()
        for token in tokens:
            if token in VALUE_PAUSES:
                clips.append(PAUSE)
            elif token.strip():
                if lang == "zh":
                    key = self.by_text[lang].get(token)
                else:
                    key = (
                        f"clip_{token.lower()}"
                        if f"clip_{token.lower()}" in self.prompts.clips[lang]
                        else None
                    )
                if key is None:
                    raise AudioError(f"no clip says {token!r} in {lang}")
                clips.append(key)
        return clips

    def recipe(self, lang, phrase):
        """The clips that say a phrase, in order; raise AudioError if one is missing."""
        params = dict(phrase.params)
        text = self.prompts.texts[lang][phrase.key]
        parts = template_parts(text)
        clips = []
        if all(kind == "text" for kind, _ in parts):
            clips.append(phrase.key)
        for index, (kind, piece) in enumerate(parts):
            if kind == "text":
                if len(parts) > 1:  # a piece: its edges' marks are pauses of the phrase
                    before, _, after = EDGES.fullmatch(piece).groups()
                    clips.append(pause(before))
                    if SPEAKABLE.search(piece):
                        clips.append(f"{phrase.key}.{index}")
                    clips.append(pause(after))
                continue
            value = params.get(piece)
            if isinstance(value, Ref):
                clips.append(value.key)
            elif isinstance(value, Value):
                clips += self.value_clips(lang, value.speak(lang))
            else:
                raise AudioError(f"{phrase.key}: no clips for the value of {piece!r}")
        clips = self.tones(lang, [clip for clip in clips if clip])
        missing = [clip for clip in clips if not is_pause(clip) and not self.has(lang, clip)]
        if missing:
            raise AudioError(f"{phrase.key}: audio/{lang}/{missing[0]}.wav is not rendered")
        return clips

    def tones(self, lang, clips):
        """Swap each clip of 一 for the one in the tone the words around it give it."""
        variants = self.sandhi.get(lang)
        if not variants:
            return clips
        texts = [self.clip_text(lang, clip) for clip in clips]
        syllables = tts.pinyin("".join(texts))
        out, at = [], 0
        for clip, text in zip(clips, texts, strict=True):
            if text == "一" and clip == self.by_text[lang]["一"]:
                clip = variants.get(syllables[at], clip)
            out.append(clip)
            at += len(text)
        return out

    def phrase_id(self, lang, clips):
        """Name an assembled phrase by a keyed hash of its content (clips and their texts).

        Keyed with SECRET_KEY: a plain content hash would let anyone test whether a given
        balance was spoken on this line by fetching its URL.
        """
        manifest = self.manifests[lang]
        material = "\n".join([lang, *(f"{c}:{manifest.get(c, '')}" for c in clips)])
        return hmac.new(self.secret, material.encode(), hashlib.sha256).hexdigest()[:32]

    def purge(self, store, now):
        """Forget phrases last spoken more than PHRASE_RETENTION ago: their rows and files."""
        before = now - PHRASE_RETENTION
        if store is not None:
            store.purge_phrases(before)
        for path in self.cache.glob("*.wav") if self.cache.exists() else ():
            try:
                if path.stat().st_mtime < before.timestamp():
                    path.unlink()
            except FileNotFoundError:  # another worker purged it first
                pass
        self.purged_at = now

    def clip(self, lang, key):
        """Load a rendered clip once; clips are small and phrases reuse them all the time."""
        if (lang, key) not in self.loaded:
            data = io.BytesIO(self.path(lang, key).read_bytes())
            self.loaded[lang, key] = tts.audio_segment().from_wav(data)
        return self.loaded[lang, key]

    def assemble(self, lang, clips):
        """Join clips into one phrase: a short silence between two clips, or the pause asked."""
        AudioSegment = tts.audio_segment()
        sound, waiting = AudioSegment.empty(), None
        for clip in clips:
            if is_pause(clip):
                waiting = max(waiting or 0, pause_ms(clip))
                continue
            if len(sound):
                sound += AudioSegment.silent(JOIN_MS if waiting is None else waiting, RATE)
            sound += self.clip(lang, clip)
            waiting = None
        if waiting and len(sound):  # the phrase's last mark: the pause before the next phrase
            sound += AudioSegment.silent(waiting, RATE)
        return sound.set_frame_rate(RATE).set_channels(1).set_sample_width(2)

    def cached(self, phrase_id, lang, clips):
        """Return the phrase's WAV on disk, assembling it the first time."""
        path = self.cache / f"{phrase_id}.wav"
        if not path.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp")
            self.assemble(lang, clips).export(partial, format="wav").close()
            partial.replace(path)  # atomic: a concurrent GET never sees half a file
        return path

    def clip_text(self, lang, key):
        """The words a rendered file says."""
        if key == PAUSE:
            return "，" if lang == "zh" else ","
        if is_pause(key):
            return key[len(PAUSE) :]
        if key in self.prompts.clips[lang]:
            return self.prompts.clips[lang][key]
        if key in self.sandhi.get(lang, {}).values():
            return "一"
        name, _, index = key.partition(".")
        text = self.prompts.texts[lang].get(name, "")
        if index:  # a piece: the marks at its edges are the recipe's pauses
            return EDGES.fullmatch(template_parts(text)[int(index)][1]).group(2)
        return text

    def text_of(self, path, store):
        """The words an audio path of ours says (for showing a played prompt), or None."""
        if path not in self.words:
            self.words[path] = self._text_of(path, store)
        return self.words[path]

    def _text_of(self, path, store):
        match = re.fullmatch(r"/audio/(?:(zh|en)/([a-z0-9_.]+)|phrase/([0-9a-f]{32}))\.wav", path)
        if not match:
            return None
        if match.group(1):
            return self.clip_text(match.group(1), match.group(2))
        found = store.load_phrase(match.group(3))
        if found is None:
            return None
        lang, clips = found
        joiner = "" if lang == "zh" else " "
        said = joiner.join(self.clip_text(lang, clip) for clip in clips)
        return re.sub(rf"\s+([{MARKS}])", r"\1", said)

    def url_path(self, lang, phrase, store):
        """The path a <Play> fetches for a phrase; the phrase's recipe is kept in the store."""
        clips = self.recipe(lang, phrase)
        if clips == [phrase.key]:
            return f"/audio/{lang}/{phrase.key}.wav"
        phrase_id = self.phrase_id(lang, clips)
        now = self.clock()
        if store is not None:  # None: the busy path, which must not need the store
            store.save_phrase(phrase_id, lang, clips, now)
            if self.purged_at is None or now - self.purged_at > PURGE_EVERY:
                self.purge(store, now)
        path = self.cached(phrase_id, lang, clips)
        os.utime(path, (now.timestamp(), now.timestamp()))  # spoken again: keep it
        return f"/audio/phrase/{phrase_id}.wav"


def library():
    """Return the current app's audio library (for routes and CLI commands)."""
    return current_app.extensions["ivr"].audio


def serve(path, etag, max_age):
    """Send a WAV with an ETag and Last-Modified, answering 304 to a matching If-None-Match."""
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    body = io.BytesIO(path.read_bytes())
    return send_file(
        body,
        mimetype="audio/wav",
        etag=etag,
        last_modified=modified,
        max_age=max_age,
        conditional=True,
    )


@bp.get("/<lang>/<key>.wav")
def prompt_file(lang, key):
    """A rendered prompt or clip."""
    if lang not in library().manifests or not KEY.fullmatch(key) or not library().has(lang, key):
        abort(404)
    # The ETag is the hash of the text the file was rendered from: it changes when the text does.
    return serve(library().path(lang, key), library().manifests[lang][key], max_age=86400)


@bp.get("/phrase/<phrase_id>.wav")
def phrase_file(phrase_id):
    """An assembled phrase: from the disk cache, or assembled again from its stored recipe."""
    if not PHRASE.fullmatch(phrase_id):
        abort(404)
    path = library().cache / f"{phrase_id}.wav"
    if path.exists():  # assembled here before: no need to ask the store
        return private(serve(path, phrase_id, max_age=None))
    try:
        found = current_app.extensions["ivr"].store.load_phrase(phrase_id)
    except StoreError:
        log.exception("phrase %s: the store is unavailable", phrase_id)
        abort(503)
    if found is None:
        abort(404)
    lang, clips = found
    if any(not is_pause(clip) and not library().has(lang, clip) for clip in clips):
        abort(404)
    path = library().cached(phrase_id, lang, clips)
    return private(serve(path, phrase_id, max_age=None))


def private(response):
    """A phrase can speak a balance: no shared cache (a CDN, a proxy) may keep or serve it."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


@click.group("audio", cls=AppGroup)
def audio_cli():
    """Recorded prompts: render them with espeak-ng."""


@audio_cli.command("render")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Only this language.")
@click.option("--force", is_flag=True, help="Render every prompt, changed or not.")
def render_command(lang, force):
    """Render prompts/<lang>.toml and the number clips to audio/<lang>/*.wav."""
    try:
        tts.espeak()
    except tts.TTSError as error:
        raise click.ClickException(str(error)) from None
    prompts = library().prompts
    directory = library().directory
    ends = turn_ends(current_app.extensions["ivr"].flow)
    for language in [lang] if lang else list(prompts.texts):
        wanted = len(items(prompts, language))
        with click.progressbar(length=wanted, label=f"audio/{language}") as bar:

            def progress(entries, bar=bar):
                for entry in entries:
                    yield entry
                    bar.update(1)

            counts = render(prompts, language, directory, force, progress, ends)
        click.echo(
            f"audio/{language}: {counts[0]} rendered, {counts[1]} unchanged, {counts[2]} removed"
        )


def library_for(app, prompts, clock=None):
    """The app's library: IVR_AUDIO_DIR (default audio/), phrases cached in IVR_AUDIO_CACHE."""
    directory = app.config.get("IVR_AUDIO_DIR") or str(AUDIO_DIR)
    cache = app.config.get("IVR_AUDIO_CACHE") or str(Path(app.instance_path) / "phrases")
    return Library(prompts, directory, cache, secret=app.config["SECRET_KEY"], clock=clock)


def init_app(app):
    app.register_blueprint(bp)
    app.cli.add_command(audio_cli)
