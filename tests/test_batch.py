"""Many videos: folders, globs and manifests in, a mirrored output tree, resume, and a JSON report out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from clips import box_mask, make_clip, read_video, write_mask

from vidrestore.batch import is_batch_input, run_batch
from vidrestore.batch.done import record_path
from vidrestore.batch.jobs import expand_jobs
from vidrestore.errors import InputError, OptionError

W, H, N = 64, 48, 6
BOX = (20, 10, 40, 30)
FAST = {"method": "telea", "preset": "ultrafast"}


@pytest.fixture
def mask(tmp_path: Path) -> Path:
    path = tmp_path / "box.png"
    write_mask(path, box_mask(W, H, BOX))
    return path


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    """in/a.mp4, in/b.mkv, in/nested/deeper/c.mp4 and in/broken.mp4 (not a video at all)."""
    root = tmp_path / "in"
    (root / "nested" / "deeper").mkdir(parents=True)
    make_clip(root / "a.mp4", frames=N, width=W, height=H)
    make_clip(root / "b.mkv", frames=N + 2, width=W, height=H)
    make_clip(root / "nested" / "deeper" / "c.mp4", frames=N, width=W, height=H)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    return root


def statuses(report) -> dict[str, str]:  # noqa: ANN001 - BatchReport
    return {Path(r.input).name: r.status for r in report.results}


def test_one_corrupt_file_fails_alone_and_the_report_lists_every_input(
    videos: Path, mask: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = run_batch(str(videos), out, mask=mask, progress=False, **FAST)
    assert statuses(report) == {"a.mp4": "done", "b.mkv": "done", "c.mp4": "done", "broken.mp4": "failed"}
    assert report.exit_code == 1
    data = json.loads((out / "vidrestore-report.json").read_text())
    assert data["inputs"] == 4 and (data["done"], data["failed"], data["skipped"]) == (3, 1, 0)
    rows = {Path(r["input"]).name: r for r in data["results"]}
    assert (
        rows["b.mkv"]["frames"] == N + 2 and rows["a.mp4"]["seconds"] > 0 and rows["a.mp4"]["error"] is None
    )
    assert "broken.mp4" in rows["broken.mp4"]["error"] and "\n" not in rows["broken.mp4"]["error"]
    # The output tree mirrors the input tree; each output is whole and vouched for.
    assert (out / "nested" / "deeper" / "c.mp4").is_file() and (out / "b.mkv").is_file()
    assert not (out / "broken.mp4").exists()
    frames, _, _ = read_video(out / "nested" / "deeper" / "c.mp4")
    assert len(frames) == N and record_path(out / "a.mp4").is_file()
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]


def test_rerun_skips_finished_outputs_and_retries_the_failed_one(
    videos: Path, mask: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_batch(str(videos), out, mask=mask, progress=False, **FAST)
    before = (out / "a.mp4").stat().st_mtime_ns
    again = run_batch(str(videos), out, mask=mask, progress=False, **FAST)
    assert statuses(again) == {
        "a.mp4": "skipped",
        "b.mkv": "skipped",
        "c.mp4": "skipped",
        "broken.mp4": "failed",
    }
    assert (out / "a.mp4").stat().st_mtime_ns == before
    assert {r.frames for r in again.results if r.status == "skipped"} == {N, N + 2}
    make_clip(videos / "broken.mp4", frames=N, width=W, height=H)  # the user replaces the bad file
    fixed = run_batch(str(videos), out, mask=mask, progress=False, **FAST)
    assert statuses(fixed)["broken.mp4"] == "done" and fixed.count("skipped") == 3 and fixed.exit_code == 0


def test_crash_leftovers_are_redone_and_changed_options_void_the_record(
    videos: Path, mask: Path, tmp_path: Path
) -> None:
    (videos / "broken.mp4").unlink()
    out = tmp_path / "out"
    run_batch(str(videos), out, mask=mask, progress=False, **FAST)
    # A truncated output (record left from before), a crash between the rename and the record,
    # a half-written record, and a temp file from a killed worker.
    data = (out / "a.mp4").read_bytes()
    (out / "a.mp4").write_bytes(data[: len(data) // 2])
    record_path(out / "b.mkv").unlink()
    c = out / "nested" / "deeper" / "c.mp4"
    record_path(c).write_text(record_path(c).read_text()[:40])
    (out / ".a.mp4.partial-xyz.mp4").write_bytes(b"junk")
    redo = run_batch(str(videos), out, mask=mask, progress=False, **FAST)
    assert statuses(redo) == {"a.mp4": "done", "b.mkv": "done", "c.mp4": "done"}
    assert len(read_video(out / "a.mp4")[0]) == N
    assert json.loads(record_path(c).read_text())["frames"] == N
    # Outputs made with other options are not what this run asks for.
    changed = run_batch(str(videos), out, mask=mask, progress=False, crf=30, **FAST)
    assert changed.count("done") == 3
    assert run_batch(str(videos), out, mask=mask, progress=False, crf=30, **FAST).count("skipped") == 3
    forced = run_batch(str(videos), out, mask=mask, progress=False, crf=30, overwrite=True, **FAST)
    assert forced.count("done") == 3


def test_frame_folders_count_as_one_video_and_outputs_inside_the_input_are_not_inputs(
    tmp_path: Path, mask: Path
) -> None:
    root = tmp_path / "in"
    scan = root / "scan"
    scan.mkdir(parents=True)
    for i, image in enumerate(make_clip(root / "clip.mp4", frames=N, width=W, height=H)):
        write_mask(scan / f"f{i}.png", image[..., 0] > 128)  # any picture will do as a frame
    assert not is_batch_input(str(scan)) and is_batch_input(str(root))
    assert not is_batch_input(str(root / "clip.mp4"))
    out = root / "restored"  # inside the input folder
    report = run_batch(str(root), out, mask=mask, progress=False, **FAST)
    assert statuses(report) == {"clip.mp4": "done", "scan": "done"}
    assert sorted(p.name for p in (out / "scan").iterdir()) == sorted(p.name for p in scan.iterdir())
    again = run_batch(str(root), out, mask=mask, progress=False, **FAST)
    assert len(again.results) == 2 and again.count("skipped") == 2


def test_glob_patterns_pick_their_matches_and_mirror_below_the_fixed_part(
    videos: Path, mask: Path, tmp_path: Path
) -> None:
    assert is_batch_input(str(videos / "*.mp4"))
    top = run_batch(str(videos / "*.mp4"), tmp_path / "top", mask=mask, progress=False, **FAST)
    assert statuses(top) == {"a.mp4": "done", "broken.mp4": "failed"}
    deep = run_batch(str(videos / "**" / "c.mp4"), tmp_path / "deep", mask=mask, progress=False, **FAST)
    assert statuses(deep) == {"c.mp4": "done"}
    assert (tmp_path / "deep" / "nested" / "deeper" / "c.mp4").is_file()
    single = run_batch(str(videos / "b.mkv"), tmp_path / "one", mask=mask, progress=False, **FAST)
    assert statuses(single) == {"b.mkv": "done"} and (tmp_path / "one" / "b.mkv").is_file()  # a batch of one
    with pytest.raises(InputError, match="no videos"):
        run_batch(str(videos / "*.mov"), tmp_path / "none", mask=mask, progress=False, **FAST)


def test_csv_manifest_rows_override_batch_options(videos: Path, mask: Path, tmp_path: Path) -> None:
    (videos / "small.png").write_bytes((tmp_path / "box.png").read_bytes())  # a mask beside the videos
    manifest = videos / "jobs.csv"
    manifest.write_text(
        "input,mask,output,method,crf,temporal\n"
        "a.mp4,small.png,first.mkv,ns,,false\n"  # relative mask; output relative to the output folder
        "nested/deeper/c.mp4,,,,28,\n"  # no output: mirrors the input under the output folder
        "b.mkv,,,,lots,\n"  # a bad value fails this row alone
    )
    out = tmp_path / "out"
    report = run_batch(str(manifest), out, mask=mask, progress=False, **FAST)
    rows = {Path(r.input).name: r for r in report.results}
    assert rows["a.mp4"].status == "done" and rows["a.mp4"].method == "ns" and rows["c.mp4"].method == "telea"
    assert (out / "first.mkv").is_file() and (out / "nested" / "deeper" / "c.mp4").is_file()
    assert (
        rows["b.mkv"].status == "failed" and "line 4" in rows["b.mkv"].error and "crf" in rows["b.mkv"].error
    )
    assert report.exit_code == 1


def test_jsonl_manifest_with_typed_values_and_absolute_outputs(
    videos: Path, mask: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "a-fixed.mp4"
    target.parent.mkdir()
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "input": str(videos / "a.mp4"),
                        "mask": str(mask),
                        "output": str(target),
                        "crf": 30,
                        "temporal": False,
                        "detect": [],
                    }
                ),
                "",
                json.dumps(
                    {
                        "input": str(videos / "b.mkv"),
                        "mask": str(mask),
                        "output": "b-fixed.mkv",
                        "lossless": True,
                    }
                ),
            ]
        )
        + "\n"
    )
    report = run_batch(str(manifest), None, progress=False, **FAST)  # no output folder: beside the manifest
    assert [r.status for r in report.results] == ["done", "done"]
    assert target.is_file() and (tmp_path / "b-fixed.mkv").is_file()
    assert json.loads((tmp_path / "vidrestore-report.json").read_text())["done"] == 2
    fixed, _, _ = read_video(tmp_path / "b-fixed.mkv")
    source, _, _ = read_video(videos / "b.mkv")
    outside = ~box_mask(W, H, (17, 7, 43, 33))  # lossless: pixels outside the (dilated) box are untouched
    assert all(np.array_equal(f[outside], s[outside]) for f, s in zip(fixed, source, strict=True))


def test_two_workers_write_the_same_videos_as_one(videos: Path, mask: Path, tmp_path: Path) -> None:
    (videos / "broken.mp4").unlink()
    one = run_batch(str(videos), tmp_path / "one", mask=mask, progress=False, **FAST)
    two = run_batch(str(videos), tmp_path / "two", workers=2, mask=mask, progress=False, **FAST)
    assert one.count("done") == two.count("done") == 3 and two.workers == 2
    for name in ("a.mp4", "b.mkv", "nested/deeper/c.mp4"):
        a, pts_a, _ = read_video(tmp_path / "one" / name)
        b, pts_b, _ = read_video(tmp_path / "two" / name)
        assert pts_a == pts_b and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_a_failure_that_may_pass_is_retried_a_bounded_number_of_times(
    videos: Path, mask: Path, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    import vidrestore.batch.runner as runner
    from vidrestore.batch.report import JobResult

    calls: list[int] = []
    real = runner.process_job

    def flaky(job, attempt):  # noqa: ANN001, ANN202
        calls.append(attempt)
        if job.input.name == "a.mp4" and attempt == 1:
            return JobResult(
                str(job.input), str(job.output), "failed", error="OSError: flaky", retryable=True
            )
        if job.input.name == "b.mkv":
            return JobResult(str(job.input), str(job.output), "failed", error="OSError: down", retryable=True)
        return real(job, attempt)

    monkeypatch.setattr(runner, "process_job", flaky)
    report = run_batch(str(videos / "*.m*"), tmp_path / "out", mask=mask, retries=2, progress=False, **FAST)
    rows = {Path(r.input).name: r for r in report.results}
    assert rows["a.mp4"].status == "done" and rows["a.mp4"].attempts == 2
    assert rows["b.mkv"].status == "failed" and rows["b.mkv"].attempts == 3
    assert rows["broken.mp4"].attempts == 1  # a corrupt input fails the same way every time: no retry
    assert len(calls) == 2 + 3 + 1


def test_option_and_input_errors_say_what_to_do(
    videos: Path, mask: Path, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    with pytest.raises(OptionError, match="output folder"):
        run_batch(str(videos), None, mask=mask, progress=False)
    with pytest.raises(OptionError, match="unknown batch option 'colour'"):
        run_batch(str(videos), tmp_path / "o", mask=mask, colour=True)
    bad = tmp_path / "bad.csv"
    bad.write_text("input,speed\na.mp4,3\n")
    with pytest.raises(OptionError, match="unknown column 'speed'"):
        run_batch(str(bad), tmp_path / "o", mask=mask)
    with pytest.raises(InputError, match="manifest not found"):
        run_batch(str(tmp_path / "missing.jsonl"), tmp_path / "o", mask=mask)
    (videos / "a.mkv").write_bytes(b"")  # .mp4/.mkv/.mov/.m4v keep their container ...
    (videos / "a.avi").write_bytes(b"")  # ... others become .mkv: a.avi and a.mkv collide
    with pytest.raises(OptionError, match="would both be written to"):
        expand_jobs(str(videos), tmp_path / "o", {})
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(OptionError, match=r"pip install 'vidrestore\[ray\]'"):
        run_batch(str(videos), tmp_path / "o", ray="local", mask=mask)


DRIVER = """
import signal, sys
from pathlib import Path
from vidrestore.batch import run_batch

