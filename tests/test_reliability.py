"""Failures a user meets outside the happy path: unwritable outputs, runs killed with SIGKILL,
model cards that name the training machine, options that reach one entry point and miss another."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from clips import box_mask, make_clip, write_mask

import vidrestore.api as api
import vidrestore.io.atomic as atomic
from vidrestore import restore
from vidrestore.errors import OptionError, OutputError

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidrestore", *args], capture_output=True, text=True, timeout=120
    )


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


# ------------------------------------------------------------------------------ unwritable output


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_output_in_proc_is_one_clear_line_and_exit_2(clip: Path, logo_mask: Path) -> None:
    result = cli("fix", str(clip), "--mask", str(logo_mask), "-o", "/proc/x.mp4", "--method", "telea")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidrestore: error: cannot write in output folder /proc")
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_folder_without_write_permission_is_one_clear_line(
    clip: Path, logo_mask: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = cli("fix", str(clip), "--mask", str(logo_mask), "-o", str(locked / "o.mp4"))
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2 and "not writable" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_folder_fails_before_any_frame_is_decoded(clip: Path, logo_mask: Path) -> None:
    with pytest.raises(OutputError, match="cannot write in output folder"):
        restore(clip, "/proc/x.mp4", mask=logo_mask, method="telea")
    with pytest.raises(OutputError, match="cannot write in output folder"):
        atomic.temp_path_for(Path("/proc/x.mp4"))


# ---------------------------------------------------------------------- partials of killed runs

HOLD_A_TEMP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vidrestore.io.atomic import temp_path_for
    print(temp_path_for(Path(sys.argv[1]), directory=sys.argv[2] == "dir"), flush=True)
    time.sleep(120)
    """
)


def hold_a_temp(output: Path, directory: bool = False) -> tuple[subprocess.Popen[str], Path]:
    """A process that owns a partial of ``output`` (as a run does while it writes) until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_TEMP, str(output), "dir" if directory else "file"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_run_killed_with_sigkill_leaves_a_partial_that_the_next_run_removes(tmp_path: Path) -> None:
    clip = tmp_path / "long.mp4"
    make_clip(clip, frames=150, width=320, height=240, audio=False)
    mask = tmp_path / "m.png"
    write_mask(mask, box_mask(320, 240, (100, 80, 220, 160)))
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidrestore", "fix", str(clip), "--mask", str(mask), "-o", str(out),
         "--method", "ns", "--preset", "slower", "--batch-frames", "2", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not partials(tmp_path):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)  # no handler runs: nothing can clean up
    proc.wait(timeout=30)
    left = partials(tmp_path)
    assert left and not out.exists()
    summary = restore(clip, out, mask=mask, method="telea", preset="ultrafast", temporal=False)
    assert summary.frames == 150
    assert partials(tmp_path) == []  # the killed run's temp is gone, and so is this run's own


@pytest.mark.parametrize("directory", [False, True], ids=["video", "frame-folder"])
def test_a_live_runs_partial_is_kept_and_a_killed_ones_removed(tmp_path: Path, directory: bool) -> None:
    out = tmp_path / ("frames" if directory else "out.mp4")
    live, live_temp = hold_a_temp(out, directory)
    dead, dead_temp = hold_a_temp(out, directory)
    try:
        dead.kill()
        dead.wait(timeout=30)
        assert live_temp.exists() and dead_temp.exists()
        mine = atomic.temp_path_for(out, directory=directory)  # what the next run does before it writes
        assert live_temp.exists(), "a live run's partial was removed"
        assert not dead_temp.exists(), "a killed run's partial was kept"
        assert mine.exists() and str(live.pid) in live_temp.name
        assert atomic.remove_stale_partials(out) == []  # neither the live one nor this process's own
    finally:
        live.kill()
        live.wait(timeout=30)
    assert atomic.remove_stale_partials(out) == [live_temp]  # once its owner is gone it is stale too


def test_an_unlocked_partial_whose_owner_lives_is_kept_while_young(tmp_path: Path) -> None:
    """The instant between creating a temp and locking it: the name's pid (alive) protects it."""
    out = tmp_path / "o.mp4"
    young = tmp_path / f".o.mp4.partial-{os.getpid()}-abcdefgh.mp4"
    young.write_bytes(b"being created")
    assert atomic.remove_stale_partials(out) == [] and young.exists()
    old = time.time() - 3600  # an hour old and unlocked: its pid belongs to someone else by now
    os.utime(young, (old, old))
    assert atomic.remove_stale_partials(out) == [young]


