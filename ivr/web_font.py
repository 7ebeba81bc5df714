"""Build the dialer's Chinese web font: a subset of WenQuanYi Micro Hei with only the characters
the line and the page use, so Chinese renders on a machine with no CJK font, without a CDN.

Run by `make font` (which fetches Debian's fonts-wqy-microhei, Apache-2.0); the subset is
committed. A test checks it still covers every character, so a new prompt asks for a rebuild.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FONT = ROOT / "ivr" / "static" / "fonts" / "wqy-microhei-subset.woff2"
# Everything whose words can reach the page: prompts, region names, numbers read aloud, the page.
SOURCES = (
    "prompts/*.toml",
    "ivr/regions.toml",
    "ivr/spoken/*.py",
    "ivr/templates/*.html",
    "ivr/static/*.js",
)
ASCII = "".join(chr(code) for code in range(0x20, 0x7F))


def characters():
    """Every character the prompts and the page can show, printable ASCII included."""
    found = set(ASCII)
    for pattern in SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            found |= {c for c in path.read_text(encoding="utf-8") if c.isprintable()}
    return "".join(sorted(found))


def build(source, target=FONT):
    """Subset `source` (a .ttf or .ttc, first face) to the characters, as WOFF2."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(source, fontNumber=0, recalcTimestamp=False)  # the same input, the same bytes
    options = subset.Options()
    options.flavor = "woff2"
    options.name_IDs = ["*"]  # keep the family name and the licence fields
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters())
    subsetter.subset(font)
    font.flavor = "woff2"
    font.save(str(target))
    return target


if __name__ == "__main__":
    out = build(sys.argv[1])
    print(f"{out.relative_to(ROOT)}: {len(characters())} characters, {out.stat().st_size} bytes")
