"""Many videos: expand a folder, a glob pattern or a manifest (CSV/JSONL) into one job per video.

A folder whose files are images is a frame folder and counts as ONE video; a folder that holds video
files (at any depth) is a batch. Outputs mirror the input tree under the output folder. Manifest rows
name ``input`` and optionally ``mask`` (which may end in ``@START-END``) and ``output``; any other
column is a ``restore()`` option that overrides the batch-wide one for that row (``box``: one or
more ``X,Y,W,H[@START-END]`` separated by ``;``).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import inspect
import io
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from vidrestore.errors import InputError, OptionError
from vidrestore.io.paths import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, natural_key
from vidrestore.io.regions import box_specs, split_mask_spec

MANIFEST_SUFFIXES = (".csv", ".jsonl")
PATH_COLUMNS = ("input", "mask", "output")
# Containers that take any codec the encoder may pick, audio and subtitles: kept as they are.
# Other inputs (.avi, .webm, .mpg, ...) are written as Matroska, which takes everything.
KEPT_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".m4v"})
# Batch-level names that a manifest row cannot override (they steer the batch, not one video;
# ``make_inpainter`` is how a worker keeps its model).
NOT_PER_ROW = frozenset({"input", "output", "progress", "make_inpainter"})


@dataclass(frozen=True)
class BatchJob:
    """One video (file or frame folder) to repair into ``output`` with ``restore(**options)``."""

    input: Path
    output: Path
    options: dict[str, object] = field(default_factory=dict)  # restore() keywords, mask included
    name: str = ""  # what the report and the progress bar call it (path relative to the batch root)
    error: str | None = None  # a manifest row that cannot run (bad option value): fails without running


def is_batch_input(path_or_pattern: str | Path) -> bool:
    """True for a glob pattern, a .csv/.jsonl manifest, or a folder holding videos (not a frame folder)."""
    text = str(path_or_pattern)
    path = Path(text)
    if glob.has_magic(text) and not path.exists():
        return True
    if path.suffix.lower() in MANIFEST_SUFFIXES and not path.is_dir():
        return True
    if path.is_dir():
        return not is_frame_folder(path) and any(_walk_videos(path, exclude=None))
    return False


def is_frame_folder(folder: Path) -> bool:
    """A folder with image files and no video files directly inside it is one video, frame by frame."""
    kinds = {_kind(p) for p in _visible(folder) if p.is_file()}
    return "image" in kinds and "video" not in kinds


def expand_jobs(inputs: str | Path, output_dir: Path | None, options: dict[str, object]) -> list[BatchJob]:
    """The jobs named by a folder, glob pattern or manifest, with outputs placed under ``output_dir``."""
    check_option_names(options, where="batch option")
    text = str(inputs)
    path = Path(text)
    if path.suffix.lower() in MANIFEST_SUFFIXES and not path.is_dir():
        jobs = read_manifest(path, output_dir, options)
    else:
        if output_dir is None:
            raise OptionError("a batch of videos needs an output folder (-o DIR)")
        if glob.has_magic(text) and not path.exists():
            root, sources = _expand_glob(text, output_dir)
        elif path.is_dir() and not is_frame_folder(path):
            root, sources = path, list(_walk_videos(path, exclude=output_dir))
        elif path.exists():  # one video file or frame folder: a batch of one
            root, sources = path.parent, [path]
        else:
            raise InputError(f"input not found: {text}")
        if not sources:
            raise InputError(f"no videos or frame folders found in {text}")
        jobs = [BatchJob(src, output_for(src, root, output_dir), dict(options), _name(src, root))
                for src in sources]
    jobs = [_absolute(job) for job in jobs]
    _check_distinct_outputs(jobs)
    return jobs


def output_for(source: Path, root: Path, output_dir: Path) -> Path:
    """``root/a/b/clip.mp4`` -> ``output_dir/a/b/clip.mp4``; other containers become ``.mkv``."""
    relative = _relative(source, root)
    if source.is_dir():
        return output_dir / relative
    if relative.suffix.lower() not in KEPT_SUFFIXES:
        relative = relative.with_suffix(".mkv")
    return output_dir / relative


def read_manifest(manifest: Path, output_dir: Path | None, options: dict[str, object]) -> list[BatchJob]:
    """Rows of a CSV (with a header) or JSONL manifest -> jobs. Relative paths are relative to the
    manifest's folder; a relative ``output`` is relative to ``output_dir`` when one is given."""
    if not manifest.is_file():
        raise InputError(f"manifest not found: {manifest}")
    rows = _read_rows(manifest)
    if not rows:
        raise InputError(f"manifest {manifest} has no rows")
    base = manifest.parent
    jobs = []
    for number, row in rows:
        where = f"{manifest.name} line {number}"
        unknown = [k for k in row if k not in PATH_COLUMNS and k not in RESTORE_OPTIONS]
        if unknown or "input" not in row:
            problem = f"unknown column {unknown[0]!r}" if unknown else "no 'input' column"
            raise OptionError(f"{where}: {problem}; columns are input, mask, output and restore options "
                              f"({', '.join(sorted(RESTORE_OPTIONS))})")
        raw_input = row.get("input")
        if raw_input in (None, ""):
            raise OptionError(f"{where}: empty 'input'")
        source = _resolve(base, str(raw_input))
        job_options = dict(options)
        error = None
        for key, value in row.items():
            if key in ("input", "output") or value is None or value == "":
                continue
            try:
                if key == "mask":
                    job_options[key] = _resolve(base, str(value))
                    split_mask_spec(job_options[key])  # a bad @START-END fails this row alone
                elif key == "box":  # "X,Y,W,H[@START-END]", several separated by ";" (or a JSON list)
                    job_options[key] = box_specs(value if isinstance(value, list) else str(value))
                else:
                    job_options[key] = convert_option(key, value)
            except OptionError as exc:
                error = f"{where}: {exc}"
        output = row.get("output")
        if output not in (None, ""):
            target = Path(str(output)).expanduser()
            target = target if target.is_absolute() else (output_dir or base) / target
        elif output_dir is not None:
            target = output_for(source, base, output_dir)
        else:
            raise OptionError(f"{where}: no 'output' and no output folder (-o DIR) to put it in")
        jobs.append(BatchJob(source, target, job_options, _name(source, base), error))
    return jobs


