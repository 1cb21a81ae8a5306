"""Batches on a local Ray instance (2 CPUs): a corrupt file fails alone, a re-run resumes, segments join."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clips import box_mask, make_clip, read_video, write_mask

from vidrestore import restore
from vidrestore.batch import run_batch
from vidrestore.batch.done import record_path

ray = pytest.importorskip("ray")

W, H, N = 64, 48, 6
FAST = {"method": "telea", "preset": "ultrafast"}


@pytest.fixture(scope="module", autouse=True)
def local_ray():  # noqa: ANN201
    """One Ray instance for the module: starting one costs several seconds on 2 cores. It declares
    one GPU, which Ray only counts, so that the actor-pool path can run on a CPU machine."""
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="warning")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ray")
    videos = root / "in"
    (videos / "sub").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "sub/c.mp4"):
        make_clip(videos / name, frames=N, width=W, height=H)
    (videos / "sub" / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(300))
    mask = root / "box.png"
    write_mask(mask, box_mask(W, H, (20, 10, 40, 30)))
    return videos, mask


def test_ray_batch_with_one_corrupt_file_then_resume(batch: tuple[Path, Path], tmp_path: Path) -> None:
    videos, mask = batch
    out = tmp_path / "out"
    first = run_batch(str(videos), out, ray="auto", mask=mask, progress=False, **FAST)
    assert first.runner == "ray" and first.exit_code == 1
    assert {Path(r.input).name: r.status for r in first.results} == {
        "a.mp4": "done", "b.mp4": "done", "c.mp4": "done", "broken.mkv": "failed"}
    assert "broken.mkv" in next(r.error for r in first.results if r.status == "failed")
    assert len(read_video(out / "sub" / "c.mp4")[0]) == N
    report = json.loads((out / "vidrestore-report.json").read_text())
    assert (report["runner"], report["done"], report["failed"]) == ("ray", 3, 1)
    # A simulated crash: one output truncated, one record lost. The re-run redoes exactly those two.
    data = (out / "a.mp4").read_bytes()
    (out / "a.mp4").write_bytes(data[: len(data) // 3])
    record_path(out / "b.mp4").unlink()
    again = run_batch(str(videos), out, ray="auto", mask=mask, progress=False, **FAST)
    assert {Path(r.input).name: r.status for r in again.results} == {
        "a.mp4": "done", "b.mp4": "done", "c.mp4": "skipped", "broken.mkv": "failed"}
    assert len(read_video(out / "a.mp4")[0]) == N
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]


def test_segments_as_one_ray_task_join_like_a_single_pass(batch: tuple[Path, Path], tmp_path: Path) -> None:
    # Without temporal propagation a segmented repair is pixel-identical to a single pass (with it,
    # hole pixels after a cut may differ: propagation is recurrent and restarts at the segment).
    _, mask = batch
    long = tmp_path / "long" / "long.mp4"
    long.parent.mkdir()
    make_clip(long, frames=24, width=W, height=H)
    single = restore(long, tmp_path / "single.mp4", mask=mask, temporal=False, **FAST)
    split = run_batch(str(long.parent), tmp_path / "split", ray="auto", mask=mask, temporal=False, segments=2,
                      workers=2, progress=False, **FAST)
    assert split.results[0].status == "done" and split.results[0].frames == single.frames == 24
    a, pts_a, _ = read_video(tmp_path / "single.mp4")
    b, pts_b, _ = read_video(tmp_path / "split" / "long.mp4")
    assert pts_a == pts_b and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_with_gpus_an_actor_per_gpu_takes_the_videos_in_turn(batch: tuple[Path, Path], tmp_path: Path,
                                                             monkeypatch) -> None:  # noqa: ANN001
    import vidrestore.batch.ray_runner as ray_runner

    monkeypatch.setattr(ray_runner, "_wants_gpu", lambda job: True)  # as for the GAN on a GPU cluster
    videos, mask = batch
    report = run_batch(str(videos), tmp_path / "out", ray="auto", mask=mask, progress=False, **FAST)
    assert sorted(r.status for r in report.results) == ["done", "done", "done", "failed"]
    assert all(len(read_video(tmp_path / "out" / name)[0]) == N for name in ("a.mp4", "b.mp4", "sub/c.mp4"))
