"""Where training frames come from: image folders, video clip files, frame-sequence folders.

``scan_sources`` turns source specs into a list of ``Item`` (one image or one clip); readers
return uint8 RGB (T, H, W, 3). Unreadable inputs raise ``InputError`` so the dataset can skip
them and count them instead of crashing.
"""

from __future__ import annotations

import os
import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidrestore.errors import InputError, OptionError
from vidrestore.io.decode import main_video_stream

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
SOURCE_KINDS = ("images", "videos", "frames")


@dataclass(frozen=True)
class Item:
    """One image (``n_frames == 1``) or one clip; only frames ``start``..``stop - 1`` are used."""

    kind: str  # "image", "video" or "frames"
    path: str
    start: int
    stop: int
    files: tuple[str, ...] = ()  # the frame files of a frame-sequence clip
    name: str = ""  # path inside its source folder: what the held-out split hashes (split_items)

    @property
    def n_frames(self) -> int:
        return self.stop - self.start


def scan_sources(specs: tuple[str, ...] | list[str]) -> tuple[list[Item], int]:
    """Items of every source spec ``[kind:]path`` -> (items, number of unreadable videos skipped)."""
    items: list[Item] = []
    skipped = 0
    for spec in specs:
        kind, path = parse_source(spec)
        if kind == "images":
            items += [
                Item("image", str(p), 0, 1, name=p.relative_to(path).as_posix())
                for p in _files_under(path, IMAGE_EXTENSIONS)
            ]
        elif kind == "frames":
            for folder in _frame_folders(path):
                files = tuple(str(p) for p in sorted(_images_in(folder), key=_natural_key))
                items.append(Item("frames", str(folder), 0, len(files), files))
        else:
            videos = [path] if path.is_file() else _files_under(path, VIDEO_EXTENSIONS)
            for video in videos:
                try:
                    n = count_video_frames(video)
                except InputError:
                    skipped += 1
                    continue
                if n > 0:
                    items.append(Item("video", str(video), 0, n))
                else:
                    skipped += 1
    return items, skipped


def parse_source(spec: str) -> tuple[str, Path]:
    """'frames:/data/DAVIS' -> ('frames', Path); without a known prefix the kind is guessed."""
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in SOURCE_KINDS:
        kind, path = prefix, Path(rest).expanduser()
    else:
        path = Path(spec).expanduser()
        if path.is_file():
            kind = "videos" if path.suffix.lower() in VIDEO_EXTENSIONS else "images"
        else:
            kind = "videos" if path.is_dir() and _files_under(path, VIDEO_EXTENSIONS) else "images"
    if not path.exists():
        raise InputError(f"training data {path} does not exist")
    if kind == "images" and path.is_file():
        raise OptionError(f"{path} is a file; give a folder of images (any depth)")
    return kind, path


def card_spec(spec: str, root: Path | None = None) -> str:
    """A source spec as a model card records it: no path of the training machine.

    A path under ``root`` (the data root; default the run's working directory, where relative
    ``--data`` paths are read from) is written relative to it; one inside an installed package
    (scikit-image's sample images) as ``site-packages/<package path>``; any other relative to the
    root (``../``), so a card is the same wherever the data was mounted.
    """
    prefix, sep, rest = spec.partition(":")
    kind, text = (prefix, rest) if sep and prefix in SOURCE_KINDS else ("", spec)
    root = Path(root if root is not None else Path.cwd()).resolve()
    path = (root / Path(text).expanduser()).resolve()
    if path.is_relative_to(root):
        portable = path.relative_to(root).as_posix() or "."
    else:
        parts = path.parts
        packages = [i for i, part in enumerate(parts) if part in ("site-packages", "dist-packages")]
        if packages:
            portable = Path("site-packages", *parts[packages[-1] + 1 :]).as_posix()
        else:
            try:
                portable = Path(os.path.relpath(path, root)).as_posix()
            except ValueError:  # another drive (Windows): the folder's name is all that travels
                portable = path.name
    return f"{kind}:{portable}" if kind else portable


def split_items(items: list[Item], fraction: float, min_clip: int = 1) -> tuple[list[Item], list[Item]]:
    """Hold out ``fraction`` of the data: whole images chosen by a hash of their path inside their
    source folder (so the split is the same wherever the data is mounted), and the last frames of
    every clip (neighbouring frames are near copies, so clips split in time)."""
    train: list[Item] = []
    val: list[Item] = []
    if fraction <= 0:
        return list(items), []
    for item in items:
        if item.kind == "image":
            held = (zlib.crc32((item.name or item.path).encode()) % 10_000) < fraction * 10_000
            (val if held else train).append(item)
            continue
        cut = item.start + int(round(item.n_frames * (1 - fraction)))
        if cut - item.start >= min_clip and item.stop - cut >= 1:
            train.append(replace(item, stop=cut))
            val.append(replace(item, start=cut))
        else:
            train.append(item)
    return train, val


