"""A second, minimal TwiML app (not the hotline) for dialing the softphone over real HTTP."""

import time

from flask import Flask
from flask import Response
from flask import abort
from flask import request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

TOKEN = "second-app-token"


def create_app():
    app = Flask(__name__)

    @app.before_request
    def check():
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(TOKEN).validate(request.url, request.form, signature):
            abort(403)

    def xml(response):
        return Response(str(response), mimetype="text/xml")

    @app.post("/")
    def menu():
        response = VoiceResponse()
        gather = response.gather(num_digits=1, action="/choice")
        gather.say("Press 1 for a fact. Press 2 for a server error. Press 3 for a broken document.")
        response.say("You pressed nothing.")
        return xml(response)

    @app.post("/choice")
    def choice():
        digit = request.form.get("Digits")
        if digit == "1":
            response = VoiceResponse()
            response.say(
                f"Call {request.form['CallSid'][:2]} heard a fact: octopuses have three hearts."
            )
            response.redirect("/bye")
            return xml(response)
        if digit == "2":
            return Response("boom", status=500)
        if digit == "3":
            return Response("<Response><Say>broken</Response>", mimetype="text/xml")
        if digit == "4":
            time.sleep(2)
        return xml(VoiceResponse())

    @app.post("/bye")
    def bye():
        response = VoiceResponse()
        response.say("Goodbye.")
        response.hangup()
        return xml(response)

    return app
