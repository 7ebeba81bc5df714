"""Twilio's error and warning codes, one table for the engine and lint, so both say the same.

Each was checked against Twilio's error dictionary (twilio.com/docs/api/errors/NNNNN).
"""

INVALID_URL = 11100  # Invalid URL format
HTTP_RETRIEVAL = 11200  # HTTP retrieval failure (also a <Play> file that cannot be fetched)
HTTP_TIMEOUT = 11205  # HTTP connection failure: no answer within 15 s
HTTP_BAD_HOST = 11210  # HTTP bad host name
HTTP_REDIRECTS = 11215  # HTTP too many redirects
HTTP_STATUS = 11217  # HTTP error response code
PARSE = 12100  # Document parse failure
ROOT = 12102  # The root element must be Response
SCHEMA = 12200  # Schema validation warning (unknown verb, attribute or child)
CONTENT_TYPE = 12300  # Invalid Content-Type
DIAL_TIMEOUT = 13212  # Dial: Invalid timeout value
DIAL_TIME_LIMIT = 13213  # Dial: Invalid timeLimit value
DIAL_RECORD = 13217  # Dial: Invalid record value
# Dial: Twilio does not support calling this number or the number is invalid. Twilio's docs
# say nothing of a <Dial> with nothing in it; nothing is no number, so we give this code.
DIAL_INVALID_NUMBER = 13224
CONFERENCE_WAIT_VERB = 13238  # Dial->Conference: only Say, Play, Pause, Redirect in waitUrl
GATHER_FINISH_ON_KEY = 13310  # Gather: Invalid finishOnKey value
GATHER_METHOD = 13312  # Gather: Invalid method value
GATHER_TIMEOUT = 13313  # Gather: Invalid timeout value
GATHER_NUM_DIGITS = 13314  # Gather: Invalid numDigits value
GATHER_NESTED = 13320  # Gather: Invalid nested verb
GATHER_SAY_VOICE = 13321  # Gather->Say: Invalid voice value
GATHER_SAY_LOOP = 13322  # Gather->Say: Invalid loop value
GATHER_PLAY_TYPE = 13325  # Gather->Play: Invalid Content-Type
GATHER_SPEECH_TIMEOUT = 13327  # Gather: Invalid speechTimeout value
GATHER_EMPTY_RESULT = 13338  # Gather: Invalid actionOnEmptyResult value
PLAY_LOOP = 13410  # Play: Invalid loop value
PLAY_TYPE = 13420  # Play: Invalid Content-Type
SAY_LOOP = 13510  # Say: Invalid loop value
SAY_VOICE = 13511  # Say: Invalid voice value
SAY_TEXT = 13520  # Say: Invalid text
RECORD_TIMEOUT = 13611  # Record: Invalid timeout value
RECORD_MAX_LENGTH = 13612  # Record: Invalid maxLength value
RECORD_FINISH_ON_KEY = 13613  # Record: Invalid finishOnKey value
REDIRECT_METHOD = 13710  # Redirect: Invalid method value
PAUSE_LENGTH = 13910  # Pause: Invalid length value

# What a hold document may hold. Conference (error 13238): Say, Play, Pause, Redirect.
# Enqueue's waitUrl page lists Play, Say, Pause, Hangup, Redirect, Leave and Gather; Twilio's
# dictionary has no code of its own for another verb there, so the engine and lint say 12200.
CONFERENCE_WAIT_VERBS = ("Say", "Play", "Pause", "Redirect")
QUEUE_WAIT_VERBS = ("Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather")
HOLD_VERBS = {  # waitUrl kind -> (the verbs Twilio plays there, the code for another)
    "queue": (QUEUE_WAIT_VERBS, SCHEMA),
    "conference": (CONFERENCE_WAIT_VERBS, CONFERENCE_WAIT_VERB),
}
