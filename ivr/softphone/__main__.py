"""Let `python -m ivr.softphone` dial."""

import sys

from ivr.softphone.cli import main

sys.exit(main())
