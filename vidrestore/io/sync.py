"""How far a written file's sound moved against its picture, compared with the source.

Timestamps alone can mislead: a re-encode adds priming samples, AVI stores no times at all, and a
container may shift one stream to make times non-negative. So the audio's content is matched:
the first seconds of both files' sound, mixed to mono at a low rate, are cross-correlated near the
shift the timestamps suggest, and the picture's shift is the change of its first frame's time.
A run whose offset changed shows up in the summary without anyone watching the result.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

RATE = 8000  # samples per second compared: 0.125 ms steps, cheap to correlate
HEAD_SECONDS = 8.0  # how much sound is compared
SEARCH_SECONDS = 0.1  # how far from the timestamps' answer the content may be found


def av_offset_change_ms(source: Path, output: Path) -> float | None:
    """Milliseconds by which the output's audio moved against its video, relative to the source
    (positive: the sound is later). None when either file has no audio or video stream."""
    src, out = _head(source), _head(output)
    if src is None or out is None:
        return None
    (src_video, src_audio, src_samples), (out_video, out_audio, out_samples) = src, out
    audio_shift = _content_shift(src_samples, out_samples, out_audio - src_audio)
    return 1000.0 * (audio_shift - (out_video - src_video))


def _head(path: Path) -> tuple[float, float, np.ndarray] | None:
    """(first video time, first audio time, the first seconds of audio as mono float at RATE)."""
    first_video = _first_video_time(path)
    if first_video is None:
        return None
    with av.open(str(path)) as container:  # a fresh open: after a seek some demuxers drop times
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        start, chunks, count = None, [], 0
        for frame in container.decode(container.streams.audio[0]):
            if start is None:
                if frame.pts is None:
                    return None
                start = float(frame.pts * frame.time_base)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                count += out.samples
            if count >= HEAD_SECONDS * RATE:
                break
    if start is None:
        return None
    return first_video, start, np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def _first_video_time(path: Path) -> float | None:
    """Presentation time of the first decoded picture; None for a file without video or audio."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError):
        return None
    with container:
        if not container.streams.audio or not container.streams.video:
            return None
        for frame in container.decode(container.streams.best("video")):
            return float(frame.pts * frame.time_base) if frame.pts is not None else None
    return None


def _content_shift(src: np.ndarray, out: np.ndarray, expected: float) -> float:
    """Seconds by which ``out``'s content lies later than ``src``'s, searched within
    SEARCH_SECONDS of ``expected`` (the timestamps' answer, kept for silence)."""
    n = min(len(src), len(out))
    if n < RATE // 10 or float(np.std(src[:n])) < 1e-4 or float(np.std(out[:n])) < 1e-4:
        return expected
    a, b = src.astype(np.float64), out.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    # corr[k] = sum_n out[n] * src[n + k]: out's sample n holds src's sample n + k
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lags = np.arange(size)
    lags[lags >= size // 2] -= size
    # out's start lies `expected` later than src's when the content did not move: lag 0 then
    # means a shift of `expected`; a lag k moves it by -k samples
    reach = int(SEARCH_SECONDS * RATE)
    near = np.abs(lags) <= reach
    best = lags[near][int(np.argmax(corr[near]))]
    return expected - best / RATE
