"""How the engine writes JSON columns: with orjson (a compiled encoder, several times faster
than the standard library's on the payloads, responses and audit details every write
stores), falling back to the standard library for what orjson refuses (an integer beyond 64
bits, which free-form answers may hold), so it accepts what the standard library does.

Reading stays with the standard library: orjson reads an integer beyond 64 bits as a float,
which would change a stored answer."""

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)
