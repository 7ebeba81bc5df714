"""Load prompts/<lang>.toml and fill their placeholders with values read for the ear."""

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ivr.spoken import Value

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
LANGUAGES = ("zh", "en")


class PromptError(ValueError):
    """Prompt files that disagree with each other or with the code."""


@dataclass(frozen=True)
class Phrase:
    """One prompt to speak: its key, the values for its placeholders, and its own language.

    `lang` None speaks it in the call's language; the language offer names the other one.
    """

    key: str
    params: tuple = ()
    lang: str | None = None

    @classmethod
    def of(cls, key, **params):
        return cls(key, tuple(sorted(params.items())))


@dataclass(frozen=True)
class Ref:
    """A placeholder filled by another prompt's text (a region's name in this language)."""

    key: str


def other_language(lang):
    """The language the `9` key switches a caller of `lang` to."""
    return LANGUAGES[1] if lang == LANGUAGES[0] else LANGUAGES[0]


def placeholders(text):
    """Return the names of the {placeholders} in a prompt text."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _wanted(text):
    """A text's placeholders, or None when it has no braces (most prompts) and needs no filling."""
    return placeholders(text) if "{" in text or "}" in text else None


class Prompts:
    """The prompt texts of every language."""

    def __init__(self, texts, clips=None):
        self.texts = texts
        # Per language, prompt key -> its placeholders (None: spoken as written).
        self.wanted = {
            lang: {key: _wanted(text) for key, text in by_key.items()}
            for lang, by_key in texts.items()
        }
        # Per language, clip key -> the character or word it says (for assembled audio).
        self.clips = clips or {lang: {} for lang in texts}

    def keys(self, lang):
        return set(self.texts[lang])

    def text(self, lang, phrase):
        """Return what a phrase says in `lang`, placeholders filled."""
        text = self.texts[lang][phrase.key]
        wanted = self.wanted[lang][phrase.key]
        if wanted is None:
            return text
        values = {}
        for name, value in phrase.params:
            if name not in wanted:
                continue
            if isinstance(value, Value):
                values[name] = value.speak(lang)
            elif isinstance(value, Ref):
                values[name] = self.texts[lang][value.key]
            else:
                values[name] = str(value)
        return text.format_map(values)

    def check(self, required):
        """Refuse prompt files missing a required key or disagreeing on placeholders."""
        reference = self.texts[LANGUAGES[0]]
        for lang, texts in self.texts.items():
            for key in sorted(required):
                if key not in texts:
                    raise PromptError(f"prompt {key!r} is missing in prompts/{lang}.toml")
            for key in sorted(set(texts) ^ set(reference)):
                raise PromptError(f"prompt {key!r} is in one language file but not in {lang}")
            for key, text in texts.items():
                if placeholders(text) != placeholders(reference[key]):
                    raise PromptError(f"prompt {key!r}: placeholders differ between languages")


def load_prompts(directory=PROMPTS_DIR, languages=LANGUAGES):
    """Load every language's prompt file."""
    texts, clips = {}, {}
    for lang in languages:
        path = Path(directory) / f"{lang}.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise PromptError(f"prompts/{lang}.toml cannot be read: {error}") from None
        clips[lang] = data.pop("clips", {})
        texts[lang] = data
    return Prompts(texts, clips)
