"""`--precision auto`: the network runs in bf16 only on CPUs that do bfloat16 in hardware, and
its fill there is the fp32 fill within a grey level."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_temporal import texture

from vidrestore.inpaint import device as device_choices
from vidrestore.inpaint.device import resolve_precision
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.models import GENERATOR_VARIANTS, build_generator


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_on_a_cpu_with_bf16_in_hardware(monkeypatch: pytest.MonkeyPatch,
                                                                    native: bool) -> None:
    monkeypatch.setattr(device_choices, "cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        assert resolve_precision("auto", cpu) == (torch.bfloat16 if native else None)
        assert resolve_precision("auto", torch.device("cuda")) is None
        assert resolve_precision("fp32", cpu) is None
    if native:
        assert resolve_precision("bf16", cpu) == torch.bfloat16
    else:
        with pytest.warns(UserWarning, match="bf16 runs on CUDA and on CPUs with bfloat16 in hardware"):
            assert resolve_precision("bf16", cpu) is None
    with pytest.warns(UserWarning, match="fp16 runs only on CUDA"):
        assert resolve_precision("fp16", cpu) is None


def test_bf16_hardware_is_told_by_its_cpu_flags(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """The flags Linux reports for AVX512-BF16 (Cooper Lake, Zen 4 on) and AMX (Sapphire Rapids on)."""
    real_open = open

    def cpuinfo(flags: str):  # noqa: ANN202
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n")
        return lambda name, *a, **k: real_open(path if name == "/proc/cpuinfo" else name, *a, **k)

    for flags, native in (("avx2 avx512f avx512_bf16", True), ("avx512f amx_tile amx_bf16", True),
                          ("avx2 avx512f avx512_vnni", False), ("avx512bf16x", False)):
        monkeypatch.setattr("builtins.open", cpuinfo(flags))
        device_choices.cpu_has_native_bf16.cache_clear()
        assert device_choices.cpu_has_native_bf16() is native, flags
    monkeypatch.undo()
    device_choices.cpu_has_native_bf16.cache_clear()


def test_fix_and_the_engine_default_to_auto() -> None:
    from vidrestore.config import FixConfig
    from vidrestore.inpaint.options import InpaintOptions

    assert InpaintOptions().precision == "auto"
    assert FixConfig(input=Path("a.mp4"), output=Path("b.mp4")).inpaint.precision == "auto"
    engine = GanInpainter(build_generator(GENERATOR_VARIANTS["tiny"]), "cpu")
    assert engine.autocast_dtype == resolve_precision("auto", torch.device("cpu"))


def test_batch_records_made_at_fp32_stay_valid_under_auto() -> None:
    from vidrestore.batch.done import options_hash

    assert options_hash({"precision": "auto", "method": "auto"}) == options_hash(
        {"precision": "fp32", "method": "auto"})
    assert options_hash({"precision": "bf16"}) != options_hash({"precision": "fp32"})


def test_a_bf16_fill_is_the_fp32_fill_within_a_grey_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_choices, "cpu_has_native_bf16", lambda: True)
    torch.manual_seed(0)
    model = build_generator(GENERATOR_VARIANTS["tiny-telea"])
    for p in model.parameters():  # a trained-looking model: the residual layer is not zero
        p.data.normal_(0, 0.1)
    frames = np.stack([texture(64, 96, seed) for seed in range(2)])
    masks = np.zeros((2, 64, 96), bool)
    masks[:, 16:40, 20:60] = True
    fills = {}
    for precision in ("fp32", "bf16"):
        engine = GanInpainter(build_generator(GENERATOR_VARIANTS["tiny-telea"]), "cpu", 2, precision)
        assert engine.autocast_dtype == (torch.bfloat16 if precision == "bf16" else None)
        engine.model.load_state_dict(model.state_dict())
        fills[precision] = engine.inpaint(frames, masks).astype(np.int16)
    assert (fills["fp32"][~masks] == frames[~masks]).all() and (fills["bf16"][~masks] == frames[~masks]).all()
    difference = np.abs(fills["fp32"] - fills["bf16"])[masks]
    assert difference.max() > 0  # bf16 really ran
    assert difference.mean() < 1.0 and fills["fp32"][masks].std() > 5  # the fill is not flat
