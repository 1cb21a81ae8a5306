"""The command line as a user meets it: help, version, one-line errors, exit codes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from vidrestore import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidrestore", *args], capture_output=True, text=True, timeout=120
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_fix_help_has_examples() -> None:
    result = run("fix", "--help")
    assert result.returncode == 0
    assert "--mask" in result.stdout and "vidrestore fix clip.mp4" in result.stdout


def test_fix_end_to_end_prints_summary(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    result = run(
        "fix", str(clip), "--mask", str(logo_mask), "-o", str(tmp_path / "o.mp4"), "--method", "telea"
    )
    assert result.returncode == 0, result.stderr
    assert "12 frames" in result.stdout and (tmp_path / "o.mp4").exists()


def test_a_precision_the_cpu_cannot_run_is_one_warning_line(
    clip: Path, logo_mask: Path, tmp_path: Path
) -> None:
    result = run("fix", str(clip), "--mask", str(logo_mask), "-o", str(tmp_path / "o.mp4"), "--method", "gan",
                 "--precision", "fp16", "--device", "cpu", "--no-temporal")
    assert result.returncode == 0, result.stderr
    assert "vidrestore: warning: --precision fp16 runs only on CUDA; using fp32 on cpu" in result.stderr
    assert "UserWarning" not in result.stderr and "warnings.warn" not in result.stderr


def test_errors_are_one_line_without_traceback(clip: Path, tmp_path: Path) -> None:
    cases = [
        ("fix", str(tmp_path / "missing.mp4"), "--mask", str(clip), "-o", str(tmp_path / "o.mp4")),
        ("fix", str(clip), "--mask", str(tmp_path / "nomask.png"), "-o", str(tmp_path / "o.mp4")),
        ("fix", str(clip), "--mask", str(clip), "-o", str(clip), "--overwrite"),
    ]
    for args in cases:
        result = run(*args)
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vidrestore: error:"), result.stderr
        assert "Traceback" not in result.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = run(
        "fix", str(tmp_path / "missing.mp4"), "--mask", "x.png", "-o", str(tmp_path / "o.mp4"), "--debug"
    )
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_interrupt_leaves_no_output(tmp_path: Path) -> None:
    import signal
    import time

    from clips import box_mask, make_clip, write_mask

    clip = tmp_path / "long.mp4"
    make_clip(clip, frames=150, width=320, height=240, audio=True)
    mask = tmp_path / "m.png"
    write_mask(mask, box_mask(320, 240, (100, 80, 220, 160)))
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / "out.mp4"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vidrestore",
                "fix",
                str(clip),
                "--mask",
                str(mask),
                "-o",
                str(out),
                "--method",
                "ns",
                "--preset",
                "slower",
                "--batch-frames",
                "2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline and not any(".partial-" in p.name for p in tmp_path.iterdir()):
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert not out.exists()
        assert not [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_outputs_get_the_umask_permissions_not_the_private_temp_ones(
    clip: Path, logo_mask: Path, tmp_path: Path
) -> None:
    """Outputs are written under a private temp name and renamed; the rename must not keep 0600."""
    video, folder = tmp_path / "o.mp4", tmp_path / "frames"
    for umask, file_mode, dir_mode in ((0o022, 0o644, 0o755), (0o027, 0o640, 0o750)):
        for target in (video, folder):
            result = subprocess.run(
                [sys.executable, "-m", "vidrestore", "fix", str(clip), "--mask", str(logo_mask),
                 "-o", str(target), "--method", "telea", "--overwrite"],
                capture_output=True, text=True, timeout=120, preexec_fn=lambda m=umask: os.umask(m),
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(video.stat().st_mode) == file_mode
        assert stat.S_IMODE(folder.stat().st_mode) == dir_mode