def _read_rows(manifest: Path) -> list[tuple[int, dict[str, object]]]:
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read manifest {manifest} ({exc})") from None
    rows: list[tuple[int, dict[str, object]]] = []
    if manifest.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            cleaned = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
            if any(v not in (None, "") for v in cleaned.values()):
                rows.append((reader.line_num, cleaned))
        return rows
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{manifest.name} line {number} is not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{manifest.name} line {number} is not a JSON object")
        rows.append((number, row))
    return rows


def _restore_option_types() -> dict[str, object]:
    from vidrestore.api import restore

    hints = typing.get_type_hints(restore)
    names = inspect.signature(restore).parameters
    return {name: hints[name] for name in names if name not in NOT_PER_ROW}


RESTORE_OPTIONS = _restore_option_types()
_TRUE, _FALSE = {"1", "true", "yes", "on", "y"}, {"0", "false", "no", "off", "n"}


def check_option_names(options: dict[str, object], where: str) -> None:
    for key in options:
        if key not in RESTORE_OPTIONS:
            raise OptionError(f"unknown {where} {key!r}; choose from {', '.join(sorted(RESTORE_OPTIONS))}")


def convert_option(name: str, value: object) -> object:
    """A manifest cell (text in CSV, typed in JSONL) -> the type ``restore()`` declares for ``name``."""
    hint = RESTORE_OPTIONS[name]
    args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    text = value.strip().lower() if isinstance(value, str) else None
    if type(None) in args and (value is None or text in ("none", "auto", "default")):
        return None
    if bool in args:
        if isinstance(value, bool):
            return value
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise OptionError(f"{name} must be true or false, not {value!r}")
    if isinstance(value, bool):
        raise OptionError(f"{name} must not be true/false (got {value!r})")
    if int in args:
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        if float not in args:
            raise OptionError(f"{name} must be a whole number, not {value!r}")
    if float in args:
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise OptionError(f"{name} must be a number, not {value!r}") from None
    if isinstance(value, list) and any(typing.get_origin(a) in (list, tuple) for a in args):
        return tuple(str(v) for v in value)  # e.g. "detect": ["scratch", "blotch"]
    if isinstance(value, (str, Path)):
        return str(value)
    raise OptionError(f"{name} must be text, not {value!r}")


