"""Sound and picture stay in sync through a repair, for every container in and out.

Each source flashes on one frame and clicks at the same instant (tests/sync_clips.py). After
`restore`, the output is read back as a player would: first and last picture times, first audio
sample time, audio length, and the click's offset from the flash. Tolerances:

- pictures: exact (1 ms). AVI stores no start time, so an AVI output starts at its first frame and
  everything in it, sound included, moves by the same amount;
- lip sync (click minus flash): 0.5 ms where the audio is copied, 1.5 ms where the container forces
  a re-encode (a lossy codec smears the click's onset by a fraction of a millisecond);
- first audio sample and audio length: one audio frame of the codecs involved, where a codec or
  container change shows or hides the encoder's priming samples (copied AAC in Matroska plays its
  1024 priming samples before time zero; the content itself does not move); for the length, two
  where a re-encode goes into a container without edit lists (MPEG-TS plays both the priming and
  the padding of the last frame).
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from sync_clips import FPS, make_sync_clip, timing

from vidrestore.api import restore
from vidrestore.batch import run_batch
from vidrestore.io.sync import av_offset_change_ms

# name -> (file, video codec, audio codec, video start, audio start, sample rate)
SOURCES = {
    "mp4-aac": ("in.mp4", "libx264", "aac", 0.0, 0.0, 44100),
    "mov-pcm": ("in.mov", "libx264", "pcm_s16le", 0.0, 0.0, 44100),
    "mkv-opus": ("in.mkv", "libx264", "libopus", 0.0, 0.0, 48000),
    "webm-opus": ("in.webm", "libvpx-vp9", "libopus", 0.0, 0.0, 48000),
    "avi-pcm": ("in.avi", "mpeg4", "pcm_s16le", 0.0, 0.0, 44100),
    "avi-mp3": ("in.avi", "mpeg4", "libmp3lame", 0.0, 0.0, 44100),
    # a broadcast capture: picture and sound start late, and not together
    "ts-mp2": ("in.ts", "mpeg2video", "mp2", 0.04, 0.03, 48000),
    "mp4-silent": ("in.mp4", "libx264", None, 0.0, 0.0, 44100),
}
OUTPUTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".ts")
FAST = {"box": "4,4,8,8", "method": "telea", "temporal": False, "progress": False}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sync-sources")
    made = {}
    for name, (file, vcodec, acodec, vstart, astart, rate) in SOURCES.items():
        folder = root / name
        folder.mkdir()
        made[name] = folder / file
        make_sync_clip(made[name], vcodec, acodec, vstart, astart, frames=20, rate=rate, gop=5)
    return made


def assert_same_timing(source: Path, output: Path, avi_output: bool) -> None:
    a, b = timing(source), timing(output)
    shift = -a.first_video if avi_output else 0.0
    assert b.frames == a.frames
    assert b.first_video == pytest.approx(a.first_video + shift, abs=1e-3)
    assert b.last_video == pytest.approx(a.last_video + shift, abs=1e-3)
    if a.sync is None:
        assert b.sync is None
        return
    assert b.sync is not None, "the audio was lost"
    copied = a.audio_codec == b.audio_codec
    assert b.sync == pytest.approx(a.sync, abs=0.0005 if copied else 0.0015)
    one_frame = max(a.audio_frame, b.audio_frame) + 0.001
    assert b.first_audio == pytest.approx(a.first_audio + shift, abs=one_frame)
    # a re-encode into a container with no edit lists (MPEG-TS) also plays the last frame's padding
    frames = 1 if copied else 2
    assert b.audio_seconds == pytest.approx(a.audio_seconds, abs=frames * one_frame)


@pytest.mark.parametrize("suffix", OUTPUTS)
@pytest.mark.parametrize("name", list(SOURCES))
def test_every_container_keeps_sound_and_picture_together(
    sources: dict[str, Path], name: str, suffix: str, tmp_path: Path
) -> None:
    source, output = sources[name], tmp_path / f"out{suffix}"
    summary = restore(source, output, **FAST)
    assert_same_timing(source, output, avi_output=suffix == ".avi")
    if SOURCES[name][2] is None:
        assert summary.av_offset_ms is None
    else:
        assert summary.av_offset_ms == pytest.approx(0.0, abs=1.0)
        assert "audio/video offset" in summary.line()


@pytest.mark.parametrize("suffix", OUTPUTS)
def test_a_frame_folder_gets_the_rate_it_is_given_from_time_zero(suffix: str, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    make_sync_clip(clip, "libx264", None, frames=12)
    frames = tmp_path / "frames"
    restore(clip, frames, **FAST)
    output = tmp_path / f"out{suffix}"
    restore(frames, output, fps=FPS, **FAST)
    t = timing(output)
    assert (t.frames, t.first_video) == (12, pytest.approx(0.0, abs=1e-3))
    assert t.last_video == pytest.approx(11 / FPS, abs=1e-3)


@pytest.mark.parametrize(("name", "suffix"), [("mp4-aac", ".mp4"), ("ts-mp2", ".mkv"), ("ts-mp2", ".avi")])
def test_segment_joins_keep_sync(sources: dict[str, Path], name: str, suffix: str, tmp_path: Path) -> None:
    output = tmp_path / f"out{suffix}"
    summary = restore(sources[name], output, segments=2, workers=1, **FAST)
    assert_same_timing(sources[name], output, avi_output=suffix == ".avi")
    assert summary.av_offset_ms == pytest.approx(0.0, abs=1.0)


def test_batches_map_avi_and_ts_to_matroska_in_sync(sources: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("avi-mp3", "ts-mp2"):
        (folder / f"{name}{sources[name].suffix}").write_bytes(sources[name].read_bytes())
    report = run_batch(str(folder), tmp_path / "out", **FAST)
    assert report.exit_code == 0
    for name in ("avi-mp3", "ts-mp2"):
        output = tmp_path / "out" / f"{name}.mkv"
        assert_same_timing(sources[name], output, avi_output=False)
    assert [r.av_offset_ms == pytest.approx(0.0, abs=1.0) for r in report.results] == [True, True]


def test_the_offset_measure_sees_sound_moved_against_the_picture(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    """A copy of the source whose audio packets are 40 ms late reads +40 ms; a true copy 0."""
    source = sources["avi-pcm"]  # MPEG-4 Part 2 carries its headers in band: a plain remux decodes
    for delay_ms, name in ((0, "same.mkv"), (40, "late.mkv"), (-20, "early.mkv")):
        output = tmp_path / name
        with av.open(str(source)) as src, av.open(
            str(output), "w", container_options={"avoid_negative_ts": "disabled"}
        ) as out:
            streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
            for packet in src.demux():
                if packet.dts is None:
                    continue
                if packet.stream.type == "audio":
                    ticks = round(delay_ms / 1000 / packet.time_base)
                    packet.pts, packet.dts = packet.pts + ticks, packet.dts + ticks
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
        measured = av_offset_change_ms(source, output)
        assert measured == pytest.approx(delay_ms, abs=1.0), name
    assert av_offset_change_ms(sources["mp4-silent"], sources["mp4-silent"]) is None
