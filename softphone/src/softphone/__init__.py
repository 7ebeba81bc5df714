"""The softphone: an offline stand-in for Twilio's voice engine that dials any TwiML URL.

    from softphone import Phone
    phone = Phone.for_url("https://your-host/voice", token="…").dial().press("1")
"""

from softphone.phone import Phone

__all__ = ["Phone"]