def _expand_glob(pattern: str, output_dir: Path) -> tuple[Path, list[Path]]:
    """Matches of ``pattern`` (``**`` recursive): video files, frame folders, folders of videos."""
    parts = Path(pattern).parts
    fixed = list(_until_magic(parts))
    root = Path(*fixed) if fixed else Path(".")
    sources: list[Path] = []
    for match in sorted(glob.glob(pattern, recursive=True), key=natural_key):
        path = Path(match)
        if path.name.startswith(".") or _inside(path, output_dir):
            continue
        if path.is_file() and _kind(path) == "video":
            sources.append(path)
        elif path.is_dir():
            sources.extend([path] if is_frame_folder(path) else _walk_videos(path, exclude=output_dir))
    unique = list(dict.fromkeys(sources))
    return root, unique


def _until_magic(parts: tuple[str, ...]):  # noqa: ANN201 - generator of str
    for part in parts:
        if glob.has_magic(part):
            return
        yield part


def _walk_videos(root: Path, exclude: Path | None):  # noqa: ANN201 - generator of Path
    """Video files and frame folders under ``root`` in natural order (hidden ones and ``exclude`` skipped)."""
    if exclude is not None and _inside(root, exclude):
        return
    entries = sorted(_visible(root), key=lambda p: natural_key(p.name))
    for entry in entries:
        if entry.is_file() and _kind(entry) == "video":
            yield entry
    for entry in entries:
        if entry.is_dir() and not (exclude is not None and _inside(entry, exclude)):
            if is_frame_folder(entry):
                yield entry
            else:
                yield from _walk_videos(entry, exclude)


def _visible(folder: Path) -> list[Path]:
    try:
        return [folder / name for name in os.listdir(folder) if not name.startswith(".")]
    except OSError as exc:
        raise InputError(f"cannot list {folder} ({exc.strerror})") from None


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return "video" if suffix in VIDEO_EXTENSIONS else "image" if suffix in IMAGE_EXTENSIONS else "other"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _resolve(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _absolute(job: BatchJob) -> BatchJob:
    """Absolute paths (not resolved: symlinks and mount points stay as given), so that workers with
    another working directory, Ray workers on other machines included, find the same files."""
    options = dict(job.options)
    if options.get("mask") is not None:
        options["mask"] = Path(str(options["mask"])).expanduser().absolute()
    return dataclasses.replace(job, input=job.input.absolute(), output=job.output.absolute(), options=options)


def _relative(source: Path, root: Path) -> Path:
    """``source`` below ``root`` as written (symlinks not followed), else just its name."""
    try:
        return Path(os.path.abspath(source)).relative_to(os.path.abspath(root))
    except ValueError:
        return Path(source.name)


def _name(source: Path, root: Path) -> str:
    return _relative(source, root).as_posix()


def _check_distinct_outputs(jobs: list[BatchJob]) -> None:
    seen: dict[Path, BatchJob] = {}
    for job in jobs:
        key = job.output.resolve()
        if key in seen:
            raise OptionError(f"{seen[key].input} and {job.input} would both be written to {job.output}; "
                              "rename one or give outputs in a manifest")
        seen[key] = job
