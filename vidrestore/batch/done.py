"""Finished outputs, verified: a sidecar ``<output>.vidrestore.json`` written after each success.

A re-run skips an input only when its record matches what is on disk now: the same input and mask
(size and modification time), the same options, and an output whose size and frame count are the
ones recorded. A missing, stale or partial record, a truncated or replaced output, or a changed
input or option means the video is repaired again, so an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import av

from vidrestore.io.atomic import temp_path_for
from vidrestore.io.paths import is_image_file

RECORD_SUFFIX = ".vidrestore.json"
RECORD_FORMAT = 1
# Options that change how a video is processed but not the output itself.
NOT_IN_HASH = frozenset({"overwrite", "progress", "workers", "segments"})


def record_path(output: Path) -> Path:
    return output.with_name(output.name + RECORD_SUFFIX)


def options_hash(options: dict[str, object]) -> str:
    """A stable digest of the options that shape the output (paths and values as text)."""
    shaped = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items() if k not in NOT_IN_HASH}
    if shaped.get("precision") == "auto":
        # auto became the default after fp32 and fills within a grey level of it: records made
        # under either stay valid
        shaped["precision"] = "fp32"
    text = json.dumps(shaped, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stat_of(path: Path | None) -> dict[str, int] | None:
    """Size and mtime of a file, or of every visible file of a folder (count, total size, newest mtime)."""
    if path is None or not path.exists():
        return None
    if path.is_file():
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    files = [e for e in os.scandir(path) if e.is_file() and not e.name.startswith(".")]
    stats = [e.stat() for e in files]
    return {"files": len(files), "size": sum(s.st_size for s in stats),
            "mtime_ns": max((s.st_mtime_ns for s in stats), default=0)}


def count_output_frames(output: Path) -> int:
    """Frames in a finished output: video packets of a file (no decoding), images in a folder."""
    if output.is_dir():
        return sum(1 for p in output.iterdir() if is_image_file(p) and not p.name.startswith("."))
    try:
        with av.open(str(output)) as container:
            if not container.streams.video:
                return -1
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, OSError, ValueError):
        return -1


def write_record(input: Path, output: Path, options: dict[str, object], frames: int, seconds: float) -> Path:
    """Vouch for a finished output (atomically: a record is whole or absent)."""
    from vidrestore._version import __version__

    mask = options.get("mask")
    record = {
        "format": RECORD_FORMAT, "vidrestore": __version__, "input": str(input), "input_stat": stat_of(input),
        "mask_stat": stat_of(Path(str(mask))) if mask is not None else None, "options": options_hash(options),
        "frames": frames, "output_stat": stat_of(output), "seconds": round(seconds, 3),
    }
    path = record_path(output)
    temp = temp_path_for(path)
    try:
        temp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def remove_record(output: Path) -> None:
    record_path(output).unlink(missing_ok=True)


def verified_frames(input: Path, output: Path, options: dict[str, object]) -> int | None:
    """The recorded frame count when ``output`` is complete for this input and these options, else None."""
    path = record_path(output)
    if not output.exists() or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # a partial or damaged record vouches for nothing
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None
    mask = options.get("mask")
    expected = {
        "input_stat": stat_of(input), "mask_stat": stat_of(Path(str(mask))) if mask is not None else None,
        "options": options_hash(options),
    }
    if any(record.get(key) != value for key, value in expected.items()):
        return None
    # Size (and file count) but not mtime: copying finished outputs elsewhere must not void them.
    now, then = stat_of(output) or {}, record.get("output_stat") or {}
    if not isinstance(then, dict) or any(now.get(k) != then.get(k) for k in ("size", "files")):
        return None
    frames = record.get("frames")
    if not isinstance(frames, int) or frames < 1 or count_output_frames(output) != frames:
        return None
    return frames
