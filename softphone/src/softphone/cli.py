"""`softphone [URL]`: dial a TwiML app from the terminal, by hand or by script."""

import argparse
import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from softphone import diagnose
from softphone import dialer
from softphone import save
from softphone import settings
from softphone import target
from softphone import terminal
from softphone.interpreter import Call
from softphone.interpreter import Keys
from softphone.recorder import Recorder
from softphone.recorder import espeak_voice
from softphone.transcript import describe

PROG = "softphone"
KEYS_HELP = """\
--keys: one group per prompt that waits for the caller, separated by spaces:
  1   110105194912310021#   keys (0-9, * and #), pressed once the prompt has played
  .                         silence: press nothing and let the prompt time out
  12w34#                    w waits half a second between two keys
  1@2.5                     press 1 at 2.5 s into the prompt, cutting it short (barge-in)
  hangup                    hang up (hangup@5: 5 s into the prompt or recording)
  "spoken words"            say words, where a Gather listens for speech (keep the quotes;
                            "spoken words"@2 begins them 2 s into the prompt)
e.g. --keys '1 1 11010519491231002*# 123456# . "yes please" hangup'"""
SHORT_HELP = "keys then Enter; Enter alone or '.' is silence; '1@2.5' barges in; 'q' hangs up"
INTERACTIVE_HELP = """\
Type keys (0-9, * and #) and press Enter; Enter alone or '.' is silence; 'w' waits half a
second; '1@2.5' presses 1 at 2.5 s into the prompt; "quoted words" are speech; 'q', 'hangup',
Ctrl-D or Ctrl-C hang up. On a terminal a countdown shows the prompt and the Gather's timeout
running: when it ends, what you typed is sent (nothing: silence). A PIN is never echoed."""
# One group of --keys: silence, or keys, hangup or quoted words, each with an optional @SECONDS.
GROUP = re.compile(
    r"\.|(?:hangup|[0-9*#w]+|\"[^\"]*\"|'[^']*')(?:@[0-9]+(?:\.[0-9]+)?)?", re.IGNORECASE
)
# --keys split into groups: quoted words (spaces and all, an @SECONDS after the closing quote)
# or a run of anything else; a quote left open is what is left over.
GROUPS = re.compile(r"\"[^\"]*\"\S*|'[^']*'\S*|[^\s\"']\S*")
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


class Refused(Exception):
    """The softphone cannot go on; the message is one line that says what to do."""


def to_keys(group):
    """Turn one group of the key grammar into Keys; ValueError (saying why) when it is not one."""
    if not GROUP.fullmatch(group):
        if "@" in group:
            raise ValueError("'@' needs keys before it and seconds after it, e.g. 1@2.5")
        raise ValueError("keys are 0-9, * and # (and w to wait); words are hangup or quoted")
    if group[0] in "\"'":
        words, _, at = group[1:].rpartition(group[0])
        words = " ".join(words.split())
        if not words:
            raise ValueError("the quotes hold no words")
        return Keys(speech=words, at=float(at[1:]) if at else None)
    keys = Keys.parse(group)  # a stricter engine may refuse more, with a ValueError of its own
    if group.lower() != "hangup" and group != "." and not (keys.keys or keys.hangup):
        raise ValueError("no keys in it")
    return keys


def script(text):
    """Split --keys into Keys, one per group; quoted groups are speech and may hold spaces."""
    groups = GROUPS.findall(text)
    if GROUPS.sub("", text).strip():  # "#" is a key, never a comment; only a quote is left
        raise ValueError("--keys: No closing quotation")
    keys = []
    for number, group in enumerate(groups, 1):
        try:
            keys.append(to_keys(group))
        except ValueError as error:
            raise ValueError(f"--keys: group {number}, {group}, is not valid: {error}") from None
    return keys


