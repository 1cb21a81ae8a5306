"""Outputs appear whole or not at all: write next to the target under a hidden name, rename at the end.

A temp is named ``.<output>.partial-<pid>-<random>[.ext]`` and its owner holds an exclusive
``flock`` on it until it is committed or discarded. A run killed with SIGKILL cannot clean up, so
the next run for the same output removes every partial whose lock is free (the kernel drops a
lock with its last open descriptor, whatever killed the process). A live run's partial is locked
and never touched; the pid in the name only covers the instant between creating a temp and
locking it, and an age limit covers a pid reused by an unrelated process.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from vidrestore.errors import OutputError

try:  # POSIX; elsewhere temps are not locked, and stale ones are never removed
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# an unlocked partial younger than this whose pid is alive may be one being created right now
_CREATION_GRACE_S = 10.0
_held: dict[Path, int] = {}  # temp path -> descriptor holding its lock


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
    _probe_writable(parent)


def _probe_writable(parent: Path) -> None:
    """Create and remove a file: permission bits do not tell (root, /proc, read-only mounts)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".vidrestore-probe-", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write in output folder {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)


def temp_path_for(output: Path, directory: bool = False) -> Path:
    """A hidden, unique sibling of ``output`` (same filesystem, so the final rename is atomic).

    ``mkstemp``/``mkdtemp`` create it private (0600 / 0700) whatever the umask, and the rename keeps
    that, so the temp gets the permissions a plainly created file or folder would have: otherwise
    a repaired reel on a shared archive server would be readable by its owner only.
    """
    parent = output.resolve().parent
    _release_gone()
    remove_stale_partials(output)
    prefix = f"{_partial_prefix(output)}{os.getpid()}-"
    try:
        if directory:
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            os.chmod(path, 0o777 & ~current_umask())
            _hold(path)
            return path
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=output.suffix, dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write in output folder {parent} ({exc.strerror or exc})") from None
    path = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    _hold(path)
    return path


def remove_stale_partials(output: Path) -> list[Path]:
    """Remove the partials of ``output`` left by runs that no longer exist; returns what was removed."""
    if fcntl is None:
        return []
    parent = output.resolve().parent
    # ``(?:pid-)?``: names without an owner come from versions before 2026-12-04, which never locked
    owner, suffix = r"(?:(\d+)-)?[A-Za-z0-9_]+", f"(?:{re.escape(output.suffix)})?"
    pattern = re.compile(re.escape(_partial_prefix(output)) + owner + suffix)
    removed = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(_partial_prefix(output))]
    except OSError:
        return []
    for path in candidates:
        match = pattern.fullmatch(path.name)
        pid = int(match.group(1)) if match is not None and match.group(1) else None
        if match is not None and path not in _held and _is_stale(path, pid):
            discard(path)
            removed.append(path)
    return removed


def _partial_prefix(output: Path) -> str:
    return f".{output.name}.partial-"


def _is_stale(path: Path, pid: int | None) -> bool:
    """True when no process holds the partial's lock and its owner cannot be creating it now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live run (or locks unsupported here): keep it
            return False
        if pid is None:
            return True
        age = time.time() - os.fstat(fd).st_mtime
        return not _pid_alive(pid) or age > _CREATION_GRACE_S
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs; a zombie (killed, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a number no process can have: be safe)
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[0]  # after "(command name)"
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _hold(path: Path) -> None:
    """Take the lock that tells other runs this partial is alive; kept until commit or discard."""
    if fcntl is None:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # a filesystem without locks: the temp still works, it just cannot be told alive
        os.close(fd)
        return
    _held[path] = fd


def release(temp: Path) -> None:
    """Drop the lock on a temp that was renamed or removed by its owner."""
    fd = _held.pop(temp, None)
    if fd is not None:
        os.close(fd)


def _release_gone() -> None:
    """Close the locks of temps that callers renamed or removed themselves (no leak of descriptors)."""
    for path in [p for p in _held if not os.path.lexists(p)]:
        release(path)


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
    try:
        if output.is_dir() and not output.is_symlink():
            backup = output.with_name(f".{output.name}.old-{os.getpid()}")
            os.replace(output, backup)
            os.replace(temp, output)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(temp, output)
    finally:
        release(temp)


def discard(temp: Path) -> None:
    """Remove a temp output after a failure or an interrupt."""
    try:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
    finally:
        release(temp)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
