"""A call's events as the lines a person reads: the terminal, `test -v` and JUnit show the same."""


def short_url(url, longest=16):
    """A URL for a transcript line: long query values (an app's sealed state) shown as …."""
    base, _, query = url.partition("?")
    if not query:
        return base
    shown = [
        f"{name}={'…' if len(value) > longest else value}" if sep else name
        for name, sep, value in (part.partition("=") for part in query.split("&"))
    ]
    return base + "?" + "&".join(shown)


def describe(event, words=None):
    """One transcript line for an event; `words` tells what a played file says, if known."""
    data = event.data
    cut = f"   [cut after {data['duration']:.1f}s]" if data.get("cut") else ""
    match event.kind:
        case "dial":
            text = f"{data['url']} (To {data['to']})"
        case "gather":
            text = f"→ {short_url(data['action'])}" + ("   (secret)" if data.get("secret") else "")
        case "say":
            text = data["text"] + cut
        case "play":
            said = words(data["url"]) if words and data.get("url") else None
            text = (said or data.get("url") or f"tones {data.get('digits')}") + cut
        case "keys" | "lost_keys":
            text = data["keys"] + ("   (masked)" if data.get("secret") else "")
        case "silence" | "pause":
            text = f"{data['duration']}s"
        case "transfer":
            text = data["to"]
        case "error" | "warning":
            text = f"{data['code']}: {data['message']}"
        case "hangup":
            text = f"by {data['by']}" + (f" ({data['reason']})" if data.get("reason") else "")
        case _:
            text = " ".join(
                f"{k}={short_url(v) if k.endswith('url') and isinstance(v, str) else v}"
                for k, v in data.items()
            )
    return f"[{event.t:7.1f}s] {event.kind:<9} {text}"


def lines(events, words=None):
    """Every event of a call, one line each."""
    return "\n".join(describe(event, words) for event in events)
