"""Read the caller's keys at a terminal: a countdown for the Gather timeout, a PIN never echoed.

The prompt and the countdown go to stderr: stdout is the transcript (or the JSON).
"""

import codecs
import os
import select
import sys
import termios
import time
import tty

ERASE = "\r\x1b[K"  # back to the start of the line and clear it
BACKSPACE = ("\x7f", "\b")


def interactive():
    """True when the keys come from a person at a terminal (a countdown makes sense)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def read_line(prompt, timeout=None, first=None, secret=False):
    """Read one entry; None when the countdown runs out with nothing typed. EOFError on Ctrl-D.

    On a terminal the keys are read one by one without echo: a secret entry shows a dot per
    key, anything else shows as typed, and a countdown runs that restarts with each key, the
    way a Gather's timeout does: `first` seconds before the first key (the prompt still
    playing, then the timeout), `timeout` after each. When it runs out, what was typed is
    sent, as Twilio sends the digits gathered so far. Elsewhere (a pipe, a file) it is a plain
    line, with no countdown.
    """
    if not interactive():
        print(prompt, end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")
    return _read_tty(prompt, timeout, timeout if first is None else first, secret)


def _read_tty(prompt, timeout, first, secret):
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    typed = ""
    deadline = None if timeout is None else time.monotonic() + first
    try:
        tty.setcbreak(fd)  # no echo, no line buffering; Ctrl-C still interrupts
        while True:
            shown = "•" * len(typed) if secret else typed
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            clock = "" if left is None else f"   [{left:4.0f} s]"
            sys.stderr.write(f"{ERASE}{prompt}{shown}{clock}")
            sys.stderr.flush()
            if left == 0:
                sys.stderr.write(ERASE)  # the transcript's next line says what was sent
                return typed or None
            ready, _, _ = select.select([fd], [], [], 1.0 if left is None else min(1.0, left))
            if not ready:
                continue
            char = decoder.decode(os.read(fd, 4))
            for key in char:
                if key in "\r\n":
                    sys.stderr.write(ERASE)
                    return typed
                if key == "\x04":  # Ctrl-D
                    if not typed:
                        sys.stderr.write("\n")
                        raise EOFError
                elif key in BACKSPACE:
                    typed = typed[:-1]
                elif key == "\x15":  # Ctrl-U
                    typed = ""
                elif key.isprintable():
                    typed += key
                if deadline is not None:
                    deadline = time.monotonic() + timeout
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
