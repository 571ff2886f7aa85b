"""One syntax for keyword options on every command line (``--model-kwargs``, ``--reward-kwargs``, sweep specs).

    --model-kwargs mae=0.5 seed=0             key=value pairs; a value is read as JSON where it parses
                                              (0.5, 3, true, null, "0", [1, 2]), else kept as text
                                              (cuda:0, ckpt/sim-rm); true / false in any case are booleans
    --model-kwargs '{"mae": 0.5, "seed": 0}'  one JSON object
    --model-kwargs mae 0.5 seed 0             the older key-value form, still accepted
    --model-kwargs.seed 0                     ``vlmreward train`` only, the older form: the preset's options
                                              with this one changed (the others replace the preset's)

:func:`parse_kwargs` reads all three; ``vlmreward train``, ``eval``, ``serve`` and ``python -m
recipes sweep`` use it, so an option written for one works for the others.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

KWARGS_HELP = ("key=value pairs (values read as JSON where they parse, else text), e.g. mae=0.5 seed=0 "
               "device=cuda:0, or one JSON object")


class KwargsSyntaxError(ValueError):
    """Keyword options that are neither key=value pairs nor a JSON object."""


def parse_value(text: str) -> Any:
    """``"0.5"`` -> 0.5, ``"3"`` -> 3, ``"true"`` / ``"True"`` -> True, ``"null"`` -> None,
    ``'"0"'`` -> ``"0"``, ``"[1, 2]"`` -> [1, 2]; anything that is not JSON stays text (``"cuda:0"``)."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(tokens: Sequence[str]) -> list[tuple[str, str]]:
    if "=" in tokens[0]:  # key=value key=value ...
        if any("=" not in t for t in tokens):
            raise KwargsSyntaxError(f"expected key=value pairs, got {' '.join(tokens)!r}")
        return [tuple(t.split("=", 1)) for t in tokens]  # type: ignore[misc]
    if len(tokens) % 2:  # the older key value key value ...
        raise KwargsSyntaxError(f"expected key=value pairs, got {' '.join(tokens)!r}")
    return list(zip(tokens[::2], tokens[1::2]))


def parse_kwargs(tokens: str | Sequence[str]) -> dict[str, Any]:
    """Keyword options from command-line tokens (a string is one token); see the module docstring.

    Raises :class:`KwargsSyntaxError` (a ValueError) naming what it could not read."""
    tokens = [tokens] if isinstance(tokens, str) else [t for t in tokens]
    if not tokens or tokens == [""]:
        return {}
    if len(tokens) == 1 and tokens[0].lstrip().startswith("{"):
        try:
            kwargs = json.loads(tokens[0])
        except ValueError as error:
            raise KwargsSyntaxError(f"not a JSON object ({error}): {tokens[0]!r}") from None
        if not isinstance(kwargs, dict):
            raise KwargsSyntaxError(f"expected a JSON object, got {tokens[0]!r}")
        return kwargs
    kwargs = {}
    for key, value in _pairs(tokens):
        if not key or key.startswith("-"):
            raise KwargsSyntaxError(f"bad option name {key!r} in {' '.join(tokens)!r}: expected key=value pairs")
        kwargs[key] = parse_value(value)
    return kwargs


def format_kwargs(kwargs: Mapping[str, Any]) -> list[str]:
    """The ``key=value`` tokens :func:`parse_kwargs` reads back as ``kwargs``."""
    def text(value: Any) -> str:
        return value if isinstance(value, str) and parse_value(value) == value else json.dumps(value)

    return [f"{key}={text(value)}" for key, value in kwargs.items()]