class Transcript:
    """Print a call's events as lines, each once, as they become final (nowhere: `out` None)."""

    def __init__(self, call, words=None, speak=None, out=sys.stdout):
        self.call, self.speak, self.out = call, speak, out
        self.words = _courtesy(words) if words else None
        self.printed = []

    def final(self):
        """How many events are final: a waiting Gather's prompts are not, a key may cut them."""
        events = self.call.events
        if (self.call.expects() or {}).get("kind") != "gather":
            return len(events)
        gathers = [i for i, event in enumerate(events) if event.kind == "gather"]
        return gathers[-1] + 1 if gathers else len(events)

    def show(self, everything=False):
        """Print what is new; with `everything`, the waiting prompts too (someone reads them)."""
        events = self.call.events
        upto = len(events) if everything else self.final()
        same = 0  # events printed before and still there (a barge-in replaces the prompts)
        while same < min(len(self.printed), upto) and self.printed[same] is events[same]:
            same += 1
        for event in events[same:upto] if self.out else ():
            print(describe(event, self.words), file=self.out, flush=True)
            if self.speak and event.kind == "say":
                self.say_aloud(event.data)
        self.printed = events[:upto]

    def say_aloud(self, data):
        """Speak a say event, each SSML break a pause where it is written."""
        for text, pause in data.get("pieces") or [[data["text"], 0.0]]:
            if text:
                self.speak(text, data.get("language"))
            time.sleep(pause)


