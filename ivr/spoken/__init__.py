"""Numbers, money, months and digit strings written for the ear, one module per language."""

from dataclasses import dataclass

from ivr.spoken import en
from ivr.spoken import zh

LANGUAGES = {"zh": zh, "en": en}


def for_language(lang):
    """Return the spoken module for a language code ("zh" or "en")."""
    return LANGUAGES[lang]


@dataclass(frozen=True)
class Value:
    """A value to be read aloud: `kind` names the spoken function (amount, month, digits...).

    Phrases carry values, not text, so each language (and, later, each audio mode) reads
    them its own way.
    """

    kind: str
    value: object

    def speak(self, lang):
        """Return the value written for the ear in `lang`."""
        return getattr(for_language(lang), self.kind)(self.value)
