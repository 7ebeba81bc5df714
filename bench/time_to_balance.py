"""Seconds from dial to the first word of the balance, for a caller who waits out every prompt.

Dials the app in-process with the softphone, in both voice modes: `play` times the rendered
WAVs, `say` uses the softphone's estimate of Twilio's speech. Prints figures; asserts nothing.

Run: .venv/bin/python bench/time_to_balance.py

Two figures per caller: "prompts" is the speech heard before the balance (what a caller
sits through); "clock" adds the caller's own time, a second to react after each prompt and
0.4 s a key (the softphone's model). "offer" is when the language offer starts: exact when it
is a prompt of its own, else interpolated by characters inside the prompt that holds it.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from softphone.interpreter import estimate_say  # noqa: E402
from softphone.phone import Phone  # noqa: E402

from ivr import create_app  # noqa: E402
from ivr.accounts import demo_document  # noqa: E402
from ivr.accounts import import_accounts  # noqa: E402

# (caller, language, key groups up to the balance). The demo retiree 张秀英 of Beijing; one
# entry takes the ID or the card number (no ID/card menu).
# "{offer}" presses 9 as soon as "For English, press 9" has been said.
CALLERS = (
    ("ID", "zh", ("1", "11010519491231002*#", "123456#")),
    ("card", "zh", ("1", "110000001#", "123456#")),
    ("ID", "en", ("9", "1", "11010519491231002*#", "123456#")),
    ("card", "en", ("9", "1", "110000001#", "123456#")),
    ("ID", "en@9", ("9@{offer}", "1", "11010519491231002*#", "123456#")),
)
OFFER_SECONDS = 2.0  # "For English, press 9" said, the caller presses
OFFER = {"zh": "For English", "en": "普通话"}  # the other language's offer, as a caller hears it
SPOKEN = ("say", "play")
TOKEN = "bench-token"  # requests are signed and checked, as on a real line


def make_app(folder, mode):
    app = create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "SECRET_KEY": "bench-secret-key-not-the-public-one",
            "DATABASE_URL": f"sqlite:///{folder}/{mode}.sqlite3",
            "IVR_VOICE_MODE": mode,
            "IVR_AUDIO_CACHE": f"{folder}/phrases",
        }
    )
    hotline = app.extensions["ivr"]
    today = hotline.clock().date()
    import_accounts(demo_document(hotline.regions, today), hotline.regions, hotline.store)
    return app


def words(app, event):
    """The words a say or play event spoke."""
    if event.kind == "say":
        return event.data["text"]
    url = event.data.get("url", "")
    path = url[url.index("/audio/") :] if "/audio/" in url else url
    return app.extensions["ivr"].words(path) or ""


def offer_at(app, spoken, lang):
    """When the other language's offer starts: the first event that says it, and where in it."""
    for event in spoken:
        text = words(app, event)
        if OFFER[lang] not in text:
            continue
        before = text[: text.index(OFFER[lang])]
        if not before.strip():
            return event.t
        if event.kind == "say":
            return event.t + estimate_say(before, event.data["language"]) - 0.3
        return event.t + event.data["duration"] * len(before) / len(text)
    return None


def walk(app, keys, offer=None):
    """Dial, press each group after its prompts, and time the balance and the offer."""
    phone = Phone.for_app(app, token=TOKEN)
    phone.dial()
    for group in keys:
        phone.press(group.format(offer=f"{(offer or 0) + OFFER_SECONDS:.1f}"))
    events = phone.events
    last_keys = max(i for i, e in enumerate(events) if e.kind == "keys")
    spoken = [e for e in events if e.kind in SPOKEN]
    balance = next(e for e in events[last_keys:] if e.kind in SPOKEN)
    heard = sum(e.data["duration"] for e in spoken if e.t < balance.t)
    return heard, balance.t, offer_at(app, spoken, "zh"), words(app, balance)


def main():
    with tempfile.TemporaryDirectory() as folder:
        print("seconds to the first word of the balance, waiting out every prompt")
        print("(en@9: presses 9 as the offer ends, then waits out every prompt)")
        print(f"{'mode':<5} {'caller':<8} {'prompts':>8} {'clock':>7}   balance says")
        offers = {}
        for mode in ("play", "say"):
            app = make_app(folder, mode)
            for caller, lang, keys in CALLERS:
                heard, clock, offer, said = walk(app, keys, offers.get(mode))
                if lang == "zh":
                    offers[mode] = offer
                print(
                    f"{mode:<5} {caller + ' ' + lang:<8} {heard:>7.1f}s {clock:>6.1f}s   {said[:40]}"
                )
        for mode, offer in offers.items():
            shown = "never" if offer is None else f"{offer:.1f} s"
            print(f"{mode:<5} language offer (For English) starts at {shown}")


if __name__ == "__main__":
    main()
