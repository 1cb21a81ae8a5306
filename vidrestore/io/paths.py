"""File-name rules shared by frame folders and mask folders."""

from __future__ import annotations

import re
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".dpx"})
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv",
     ".wmv", ".ogv", ".mxf", ".y4m", ".nut", ".gif"}
)


def natural_key(name: str) -> list[object]:
    """Sort key that puts frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural order (hidden files skipped)."""
    files = [
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: Path) -> bool:
    """Whether an output path names a video file (by extension) rather than a frame folder."""
    return path.suffix.lower() in VIDEO_EXTENSIONS
