"""Phone numbers as Twilio sends them: E.164 where it can normalise, with geographic fields.

Twilio sends `To`/`From` in E.164 where it can normalise the number, else the raw string
(a short service number such as 12333 has no E.164 form). The softphone's numbers are
Chinese unless they say otherwise: a leading 0 is the trunk prefix (010-12333 is
+86 10 12333) and 1[3-9] plus 9 digits is a mobile. `ToCity`, `ToState` and `ToZip` are sent
empty, as Twilio sends them where its lookup has nothing; `ToCountry` is the country code's.
"""

import re

HOME = ("+86", "CN")  # the country of numbers dialled without one
COUNTRIES = (("+852", "HK"), ("+853", "MO"), ("+886", "TW"), ("+86", "CN"), ("+44", "GB"))
COUNTRIES += (("+1", "US"),)
SEPARATORS = re.compile(r"[\s\-().]")


def e164(number):
    """The number as Twilio would send it: E.164 where it can be normalised, else as given."""
    raw = str(number or "").strip()
    compact = SEPARATORS.sub("", raw)
    if not re.fullmatch(r"\+?\d+", compact):
        return raw  # client:alice, sip:..., anonymous
    if compact.startswith("+"):
        return compact
    if compact.startswith("00"):
        return "+" + compact[2:]
    if compact.startswith("0") and len(compact) > 7:
        return HOME[0] + compact[1:]
    if re.fullmatch(r"1[3-9]\d{9}", compact):
        return HOME[0] + compact
    return raw


def country(number):
    """The ISO country of an E.164 number; a number with no country code is at home."""
    if not number.startswith("+"):
        return HOME[1]
    return next((code for prefix, code in COUNTRIES if number.startswith(prefix)), "")


def geography(prefix, number):
    """Twilio's geographic parameters for one side of the call: ToCountry, ToState..."""
    return {
        f"{prefix}Country": country(number),
        f"{prefix}State": "",
        f"{prefix}City": "",
        f"{prefix}Zip": "",
    }
