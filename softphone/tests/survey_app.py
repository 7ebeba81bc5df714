"""A small survey app in the manner of Twilio's samples: Say, Gather, Record; GET or POST.

Its Voice URL is configured for one method, as a number's is in Twilio's console, and every
request is checked with twilio's RequestValidator over what that method carries.
"""

from flask import Flask
from flask import Response
from flask import abort
from flask import request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

TOKEN = "survey-token"


def create_app(method="POST", token=TOKEN):
    """The survey, answering only `method` (a GET survey refuses a POST with 405)."""
    app = Flask(f"survey_{method.lower()}")

    @app.before_request
    def check():
        signature = request.headers.get("X-Twilio-Signature", "")
        params = request.form if request.method == "POST" else {}
        # The URL as requested: request.url decodes the query (%3A%2F in a RecordingUrl).
        url = request.base_url + (
            "?" + request.query_string.decode() if request.query_string else ""
        )
        if not RequestValidator(token).validate(url, params, signature):
            abort(403)

    def xml(response):
        return Response(str(response), mimetype="text/xml")

    def route(path):
        return app.route(path, methods=[method])

    @route("/survey")
    def survey():
        response = VoiceResponse()
        response.say("Thanks for taking our survey.")
        gather = response.gather(num_digits=1, action="/survey/rating", method=method)
        gather.say("On a scale of 1 to 5, how likely are you to recommend us?")
        response.redirect("/survey", method=method)
        return xml(response)

    @route("/survey/rating")
    def rating():
        response = VoiceResponse()
        response.say(f"You chose {request.values.get('Digits', 'nothing')}.")
        response.say("Tell us why after the beep.")
        response.record(
            action="/survey/bye", method=method, max_length=10, transcribe=True, timeout=2
        )
        response.redirect("/survey/bye", method=method)  # nothing said: no recording, no action
        return xml(response)

    @route("/survey/quiet")
    def quiet():
        response = VoiceResponse()
        response.gather(num_digits=1, action="/survey/rating", method=method).say("Press a key.")
        response.hangup()
        return xml(response)

    @route("/survey/bye")
    def bye():
        response = VoiceResponse()
        response.say("Thank you for your call.")
        response.hangup()
        return xml(response)

    return app


get_app = create_app("GET")
post_app = create_app("POST")
