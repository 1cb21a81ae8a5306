"""vidrestore: repair damaged video with masks or automatic damage detection.

Public API: ``restore()`` (the `fix` job), ``RestoreSummary``, ``__version__``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from vidrestore.api import RestoreSummary, restore  # noqa: E402

__all__ = ["RestoreSummary", "__version__", "restore"]
