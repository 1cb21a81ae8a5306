"""vidrestore: repair damaged video with masks or automatic damage detection.

Public API: ``restore()`` (the `fix` job), ``RestoreSummary``, ``__version__``.

The API is imported on first use, so that a process needing one small part of the package
(the detection worker, ``vidrestore.detect.worker``) does not pay for the whole pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vidrestore._version import __version__

__all__ = ["RestoreSummary", "__version__", "restore"]

if TYPE_CHECKING:
    from vidrestore.api import RestoreSummary, restore


def __getattr__(name: str) -> Any:
    if name in ("RestoreSummary", "restore"):
        from vidrestore import api

        return getattr(api, name)
    raise AttributeError(f"module 'vidrestore' has no attribute {name!r}")