def test_partials_of_other_outputs_are_not_touched(tmp_path: Path) -> None:
    other = tmp_path / ".other.mp4.partial-1-abcdefgh.mp4"
    longer = tmp_path / ".o.mp4.x.partial-1-abcdefgh.mp4"
    for path in (other, longer):
        path.write_bytes(b"x")
    assert atomic.remove_stale_partials(tmp_path / "o.mp4") == []
    assert other.exists() and longer.exists()


# ------------------------------------------------------------------------------ model card data


def test_training_records_data_paths_relative_to_the_data_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from test_train_loop import tiny_config

    from vidrestore.train import sources
    from vidrestore.train.distributed import DistContext
    from vidrestore.train.loop import Trainer

    monkeypatch.chdir(tmp_path)  # the data root: where relative --data paths are read from
    config = tiny_config(tmp_path, val_samples=0, val_fraction=0.0)
    assert all(str(tmp_path) in spec for spec in config.data)  # given as absolute paths
    card = Trainer(config, DistContext(0, 1, 0, torch.device("cpu"))).model_card()
    for specs in (card["data"], card["train_config"]["data"]):
        assert specs == ["data/images", "frames:data/frames", "data/videos"]
    package = Path(sys.prefix, "lib", "python3.11", "site-packages", "skimage", "data")
    assert sources.card_spec(f"images:{package}") == "images:site-packages/skimage/data"
    assert sources.card_spec("images:../elsewhere", root=tmp_path / "root") == "images:../elsewhere"


def test_the_shipped_model_card_names_no_path_of_the_training_machine() -> None:
    card = json.loads((ROOT / "weights" / "default.json").read_text())
    specs = [*card["data"], *card["train_config"]["data"], *card["val_data"]]
    assert specs and not [s for s in specs if s.partition(":")[2].startswith("/")]


# -------------------------------------------------------------------- detection sensitivity


def test_restore_takes_detect_sensitivity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vidrestore.detect import stage

    seen: list[stage.DetectOptions] = []
    real = stage.DamageDetector.__init__

    def recording(self, options, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(options)
        real(self, options, *args, **kwargs)

    monkeypatch.setattr(stage.DamageDetector, "__init__", recording)
    clip = tmp_path / "c.mp4"
    make_clip(clip, frames=6, width=64, height=48, audio=False)
    restore(clip, tmp_path / "o.mp4", detect="blotch", detect_sensitivity="blotch=2.5", method="telea")
    restore(clip, tmp_path / "p.mp4", detect="scratch", detect_sensitivity={"scratch": 0.5}, method="telea")
    assert seen[0].blotch_sensitivity == 2.5 and seen[1].scratch_sensitivity == 0.5
    with pytest.raises(OptionError, match="kind must be one of scratch, blotch, logo"):
        api.parse_sensitivity("blotchy=2")
    with pytest.raises(OptionError, match="want KIND=NUMBER"):
        api.parse_sensitivity("blotch=lots")


def test_detect_sensitivity_reaches_every_video_of_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's batch path passes it on to every job; it used to be dropped (sensitivity 1)."""
    from typer.testing import CliRunner

    import vidrestore.cli as cli_module
    from vidrestore.detect import stage

    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(videos / name, frames=4, width=64, height=48, audio=False)
    seen: list[float] = []
    real = stage.DamageDetector.__init__

    def recording(self, options, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(options.blotch_sensitivity)
        real(self, options, *args, **kwargs)

    monkeypatch.setattr(stage.DamageDetector, "__init__", recording)
    result = CliRunner().invoke(
        cli_module.app,
        ["fix", str(videos), "-o", str(tmp_path / "out"), "--detect", "blotch", "--detect-sensitivity",
         "blotch=3", "--method", "telea", "--no-temporal", "--preset", "ultrafast", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert seen == [3.0, 3.0]
