"""What went wrong outside the call, said in one line with what to do about it."""

import logging
import re
import sys
import traceback

from softphone.interpreter import FetchError


class AppLog(logging.Handler):
    """Show what an in-process app logs, one line per record without traceback; count errors."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.errors = 0
        self.failures = []  # the exception lines of each logged traceback

    def emit(self, record):
        line = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.errors += 1
        # A filter may have formatted (and masked) the traceback already, into exc_text.
        text = record.exc_text or (traceback_text(record.exc_info[1]) if record.exc_info else "")
        if text:
            self.failures += failure_lines(text)
            line += f" ({summary(failure_lines(text))})"
        print(f"app {record.levelname.lower()}: {line}", file=sys.stderr, flush=True)


def traceback_text(error):
    return "".join(traceback.format_exception(error)) if error else ""


def failure_lines(text):
    """The exception lines of a formatted traceback, root cause first."""
    skip = ("Traceback", "During handling", "The above exception")
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line[0].isspace() and not line.startswith(skip)
    ]


def summary(lines):
    """A traceback in one line: the error and its root cause, each by its class's short name.

    Only these lines: a database error's further lines hold the SQL and its parameters.
    """

    def short(line):
        name, colon, message = line.partition(": ")
        return name.rpartition(".")[2] + colon + message

    if not lines:
        return "unknown error"
    text = short(lines[-1])
    if len(lines) > 1:
        text += f"; caused by {short(lines[0])}"
    return text


def advice(lines):
    """What to check, from the kinds of error an app raised."""
    names = " ".join(line.partition(": ")[0] for line in lines)
    if re.search(r"\b(sqlalchemy|psycopg2?|sqlite3)\.", names):
        return "check the app's database setting (DATABASE_URL in the environment or .env)"
    return "check the app's settings (the environment, .env)"


class Watch:
    """Wrap a fetch to remember the first request that failed and how: for a hint at the end."""

    def __init__(self, fetch):
        self.inner, self.problems = fetch, []

    def __call__(self, method, url, params):
        try:
            reply = self.inner(method, url, params)
        except FetchError as error:
            self.problems.append((url, None, error))
            raise
        if reply.status >= 400:
            self.problems.append((url, reply.status, None))
        return reply

    def hints(self, voice_url):
        """One line per problem that the user can fix, saying how."""
        out = []
        for url, status, error in self.problems:
            if error is not None and error.code == 11200:
                out.append(
                    f"could not reach {url} ({error.message.rpartition(': ')[2]}): is the app "
                    "running and listening there? (With no URL, the softphone runs it in-process.)"
                )
            elif status == 403:
                out.append(
                    f"{url} refused the call (403: bad signature): sign with the app's auth "
                    "token, --token TOKEN or TWILIO_AUTH_TOKEN=TOKEN"
                )
            elif status == 404 and url == voice_url:
                out.append(f"{url} is not found (404): check the Voice URL's path")
        return list(dict.fromkeys(out))
