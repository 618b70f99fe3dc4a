"""One key scheme for every result the project keeps and reads back instead of recomputing it.

A kept result (an executed notebook, an importance-weighted likelihood, the judge's features of the training images)
is valid while everything it was computed from is unchanged. Each is keyed by ``content_key`` over named
ingredients: files and tensors enter by their SHA-256, everything else as plain JSON. Used by ``latent``, ``judge``
and the report's execution records (``report_tools.reuse``).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

import numpy as np
import torch

__all__ = ["content_key", "file_digest", "state_digest", "tensor_digest"]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (read in chunks: weights files are megabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tensor_digest(values: torch.Tensor | np.ndarray) -> str:
    """SHA-256 of an array's shape, dtype and values: equal images give equal digests on every machine."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().contiguous().numpy()
    array = np.ascontiguousarray(values)
    digest = hashlib.sha256(f"{array.shape}{array.dtype}".encode("utf-8"))
    digest.update(array.tobytes())
    return digest.hexdigest()


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a network's ``state_dict``, by parameter name: the weights a result was computed with."""
    return content_key(**{name: tensor_digest(tensor) for name, tensor in state.items()})


def content_key(**ingredients: Any) -> str:
    """The key of a kept result: SHA-256 of its named ingredients as sorted JSON (digests, numbers, names)."""
    text = json.dumps(ingredients, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