def _courtesy(words):
    """A words hook that never breaks the transcript: words are a courtesy, the URL will do."""

    def safe(url):
        try:
            return words(url)
        except Exception:  # noqa: BLE001
            return None

    return safe


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Dial a TwiML voice app offline, as Twilio would (no URL: the app "
        "named by --app, in-process).",
        epilog=KEYS_HELP + "\n\nInteractive (no --keys):\n" + INTERACTIVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", nargs="?", help="the Voice URL (default: the --app, in-process)")
    parser.add_argument(
        "--app",
        metavar="MODULE:NAME",
        help="the WSGI app to dial in-process when no URL is given, as flask --app names it "
        "(default: $SOFTPHONE_APP, else app:app from the current folder)",
    )
    settings.add_arguments(parser)
    parser.add_argument("--keys", help="scripted: one group per prompt (forms below)")
    parser.add_argument("--json", action="store_true", help="print the call as JSON events")
    parser.add_argument("--token", help="auth token to sign with (default: $TWILIO_AUTH_TOKEN)")
    parser.add_argument("--record", metavar="FILE.wav", help="write what the caller heard")
    parser.add_argument(
        "--save",
        metavar="FILE.yaml",
        help="write the call as a scenario that replays it (secret entries as ${VARIABLES})",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the in-process app's start-up log"
    )
    parser.add_argument(
        "--audio",
        choices=("auto", "on", "off"),
        default="auto",
        help="speak prompts aloud with espeak-ng (auto: when interactive and a sound card exists)",
    )
    return parser.parse_args(argv)


def make_target(args):
    """Pick where the call goes: a URL over HTTP, or an app loaded in-process."""
    token = args.token or dialer.default_token()
    if args.url:
        return target.over_http(args.url, token)
    spec = args.app or os.environ.get("SOFTPHONE_APP") or "app:app"
    module = spec.partition(":")[0]
    try:
        app = target.load_app(spec, quiet=not args.verbose)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise Refused(f"the app {spec} did not start: {error}") from None
        raise Refused(
            f"no app to dial in-process: there is no module {module!r} here; run this from "
            "the app's folder, name it with --app MODULE:NAME, or give the URL of a running app"
        ) from None
    except AttributeError as error:
        raise Refused(f"cannot find the app {spec}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any app that fails to start, said in one line
        lines = diagnose.failure_lines(diagnose.traceback_text(error))
        raise Refused(
            f"the app {spec} did not start: {diagnose.summary(lines)}; {diagnose.advice(lines)}"
        ) from None
    return target.in_process(app, token)


def speaker(mode, scripted, speak_hook=None):
    """Return a function that speaks a prompt aloud, or None where the machine cannot."""
    espeak = shutil.which("espeak-ng")
    player = shutil.which("aplay") or shutil.which("paplay")
    has_sound = os.path.exists("/dev/snd") or bool(os.environ.get("PULSE_SERVER"))
    able = (speak_hook and player) or espeak
    if mode == "off" or (mode == "auto" and (scripted or not has_sound)) or not able:
        if mode == "on" and not able:
            print("note: no espeak-ng; prompts are shown, not spoken", file=sys.stderr)
        return None

    def speak(text, language):
        if speak_hook and player:  # the app's own voice, played as a WAV
            try:
                with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
                    speak_hook(text, language).export(wav.name, format="wav").close()
                    subprocess.run([player, wav.name], check=False, timeout=300)
                return
            except Exception:  # noqa: BLE001 - fall back to espeak-ng's plain voice
                pass
        if espeak:
            subprocess.run([espeak, "-v", espeak_voice(language), text], check=False, timeout=300)

    return speak


def converse(call, transcript, spoken, sent):
    """Take the caller's keys from the terminal until the call ends; `sent` collects them."""
    print(INTERACTIVE_HELP, file=sys.stderr, flush=True)
    call.start()
    transcript.show(everything=True)
    while not call.ended:
        expects = call.expects()
        if expects is None:
            break
        secret = bool(expects.get("secret"))
        timeout = expects.get("timeout") or 5
        # Reading takes the place of hearing: the prompt's length, then the timeout.
        first = timeout + (0 if spoken else expects.get("prompt_seconds", 0))
        label = "PIN (hidden)> " if secret else "keys> "
        try:
            line = terminal.read_line(label, timeout, first, secret)
        except EOFError:
            line = "hangup"
        if line is None:
            keys = Keys()  # the timeout ran out with nothing typed
        elif line.strip().lower() in ("q", "quit"):
            keys = Keys(hangup=True)
        else:
            try:
                keys = to_keys(line.strip() or ".")
            except ValueError as error:
                print(f"  not sent: {error}. {SHORT_HELP}", file=sys.stderr, flush=True)
                continue
        sent.append(keys)
        call.send(keys)
        transcript.show(everything=True)


def play_script(call, transcript, groups, sent):
    """Give the scripted groups to the prompts one by one; hang up when they run out."""
    call.start()
    transcript.show()
    while not call.ended:
        if not groups:
            call.hangup()
            break
        sent.append(groups.pop(0))
        call.send(sent[-1])
        transcript.show()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        groups = script(args.keys) if args.keys is not None else None
    except ValueError as error:
        print(f"{PROG}: {error}\n\n{KEYS_HELP}", file=sys.stderr)
        return EXIT_USAGE
    log = diagnose.AppLog()
    logging.getLogger().addHandler(log)
    logging.getLogger().setLevel(logging.WARNING)
    try:
        return dial(args, groups, log)
    except Refused as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the call started
        return EXIT_INTERRUPTED
    finally:
        logging.getLogger().removeHandler(log)


def dial(args, groups, log):
    """Make the call, print it, and return the exit status."""
    where = make_target(args)
    number = settings.from_args(args)
    watch = diagnose.Watch(where.fetch)
    where = dataclasses.replace(where, fetch=watch)
    call = Call(where.url, watch, measure=where.measure, **number.call_options())
    scripted = groups is not None
    speak = None if args.json else speaker(args.audio, scripted, where.hooks.speak)
    # With --json the events go out at the end; someone at the keys still reads the prompts.
    out = sys.stdout if not args.json else None if scripted else sys.stderr
    transcript = Transcript(call, where.hooks.words, speak, out)
    interrupted, sent = False, []
    try:
        if scripted:
            play_script(call, transcript, groups, sent)
        else:
            converse(call, transcript, spoken=speak is not None, sent=sent)
    except KeyboardInterrupt:
        interrupted = True
        print("\n(Ctrl-C: hanging up)", file=sys.stderr, flush=True)
        call.hangup()  # the status callback is sent, as when a caller puts the phone down
    transcript.show(everything=True)
    if args.json:
        print(json.dumps([event.as_dict() for event in call.events], ensure_ascii=False, indent=1))
    else:
        print(f"call {call.status}, {call.t:.1f} s simulated")
    if args.record:
        recorder = Recorder(watch, speak=where.hooks.speak)
        seconds = recorder.record(call.events, args.record)
        for note in recorder.notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"recorded {seconds:.1f} s to {args.record}", file=sys.stderr)
    if args.save:
        document = save.write_scenario(call.events, args.save, sent, number)
        print(f"saved {len(document['steps'])} steps to {args.save}", file=sys.stderr)
    call.discard_recordings()
    for hint in watch.hints(where.url):
        print(f"{PROG}: {hint}", file=sys.stderr)
    if log.errors:
        print(
            f"{PROG}: the app failed {log.errors} time(s) during the call (its log is above); "
            f"{diagnose.advice(log.failures)}",
            file=sys.stderr,
        )
    if interrupted:
        return EXIT_INTERRUPTED
    failed = log.errors or any(event.kind == "error" for event in call.events)
    return 1 if failed else 0
