"""Automatic damage detection: film scratches, dust and blotches, burned-in logos.

``DamageDetector`` is the streaming stage the pipeline runs (``fix --detect``, ``detect``);
``detect_frames`` runs it over an in-memory clip.
"""

from __future__ import annotations

from vidrestore.detect.report import tint_detected
from vidrestore.detect.stage import DETECTOR_KINDS, DamageDetector, DetectOptions, detect_frames

__all__ = [
    "DETECTOR_KINDS",
    "DamageDetector",
    "DetectOptions",
    "detect_frames",
    "tint_detected",
]