def stop(signum, frame):
    raise KeyboardInterrupt

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)  # as the CLI does
    try:
        report = run_batch(sys.argv[1], Path(sys.argv[2]), workers=2, mask=sys.argv[3], method="telea",
                           preset="ultrafast", progress=False)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(report.exit_code)
"""


def start_driver(tmp_path: Path, folder: Path, out: Path, mask: Path) -> subprocess.Popen:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    return subprocess.Popen(
        [sys.executable, str(script), str(folder), str(out), str(mask)],
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc: subprocess.Popen, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the batch ended early: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def wait_until_gone(group: int, timeout: float = 15) -> None:
    """Until no thread of a process of ``group`` is still running. A killed process's main thread
    turns zombie while its other threads (the encoder's, say) are still exiting, and until the last
    one has gone its files stay open and their locks held; so every thread is looked at."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for stat in Path("/proc").glob("[0-9]*/task/[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
                alive = True
                break
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {group} still run {timeout} s after SIGKILL")


@pytest.fixture
def slow_videos(tmp_path: Path) -> tuple[Path, Path]:
    """Three clips that take a few seconds each, so a batch can be stopped in the middle."""
    folder = tmp_path / "slow"
    folder.mkdir()
    for i in range(3):
        make_clip(folder / f"clip{i}.mp4", frames=80, width=160, height=120, audio=False)
    mask = tmp_path / "big.png"
    write_mask(mask, box_mask(160, 120, (40, 30, 90, 80)))
    return folder, mask


def test_a_batch_killed_mid_run_resumes_where_it_stopped(
    slow_videos: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, mask = slow_videos
    out = tmp_path / "out"
    proc = start_driver(tmp_path, folder, out, mask)
    wait_for(lambda: any(out.glob("*.vidrestore.json")), proc)  # one video finished, others under way
    os.killpg(proc.pid, signal.SIGKILL)  # power cut: driver and workers die with no clean-up
    proc.wait()
    wait_until_gone(proc.pid)  # after a power cut nothing runs on: let the workers finish dying
    finished = {p.name.removesuffix(".vidrestore.json") for p in out.glob("*.vidrestore.json")}
    assert 1 <= len(finished) < 3
    resumed = run_batch(str(folder), out, mask=mask, method="telea", preset="ultrafast", progress=False)
    assert {Path(r.output).name for r in resumed.results if r.status == "skipped"} == finished
    assert resumed.count("done") == 3 - len(finished) and resumed.exit_code == 0
    assert all(len(read_video(out / f"clip{i}.mp4")[0]) == 80 for i in range(3))
    assert not [p for p in out.iterdir() if ".partial-" in p.name]  # the killed workers' temp files are gone


def test_sigterm_stops_the_workers_and_leaves_no_temp_files(
    slow_videos: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, mask = slow_videos
    out = tmp_path / "out"
    proc = start_driver(tmp_path, folder, out, mask)
    wait_for(lambda: out.is_dir() and any(".partial-" in p.name for p in out.iterdir()), proc)
    # Let frames flow first: an interrupt in the instant between creating the temp file and starting
    # the pipeline is a known gap of restore() (a re-run sweeps what it leaves).
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # to the driver only, as a job scheduler would
    assert proc.wait(timeout=30) == 130
    report = json.loads((out / "vidrestore-report.json").read_text())
    assert report["interrupted"] >= 1 and report["inputs"] == 3
    assert not [p for p in out.iterdir() if ".partial-" in p.name]


def test_a_worker_builds_its_inpainter_once_for_all_its_videos(
    videos: Path, mask: Path, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    import vidrestore.api
    import vidrestore.batch.worker as worker

    built: list[object] = []
    real = worker.create_inpainter

    def counting(options):  # noqa: ANN001, ANN202
        built.append(options)
        return real(options)

    monkeypatch.setattr(worker, "create_inpainter", counting)
    original = vidrestore.api.create_inpainter
    report = run_batch(str(videos), tmp_path / "out", mask=mask, progress=False, **FAST)
    assert report.count("done") == 3 and len(built) == 1  # one Telea backend for three videos
    assert vidrestore.api.create_inpainter is original  # an in-process batch leaves the API as it found it
