"""`python -m ivr.softphone [URL]`: dial a TwiML app from the terminal, by hand or by script."""

import argparse
import json
import os
import shutil
import subprocess
import sys

from ivr import tts
from ivr.softphone import dialer
from ivr.softphone.interpreter import Call
from ivr.softphone.interpreter import Keys
from ivr.softphone.recorder import Recorder

HELP_KEYS = "keys then Enter (e.g. 1, 110105194912310021#); '.' or Enter for silence; 'q' hangs up"


def describe(event):
    """One transcript line for an event."""
    data = event.data
    match event.kind:
        case "dial":
            text = f"{data['url']} (To {data['to']})"
        case "say":
            text = data["text"] + (
                f"   [cut after {data['duration']:.1f}s]" if data.get("cut") else ""
            )
        case "play":
            text = data.get("url") or f"tones {data.get('digits')}"
        case "keys" | "lost_keys":
            text = data["keys"] + ("   (masked)" if data.get("secret") else "")
        case "silence" | "pause":
            text = f"{data['duration']}s"
        case "transfer":
            text = data["to"]
        case "error" | "warning":
            text = f"{data['code']}: {data['message']}"
        case "hangup":
            text = f"by {data['by']}" + (f" ({data['reason']})" if data.get("reason") else "")
        case _:
            text = " ".join(f"{k}={v}" for k, v in data.items())
    return f"[{event.t:7.1f}s] {event.kind:<9} {text}"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m ivr.softphone",
        description="Dial a TwiML voice app offline, as Twilio would (no URL: the hotline).",
    )
    parser.add_argument("url", nargs="?", help="the Voice URL (default: this app, in-process)")
    parser.add_argument("--to", default="12333", help="the dialled number, e.g. 0991-12333")
    parser.add_argument("--from", dest="caller", default="+8613800138000", help="the caller ID")
    parser.add_argument("--keys", help='scripted: one group per prompt, "." for silence')
    parser.add_argument("--json", action="store_true", help="print the call as JSON events")
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    parser.add_argument("--status-callback", help="URL to POST when the call ends")
    parser.add_argument("--fallback-url", help="URL to POST when a webhook fails")
    parser.add_argument("--method", default="POST", choices=("POST", "GET"))
    parser.add_argument("--record", metavar="FILE.wav", help="write what the caller heard")
    parser.add_argument(
        "--audio",
        choices=("auto", "on", "off"),
        default="auto",
        help="speak prompts aloud with espeak-ng (auto: when interactive and a sound card exists)",
    )
    return parser.parse_args(argv)


def make_fetch(args):
    """Pick the transport: real HTTP to a URL, or the hotline app in-process."""
    token = args.token or dialer.default_token()
    if args.url:
        return dialer.http_fetch(token), args.url
    from ivr import create_app

    app = create_app()
    return dialer.app_fetch(app, token), "http://localhost/voice"


def speaker(mode, scripted):
    """Return a function that speaks a prompt aloud, or None where the machine cannot."""
    espeak = shutil.which("espeak-ng")
    has_sound = os.path.exists("/dev/snd") or bool(os.environ.get("PULSE_SERVER"))
    if mode == "off" or (mode == "auto" and (scripted or not has_sound)) or not espeak:
        if mode == "on" and not espeak:
            print("note: no espeak-ng; prompts are shown, not spoken", file=sys.stderr)
        return None

    def speak(text, language):
        for voice, part in tts.runs(text):
            subprocess.run([espeak, "-v", voice, part], check=False, timeout=120)

    return speak


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    fetch, url = make_fetch(args)
    call = Call(
        url,
        fetch,
        to=args.to,
        caller=args.caller,
        method=args.method,
        measure=dialer.measurer(fetch),
        status_callback=args.status_callback,
        fallback_url=args.fallback_url,
    )
    scripted = args.keys is not None
    groups = args.keys.split() if scripted else []
    speak = speaker(args.audio, scripted)
    shown = 0

    def show():
        nonlocal shown
        if not args.json:
            for event in call.events[shown:]:
                print(describe(event), flush=True)
                if speak and event.kind == "say":
                    speak(event.data["text"], event.data.get("language"))
        shown = len(call.events)

    call.start()
    show()
    while not call.ended:
        if scripted:
            if not groups:
                call.hangup()
                break
            call.send(Keys.parse(groups.pop(0)))
        else:
            try:
                line = input(f"keys> ({HELP_KEYS}) " if shown < 3 else "keys> ")
            except EOFError:
                line = "q"
            if line.strip().lower() in ("q", "quit"):
                call.hangup()
            else:
                call.send(Keys.parse(line))
        show()
    show()
    if args.json:
        print(json.dumps([event.as_dict() for event in call.events], ensure_ascii=False, indent=1))
    else:
        print(f"call {call.status}, {call.t:.1f} s simulated")
    if args.record:
        recorder = Recorder(fetch)
        seconds = recorder.record(call.events, args.record)
        for note in recorder.notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"recorded {seconds:.1f} s to {args.record}", file=sys.stderr)
    return 0 if not any(e.kind == "error" for e in call.events) else 1
