"""The softphone: an offline stand-in for Twilio's voice engine that dials any TwiML URL.

`Phone.for_url("https://your-host/voice", token="…").dial().press("1")` places a call.
"""

from softphone.phone import Phone

__all__ = ["Phone"]
