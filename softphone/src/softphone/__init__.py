"""The softphone: an offline stand-in for Twilio's voice engine that dials any TwiML URL."""
