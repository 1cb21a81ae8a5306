"""Outputs appear whole or not at all: write next to the target under a hidden name, rename at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from vidrestore.errors import OutputError


def check_output(output: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse to clobber inputs or existing outputs, and fail early on an unwritable folder."""
    resolved = output.resolve()
    for source in inputs:
        if (
            source is not None
            and source.exists()
            and (source.resolve() == resolved or _same_file(source, output))
        ):
            raise OutputError(f"output {output} is an input; choose another output path")
    if output.exists() and not overwrite:
        raise OutputError(f"output {output} already exists; pass --overwrite to replace it")
    parent = resolved.parent
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {parent} is not writable")


def temp_path_for(output: Path, directory: bool = False) -> Path:
    """A hidden, unique sibling of ``output`` (same filesystem, so the final rename is atomic).

    ``mkstemp``/``mkdtemp`` create it private (0600 / 0700) whatever the umask, and the rename keeps
    that, so the temp gets the permissions a plainly created file or folder would have: otherwise
    a repaired reel on a shared archive server would be readable by its owner only.
    """
    parent = output.resolve().parent
    prefix = f".{output.name}.partial-"
    if directory:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        os.chmod(path, 0o777 & ~current_umask())
        return path
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=output.suffix, dir=parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    return Path(name)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (other threads may be creating
    files); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def commit(temp: Path, output: Path) -> None:
    """Move a finished temp file or folder into place, replacing what --overwrite allowed."""
    if output.is_dir() and not output.is_symlink():
        backup = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, backup)
        os.replace(temp, output)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(temp, output)


def discard(temp: Path) -> None:
    """Remove a temp output after a failure or an interrupt."""
    if temp.is_dir():
        shutil.rmtree(temp, ignore_errors=True)
    else:
        temp.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
