"""Bad input fails with one clear, specific message, and nothing is left at the output path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clips import box_mask, write_mask
from conftest import H, N, W

import vidrestore.pipeline as pipeline
from vidrestore import restore
from vidrestore.errors import InputError, MaskError, OptionError, OutputError


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def test_missing_input(tmp_path: Path, logo_mask: Path) -> None:
    with pytest.raises(InputError, match="input not found"):
        restore(tmp_path / "nope.mp4", tmp_path / "o.mp4", mask=logo_mask)


def test_not_a_video(tmp_path: Path, logo_mask: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a readable video"):
        restore(bogus, tmp_path / "o.mp4", mask=logo_mask)


def test_truncated_video(clip: Path, tmp_path: Path, logo_mask: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    with pytest.raises(InputError):
        restore(cut, tmp_path / "o.mp4", mask=logo_mask)
    assert not (tmp_path / "o.mp4").exists() and not leftovers(tmp_path)


def test_empty_folder(tmp_path: Path, logo_mask: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frame images"):
        restore(tmp_path / "empty", tmp_path / "o.mp4", mask=logo_mask)


def test_mask_count_mismatch_names_both_numbers(clip: Path, tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(N - 2):
        write_mask(masks / f"{i}.png", box_mask(W, H, (1, 1, 5, 5)))
    with pytest.raises(MaskError, match=f"has {N - 2} images but the video has {N} frames"):
        restore(clip, tmp_path / "o.mp4", mask=masks)


def test_mask_size_mismatch_and_resize_option(clip: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    write_mask(small, np.ones((H // 2, W // 2), bool))
    with pytest.raises(MaskError, match=f"is {W // 2}x{H // 2} but the video is {W}x{H}"):
        restore(clip, tmp_path / "o.mp4", mask=small)
    summary = restore(clip, tmp_path / "o.mp4", mask=small, mask_resize=True, method="telea")
    assert summary.masked_fraction > 0.99


def test_unreadable_mask(clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(MaskError, match="cannot read mask"):
        restore(clip, tmp_path / "o.mp4", mask=bad)


def test_no_mask_and_no_detect(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="nothing to repair"):
        restore(clip, tmp_path / "o.mp4")


def test_existing_output_needs_overwrite(clip: Path, tmp_path: Path, logo_mask: Path) -> None:
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        restore(clip, out, mask=logo_mask)
    assert out.read_bytes() == b"keep me"
    restore(clip, out, mask=logo_mask, overwrite=True, method="telea")
    assert out.stat().st_size > 1000


def test_output_is_input_even_with_overwrite(clip: Path, logo_mask: Path) -> None:
    before = clip.read_bytes()
    with pytest.raises(OutputError, match="is an input"):
        restore(clip, clip, mask=logo_mask, overwrite=True)
    assert clip.read_bytes() == before


def test_unwritable_output_folder(clip: Path, tmp_path: Path, logo_mask: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        restore(clip, tmp_path / "no" / "such" / "o.mp4", mask=logo_mask)


@pytest.mark.parametrize("name", ["o.mp4", "frames_out"])
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_output(
    clip: Path,
    tmp_path: Path,
    logo_mask: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    error: BaseException,
) -> None:
    calls = {"n": 0}
    real = pipeline.composite

    def failing_composite(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "composite", failing_composite)
    with pytest.raises(type(error)):
        restore(clip, tmp_path / name, mask=logo_mask, method="telea", batch_frames=4)
    assert not (tmp_path / name).exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("flow failed"), KeyboardInterrupt()])
def test_failure_in_a_stage_running_ahead_leaves_no_output_and_no_thread(
    clip: Path, tmp_path: Path, logo_mask: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException,
) -> None:
    """Propagation works in its own thread: its failure still reaches the caller, and stops it."""
    import threading

    from vidrestore.temporal.propagate import TemporalPropagation

    calls = {"n": 0}
    real = TemporalPropagation._process
    seen_threads: set[str] = set()

    def failing_process(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["n"] += 1
        seen_threads.add(threading.current_thread().name)
        if calls["n"] == 6:
            raise error
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TemporalPropagation, "_process", failing_process)
    with pytest.raises(type(error)):
        restore(clip, tmp_path / "o.mp4", mask=logo_mask, method="telea", batch_frames=4)
    assert seen_threads == {"TemporalPropagation"}
    assert not (tmp_path / "o.mp4").exists()
    assert leftovers(tmp_path) == []
    assert not [t for t in threading.enumerate() if t.name == "TemporalPropagation" and t.is_alive()]


def test_corrupt_packets_are_skipped_and_counted(clip: Path, tmp_path: Path, logo_mask: Path) -> None:
    data = bytearray(clip.read_bytes())
    mdat = data.find(b"mdat")
    middle = mdat + (len(data) - mdat) // 2
    for offset in range(middle, middle + 600, 5):  # scribble over coded pictures mid-stream
        data[offset] ^= 0x5A
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    summary = restore(broken, tmp_path / "o.mp4", mask=logo_mask, method="telea")
    assert summary.frames >= 1  # FFmpeg conceals what it can; the run does not crash


@pytest.mark.parametrize(("option", "message"), [({"window": 0}, "--window"), ({"reach": -1}, "--reach")])
def test_bad_temporal_options_are_refused(
    clip: Path, tmp_path: Path, logo_mask: Path, option: dict, message: str
) -> None:
    with pytest.raises(OptionError, match=message):
        restore(clip, tmp_path / "o.mp4", mask=logo_mask, **option)
    assert not (tmp_path / "o.mp4").exists()
