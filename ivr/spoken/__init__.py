"""Numbers, money, months and digit strings written for the ear, one module per language."""

from dataclasses import dataclass
from decimal import Decimal

from ivr.spoken import en
from ivr.spoken import zh

LANGUAGES = {"zh": zh, "en": en}


def for_language(lang):
    """Return the spoken module for a language code ("zh" or "en")."""
    return LANGUAGES[lang]


def to_fen(amount):
    """Turn a Decimal amount of yuan into integer fen, refusing fractions of a fen.

    Money is spoken from integer fen so that no float ever rounds a balance.
    """
    fen = Decimal(amount) * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"amount has more than two decimal places: {amount}")
    return int(fen)


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
