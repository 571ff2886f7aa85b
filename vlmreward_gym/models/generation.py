"""Generated answers of a Qwen3-VL reward model, parsed, with one sampled retry for rows that do not parse.

Nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from vlmreward_gym.models.qwen_vl import QwenVL


class UnparseableOutputError(RuntimeError):
    """A generative reward model's text had no answer in the expected format, even after a retry."""

    def __init__(self, message: str, texts: Sequence[str]):
        super().__init__(message)
        self.texts = list(texts)


def generate_parsed(vl: QwenVL, texts: Sequence[str], videos: Sequence, images: Sequence, parse: Any,
                    max_new_tokens: int, what: str, default: Any = None
                    ) -> tuple[list[Any], list[list[str]], list[int]]:
    """Generate, parse each row, regenerate the unparsed rows once with sampling, else raise.

    Args:
        default: value for rows that fail twice instead of raising (None: raise); each such row
            is reported with a ``RuntimeWarning`` and its index is in ``fell_back``.
    Returns:
        ``(values, attempts, fell_back)``: the parsed value of every row, the texts each row
        produced, and the indices of the rows that got ``default``.
    Raises:
        UnparseableOutputError: carrying the texts of the rows that failed twice.
    """
    batch = vl.batch(texts, videos, images)
    first = vl.generate(batch, max_new_tokens)
    attempts = [[t] for t in first]
    values = [parse(t) for t in first]
    retry = [i for i, v in enumerate(values) if v is None]
    if retry:
        again = vl.batch([texts[i] for i in retry], [videos[i] for i in retry] if videos else (),
                         [images[i] for i in retry] if images else ())
        for i, text in zip(retry, vl.generate(again, max_new_tokens, sample=True)):
            attempts[i].append(text)
            values[i] = parse(text)
    failed = [i for i, v in enumerate(values) if v is None]
    if failed and default is not None:
        for i in failed:
            values[i] = default
        warnings.warn(f"reward model {vl.name!r} produced no {what} after a retry for clips {failed}; "
                      f"answering the fallback {default!r}", RuntimeWarning, stacklevel=2)
    elif failed:
        shown = "; ".join(f"clip {i}: {attempts[i]!r}" for i in failed)
        raise UnparseableOutputError(f"reward model {vl.name!r} produced no {what} after a retry: {shown}",
                                     [t for i in failed for t in attempts[i]])
    return values, attempts, failed if default is not None else []
