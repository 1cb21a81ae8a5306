"""vidrestore: repair damaged video with masks or automatic damage detection."""

from __future__ import annotations

__version__ = "0.1.0"
