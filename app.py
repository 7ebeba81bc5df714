"""Entry point for `flask --app app run`."""

from ivr import create_app

app = create_app()
