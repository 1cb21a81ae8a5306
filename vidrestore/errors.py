"""User-facing errors: each carries a message a user can act on, printed on one line by the CLI."""

from __future__ import annotations


class VidrestoreError(Exception):
    """Base class for problems caused by input, options or environment (not bugs)."""

    exit_code = 2


class InputError(VidrestoreError):
    """The input is missing, not a video, empty, or corrupt."""


class MaskError(VidrestoreError):
    """A mask source is unreadable or does not match the video."""


class OutputError(VidrestoreError):
    """The output path exists, is the input, or cannot be written."""


class WeightsError(VidrestoreError):
    """Model weights are missing, corrupt, or do not match the architecture."""


class OptionError(VidrestoreError):
    """An option value is invalid or options contradict each other."""
