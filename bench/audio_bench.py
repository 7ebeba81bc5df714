"""Benchmark play mode: phrase assembly, cold and cached, and prompt audio from dial to balance.

Run: .venv/bin/python bench/audio_bench.py   (prints figures; asserts nothing)
"""

import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from softphone.phone import Phone  # noqa: E402

from ivr import create_app  # noqa: E402
from ivr.accounts import demo_document  # noqa: E402
from ivr.accounts import import_accounts  # noqa: E402
from ivr.prompts import Phrase  # noqa: E402
from ivr.spoken import Value  # noqa: E402

ROUNDS = 20


def main():
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
                "IVR_VOICE_MODE": "play",
                "IVR_AUDIO_CACHE": f"{folder}/phrases",
            }
        )
        library = app.extensions["ivr"].audio
        with app.app_context():
            store = app.extensions["ivr"].store
            regions = app.extensions["ivr"].regions
            today = app.extensions["ivr"].clock().date()
            import_accounts(demo_document(regions, today), regions, store)
            cold, warm = [], []
            for round_ in range(ROUNDS):
                phrase = Phrase.of(
                    "balance", amount=Value("amount", Decimal(f"{12345 + round_}.67"))
                )
                library.loaded.clear()  # nothing in memory, nothing on disk
                started = time.perf_counter()
                library.url_path("zh", phrase, store)
                cold.append(time.perf_counter() - started)
                started = time.perf_counter()
                library.url_path("zh", phrase, store)
                warm.append(time.perf_counter() - started)
        print(
            f"amount phrase, uncached: median {statistics.median(cold) * 1000:.1f} ms ({ROUNDS} runs)"
        )
        print(
            f"amount phrase, cached:   median {statistics.median(warm) * 1000:.1f} ms ({ROUNDS} runs)"
        )

        phone = Phone.for_app(app)
        phone.dial().press("1").press("1").enter("11010519491231002*#").enter("123456#")
        plays = [e for e in phone.events if e.kind == "play"]
        heard = sum(e.data["duration"] for e in plays)
        balance_ends = plays[-2].t + plays[-2].data["duration"]
        print(
            f"prompt audio, dial to balance, every prompt waited out: {heard:.1f} s in {len(plays)} files"
        )
        print(f"simulated clock at the end of the balance:             {balance_ends:.1f} s")


if __name__ == "__main__":
    main()
