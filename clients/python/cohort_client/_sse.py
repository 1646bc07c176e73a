"""A small Server-Sent Events parser (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
import collections
import json

Event = collections.namedtuple("Event", "event data id")
Event.__doc__ = """One server-sent event: event name ("message" when unnamed), data (parsed JSON when
the data is JSON, else the text) and the last event id (or None)."""


def parse_sse(lines):
    """Yields an Event per event in lines, an iterable of bytes or str lines (with or without
    their line ending). Comments (": keep-alive") and unknown fields are skipped."""
    event, data, last_id = None, [], None
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        line = line.rstrip("\r\n")
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    value = json.loads(text)
                except ValueError:
                    value = text
                yield Event(event or "message", value, last_id)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            last_id = value
    # An event without its closing blank line is dropped, as the specification says.
