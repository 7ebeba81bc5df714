"""Money as integer fen: exact on every database and in every spoken form, never a float."""

from decimal import Decimal


def to_fen(amount):
    """Turn yuan (Decimal, str or int) into integer fen, refusing fractions of a fen."""
    fen = Decimal(amount) * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"amount has more than two decimal places: {amount}")
    return int(fen)


def from_fen(fen):
    """Turn integer fen into Decimal yuan with two places."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))