def read_frames(item: Item, first: int, count: int) -> np.ndarray:
    """Frames ``first``..``first + count - 1`` of ``item`` (absolute indices) -> uint8 (T, H, W, 3)."""
    if item.kind == "image":
        return read_image(item.path)[None]
    if item.kind == "frames":
        frames = [read_image(f) for f in item.files[first : first + count]]
        if len({f.shape for f in frames}) != 1:
            raise InputError(f"frames of {item.path} differ in size")
        return np.stack(frames)
    return read_video_frames(item.path, list(range(first, first + count)))


def read_image(path: str) -> np.ndarray:
    """Any PNG/JPEG/WebP (grey, RGB, RGBA, 16-bit) -> uint8 (H, W, 3) RGB."""
    data = np.fromfile(path, dtype=np.uint8) if Path(path).is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise InputError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# ------------------------------------------------------------------------------------------
# video: decord for random access, PyAV when decord is missing or fails on a file

_OPEN_READERS: OrderedDict[str, object] = OrderedDict()  # per process (each DataLoader worker)
_READERS_PID = os.getpid()
_INHERITED: list[object] = []  # readers copied by fork: their threads are gone, never touch or free them
_MAX_OPEN = 8


def count_video_frames(path: Path | str) -> int:
    """Number of decodable frames of a video file."""
    reader = _decord_reader(str(path), cache=False)  # not cached: readers must not cross a fork
    if reader is not None:
        return len(reader)  # type: ignore[arg-type]
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path} has no video stream")
            stream = main_video_stream(container)
            return sum(1 for _ in container.decode(stream))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"cannot read video {path}: {exc}") from None


def read_video_frames(path: str, indices: list[int]) -> np.ndarray:
    """Frames at ``indices`` (sorted, consecutive is fastest) -> uint8 (T, H, W, 3) RGB."""
    reader = _decord_reader(path)
    if reader is not None:
        try:
            return reader.get_batch(indices).asnumpy()  # type: ignore[attr-defined]
        except Exception:  # decord raises its own error types; PyAV below gives the real message
            pass
    return _read_with_pyav(path, indices)


def _decord_reader(path: str, cache: bool = True) -> object | None:
    global _READERS_PID
    if _READERS_PID != os.getpid():  # a forked DataLoader worker: start its own readers
        _INHERITED.extend(_OPEN_READERS.values())
        _OPEN_READERS.clear()
        _READERS_PID = os.getpid()
    if path in _OPEN_READERS:
        _OPEN_READERS.move_to_end(path)
        return _OPEN_READERS[path]
    try:
        import decord

        reader = decord.VideoReader(path, num_threads=1)
    except Exception:  # decord missing (Python 3.12+) or unable to open: use PyAV
        return None
    if not cache:
        return reader
    _OPEN_READERS[path] = reader
    if len(_OPEN_READERS) > _MAX_OPEN:
        _OPEN_READERS.popitem(last=False)
    return reader


def _read_with_pyav(path: str, indices: list[int]) -> np.ndarray:
    """Seek to the keyframe before the first index, then decode forward, numbering frames by pts."""
    import av

    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    try:
        with av.open(path) as container:
            stream = main_video_stream(container)
            stream.thread_type = "AUTO"
            rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
            tb = stream.time_base or Fraction(1, 1000)
            start = stream.start_time or 0
            target = int(start + Fraction(min(indices)) / rate / tb)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            position = None
            for frame in container.decode(stream):
                if frame.pts is None:
                    position = 0 if position is None else position + 1
                else:
                    position = round(float((frame.pts - start) * tb * rate))
                if position in wanted:
                    found[position] = frame.to_ndarray(format="rgb24")
                if position >= max(indices):
                    break
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise InputError(f"cannot read video {path}: {exc}") from None
    missing = [i for i in indices if i not in found]
    if missing:
        raise InputError(f"{path}: frames {missing[:3]} could not be decoded")
    return np.stack([found[i] for i in indices])


# ------------------------------------------------------------------------------------------
# folder walking


def _files_under(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    if root.is_file():
        return [root] if root.suffix.lower() in extensions else []
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in extensions and p.is_file())


def _images_in(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]


def _frame_folders(root: Path) -> list[Path]:
    """Every folder under ``root`` (itself included) that directly holds image files."""
    if root.is_file():
        raise OptionError(f"{root} is a file; frame sequences are folders of images")
    folders = [root] + sorted(p for p in root.rglob("*") if p.is_dir())
    return [f for f in folders if _images_in(f)]


def _natural_key(path: str | Path) -> list[object]:
    """'frame10.png' after 'frame9.png'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", Path(path).name)]
