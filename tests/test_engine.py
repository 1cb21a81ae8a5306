"""The GAN engine: untouched pixels, batching, whole-frame equivalence, out-of-memory retry, `fix`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidrestore.errors import OptionError, WeightsError
from vidrestore.inpaint.crops import CropSettings, plan_crops
from vidrestore.inpaint.device import (
    DeviceMemoryError,
    cpu_threads,
    default_batch_size,
    is_out_of_memory,
    resolve_device,
    resolve_precision,
)
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.inpaint.registry import InpaintOptions, create_inpainter
from vidrestore.metrics import psnr
from vidrestore.models import GeneratorConfig, build_generator, save_generator
from vidrestore.models import weights as weights_module

# Tiny widths for speed; a working size of 128 so whole test frames fit in one network input.
CONFIG = GeneratorConfig("test", widths=(8, 16, 16), dilations=(1, 2), working_size=128)


def generator(seed: int = 0, residual_std: float = 0.02) -> torch.nn.Module:
    """A random generator; ``residual_std`` > 0 makes the network add to its pre-fill, like a trained one."""
    torch.manual_seed(seed)
    model = build_generator(CONFIG)
    with torch.no_grad():
        torch.nn.init.normal_(model.to_residual.weight, std=residual_std)
    return model


def scene(n: int = 4, h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth textured frames (gradients, waves, a little noise) that a fill can get roughly right."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        base = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin((xx + 3 * i) / 9) * np.cos(yy / 13)], axis=-1)
        frames.append(np.clip(base * 255 + rng.normal(0, 4, base.shape), 0, 255))
    return np.stack(frames).astype(np.uint8)


def holes(n: int = 4, h: int = 96, w: int = 128) -> np.ndarray:
    masks = np.zeros((n, h, w), bool)
    masks[0, 30:50, 40:70] = True  # a logo
    masks[1, 0:12, 0:20] = True  # a corner
    masks[1, :, 100:103] = True  # a scratch, full height
    masks[3, 60:66, 10:16] = True  # frame 2 stays clean
    masks[3, 70:90, 80:126] = True
    return masks


def test_output_shape_and_untouched_pixels() -> None:
    frames, masks = scene(), holes()
    out = GanInpainter(generator(), batch_size=3).inpaint(frames, masks)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out[~masks], frames[~masks])
    assert np.array_equal(out[2], frames[2])
    assert psnr(frames, out, masks) > 18  # filled from the surroundings, not left black or noisy


def test_frames_without_holes_cost_nothing() -> None:
    frames = scene()
    engine = GanInpainter(generator())
    engine.model.forward = None  # would fail if called
    assert engine.inpaint(frames, np.zeros(frames.shape[:3], bool)) is frames


def test_hole_content_does_not_leak_into_the_fill() -> None:
    frames, masks = scene(), holes()
    dirty = frames.copy()
    dirty[masks] = np.random.default_rng(1).integers(0, 256, (int(masks.sum()), 3), dtype=np.uint8)
    engine = GanInpainter(generator(), settings=CropSettings.for_model(CONFIG, feather=0))
    assert np.array_equal(engine.inpaint(frames, masks), engine.inpaint(dirty, masks))


def test_same_seed_same_result() -> None:
    frames, masks = scene(), holes()
    a = GanInpainter(generator(seed=5)).inpaint(frames, masks)
    b = GanInpainter(generator(seed=5)).inpaint(frames, masks)
    assert np.array_equal(a, b)


def test_batching_across_frames_changes_nothing() -> None:
    frames, masks = scene(), holes()
    engine = GanInpainter(generator(), batch_size=16)
    together = engine.inpaint(frames, masks)
    one_by_one = np.concatenate(
        [engine.inpaint(frames[i : i + 1], masks[i : i + 1]) for i in range(len(frames))]
    )
    assert np.abs(together.astype(int) - one_by_one).max() <= 1


@pytest.mark.parametrize("residual_std", [0.0, 0.02])
def test_crop_path_matches_a_whole_frame_run_within_a_tenth_of_a_db(residual_std: float) -> None:
    """Frames that fit the working size: cropping and batching must not cost quality."""
    frames, masks = scene(n=4, h=96, w=128), holes(n=4, h=96, w=128)
    engine = GanInpainter(generator(residual_std=residual_std), batch_size=4)
    crops = engine.inpaint(frames, masks)
    whole = engine.inpaint_whole_frames(frames, masks)
    assert any(c.window != (0, 96, 0, 128) for c in plan_crops(masks, engine.settings))  # real crops
    for i in np.flatnonzero(masks.any(axis=(1, 2))):
        assert abs(psnr(frames[i], crops[i], masks[i]) - psnr(frames[i], whole[i], masks[i])) < 0.1
        assert psnr(whole[i], crops[i], masks[i]) > 35


def test_feathering_blends_towards_the_frame_at_the_mask_edge() -> None:
    frames = np.full((1, 64, 64, 3), 200, np.uint8)
    masks = np.zeros((1, 64, 64), bool)
    masks[0, 16:48, 16:48] = True
    engine = GanInpainter(generator(residual_std=0.0))
    engine.model.forward = lambda image, mask: torch.zeros_like(image)  # fill = black
    out = engine.inpaint(frames, masks)[0, 32, 14:34, 0]
    # the band is the outer ``feather`` (3) pixels; deeper in, where the damage is, all fill
    assert list(out[:2]) == [200, 200] and out[2] == 133 and out[3] == 67 and out[4] == 0 and out[-1] == 0


def test_out_of_memory_halves_the_batch_and_fills_every_crop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    frames, masks = scene(n=8), np.zeros((8, 96, 128), bool)
    masks[:, 30:50, 40:70] = True  # eight crops of one bucket shape
    masks[::2, 0:6, 110:126] = True  # and four of another
    engine = GanInpainter(generator(), batch_size=8)
    expected = GanInpainter(generator(), batch_size=8).inpaint(frames, masks)
    real_forward, seen = engine.model.forward, []

    def forward(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        seen.append(image.shape[0])
        return real_forward(image, mask)

    monkeypatch.setattr(engine.model, "forward", forward)
    with pytest.warns(UserWarning, match="batch size lowered"):
        out = engine.inpaint(frames, masks)
    assert sum(seen) == len(plan_crops(masks, engine.settings)) and max(seen) == 2
    assert engine.batch_size == 2
    assert np.array_equal(out, expected)


def test_out_of_memory_for_one_crop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = GanInpainter(generator(), batch_size=4)

    def forward(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)")

    monkeypatch.setattr(engine.model, "forward", forward)
    with pytest.raises(DeviceMemoryError, match=r"single \d+x\d+ crop .* use --device cpu"):
        engine.inpaint(scene(n=1), holes()[:1])


def test_other_errors_are_not_mistaken_for_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = GanInpainter(generator())
    monkeypatch.setattr(
        engine.model, "forward", lambda image, mask: (_ for _ in ()).throw(RuntimeError("bad shape"))
    )
    with pytest.raises(RuntimeError, match="bad shape"):
        engine.inpaint(scene(), holes())
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x")) and not is_out_of_memory(
        ValueError("out of memory")
    )


def test_large_frames_and_huge_holes_are_filled_through_downscaled_crops() -> None:
    frames = cv2.resize(scene(n=1)[0], (640, 480))[None]
    masks = np.zeros((1, 480, 640), bool)
    masks[0, 100:400, 100:560] = True
    engine = GanInpainter(generator())
    (crop,) = plan_crops(masks, engine.settings)
    assert crop.scaled and max(crop.work_shape) == CONFIG.working_size
    out = engine.inpaint(frames, masks)
    assert np.array_equal(out[~masks], frames[~masks]) and psnr(frames, out, masks) > 15


def test_device_and_precision_choices() -> None:
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    with pytest.raises(OptionError, match="unknown --device 'gpu'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="no CUDA device"):
            resolve_device("cuda:1")
        with pytest.warns(UserWarning, match="fp16 runs only on CUDA; using fp32"):
            assert resolve_precision("fp16", torch.device("cpu")) is None
    with pytest.raises(OptionError, match="--precision"):
        resolve_precision("int8", torch.device("cpu"))
    assert default_batch_size(torch.device("cpu"), CONFIG) >= 1
    before = torch.get_num_threads()
    with cpu_threads(torch.device("cpu"), 1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.fixture
def weights_file(tmp_path: Path) -> Path:
    return save_generator(generator(), tmp_path / "test-gan.safetensors", {"steps": 0, "data": "random init"})


@pytest.fixture
def no_default_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty_package"
    empty.mkdir()
    monkeypatch.setattr(weights_module, "_package_dir", lambda: empty)


def test_from_options_loads_the_named_weights(weights_file: Path) -> None:
    engine = create_inpainter(
        InpaintOptions(method="gan", weights=str(weights_file), device="cpu", batch_size=2)
    )
    assert isinstance(engine, GanInpainter) and engine.name == "gan" and engine.batch_size == 2
    assert engine.model.config == CONFIG


def test_from_options_without_default_weights_says_what_to_do(no_default_weights: None) -> None:
    with pytest.raises(
        WeightsError, match="no default GAN weights are installed; pass --weights PATH or use --method telea"
    ):
        GanInpainter.from_options(InpaintOptions(method="gan"))


def test_fix_with_the_gan_end_to_end(clip: Path, logo_mask: Path, weights_file: Path, tmp_path: Path) -> None:
    from clips import box_mask, read_video
    from conftest import LOGO_BOX, H, N, W

    from vidrestore import restore

    out = tmp_path / "fixed.mkv"
    summary = restore(
        clip, out, mask=logo_mask, method="gan", weights=str(weights_file), device="cpu", lossless=True
    )
    source, _, _ = read_video(clip)
    result, _, _ = read_video(out)
    assert summary.method == "gan" and summary.frames == N and len(result) == N
    hole = cv2.dilate(box_mask(W, H, LOGO_BOX).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    for a, b in zip(source, result, strict=True):
        assert np.array_equal(a[~hole], b[~hole])
    assert np.mean([psnr(a, b, hole) for a, b in zip(source, result, strict=True)]) > 14


def test_fix_with_the_gan_and_no_weights_fails_before_writing(
    clip: Path, logo_mask: Path, tmp_path: Path, no_default_weights: None
) -> None:
    from vidrestore import restore

    with pytest.raises(WeightsError, match="--method telea"):
        restore(clip, tmp_path / "out.mp4", mask=logo_mask, method="gan")
    assert not (tmp_path / "out.mp4").exists()


TELEA_CONFIG = GeneratorConfig(
    "test-telea", widths=(8, 16, 16), dilations=(1, 2), working_size=128, in_channels=7,
    prefill="telea+pyramid",
)  # fmt: skip


def telea_generator(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_generator(TELEA_CONFIG)
    with torch.no_grad():
        torch.nn.init.normal_(model.to_residual.weight, std=0.02)
    return model


def test_the_engine_hands_the_network_the_telea_fill_of_each_crop() -> None:
    from vidrestore.models.generator import telea_fill

    frames, masks = scene(), holes()
    engine = GanInpainter(telea_generator(), batch_size=2)
    real_forward, calls = engine.model.forward, []

    def forward(image: torch.Tensor, mask: torch.Tensor, telea: torch.Tensor | None = None) -> torch.Tensor:
        calls.append(torch.equal(telea, telea_fill(image, mask)))
        return real_forward(image, mask, telea)

    engine.model.forward = forward  # type: ignore[method-assign]
    out = engine.inpaint(frames, masks)
    assert calls and all(calls)
    assert np.array_equal(out[~masks], frames[~masks]) and psnr(frames, out, masks) > 18


@pytest.mark.parametrize("make", [generator, telea_generator], ids=["pyramid", "telea+pyramid"])
def test_the_engine_reads_no_value_back_between_upload_and_download(make) -> None:  # type: ignore[no-untyped-def]
    """One upload and one download per batch, nothing in between: on a GPU nothing waits for it."""
    from test_device_resident import HostReads

    engine = GanInpainter(make(), batch_size=2)
    with HostReads() as probe:
        out = engine.inpaint(scene(), holes())
    assert probe.reads == [] and out.shape == scene().shape


def test_preparing_batches_ahead_in_a_thread_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU the host prepares the next batch while the device runs this one; same pixels."""
    frames, masks = scene(n=8), np.zeros((8, 96, 128), bool)
    masks[:, 30:50, 40:70] = True
    masks[::2, 0:6, 110:126] = True
    plain = GanInpainter(telea_generator(), batch_size=2)
    ahead = GanInpainter(telea_generator(), batch_size=2)
    assert not plain.prepare_ahead  # the CPU default
    ahead.prepare_ahead = True
    assert np.array_equal(ahead.inpaint(frames, masks), plain.inpaint(frames, masks))
    real_forward = ahead.model.forward

    def forward(image: torch.Tensor, mask: torch.Tensor, telea: torch.Tensor | None = None) -> torch.Tensor:
        if image.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return real_forward(image, mask, telea)

    monkeypatch.setattr(ahead.model, "forward", forward)
    with pytest.warns(UserWarning, match="batch size lowered to 1"):
        assert np.array_equal(ahead.inpaint(frames, masks), plain.inpaint(frames, masks))


def test_channels_last_is_an_option_and_changes_no_pixel_beyond_rounding() -> None:
    frames, masks = scene(), holes()
    nchw = GanInpainter(telea_generator(), channels_last=False)
    nhwc = GanInpainter(telea_generator(), channels_last=True)
    assert not nchw.channels_last and nhwc.channels_last
    assert nhwc.model.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    a, b = nchw.inpaint(frames, masks), nhwc.inpaint(frames, masks)
    assert np.abs(a.astype(int) - b).max() <= 1
    assert GanInpainter(telea_generator()).channels_last  # the default where it helps (CPU, CUDA)


def test_bf16_autocast_runs_on_the_cpu() -> None:
    """The engine runs under CPU autocast (what `--precision auto` picks on a CPU with bf16 in
    hardware), close to its fp32 fill."""
    frames, masks = scene(), holes()
    fp32 = GanInpainter(telea_generator(), precision="fp32").inpaint(frames, masks)
    engine = GanInpainter(telea_generator())
    engine.autocast_dtype = torch.bfloat16
    bf16 = engine.inpaint(frames, masks)
    assert np.array_equal(bf16[~masks], frames[~masks])
    assert abs(psnr(frames, bf16, masks) - psnr(frames, fp32, masks)) < 0.5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_matches_the_cpu(precision: str) -> None:
    frames, masks = scene(), holes()
    cpu = GanInpainter(generator(), precision="fp32").inpaint(frames, masks)
    gpu = GanInpainter(generator(), device="cuda", precision=precision).inpaint(frames, masks)
    assert psnr(cpu, gpu, masks) > (45 if precision == "fp32" else 35)


def test_thin_holes_get_the_telea_fill_when_the_card_says_so(tmp_path: Path) -> None:
    from vidrestore.inpaint.classical import ClassicalInpainter

    frames, masks = scene(n=1), np.zeros((1, 96, 128), bool)
    masks[0, :, 110:113] = True  # a scratch: radius 2
    masks[0, 30:60, 5:45] = True  # a box: radius 15, too far from the scratch to share its crop
    path = save_generator(generator(), tmp_path / "g.safetensors", {"thin_holes": {"classical_radius": 4}})
    engine = GanInpainter.from_options(InpaintOptions(method="gan", weights=str(path), device="cpu"))
    assert engine.settings.classical_radius == 4.0
    out = engine.inpaint(frames, masks)
    telea = ClassicalInpainter("telea").inpaint(frames, masks)
    network = GanInpainter(generator()).inpaint(frames, masks)  # no classical_radius: all network
    scratch, box = masks.copy(), masks.copy()
    scratch[..., :100], box[..., 100:] = False, False
    assert np.abs(out[scratch].astype(int) - telea[scratch]).max() <= 2
    assert not np.array_equal(network[scratch], out[scratch])
    assert np.array_equal(out[box], network[box])
    assert np.array_equal(out[~masks], frames[~masks])


@pytest.mark.parametrize(
    ("card", "radius"),
    [({}, 0.0), ({"thin_holes": {"classical_radius": 6.5}}, 6.5), ({"thin_holes": "x"}, 0.0),
     ({"thin_holes": {"classical_radius": -1}}, 0.0), ({"thin_holes": {"classical_radius": "9"}}, 0.0)],
)  # fmt: skip
def test_classical_radius_comes_only_from_a_valid_card_entry(card: dict, radius: float) -> None:
    from vidrestore.inpaint.engine import classical_radius

    assert classical_radius(card) == radius


@pytest.mark.parametrize(
    ("shape", "cap", "expected"),
    [((32, 32), 1.0, (32, 32)), ((32, 32), 1.5, (48, 48)), ((32, 64), 2.0, (64, 128)),
     ((96, 80), 2.0, (128, 112)), ((128, 64), 2.0, (128, 64)), ((112, 32), 1.1, (128, 32))],
)  # fmt: skip
def test_small_inputs_are_enlarged_towards_the_working_size_by_at_most_the_cap(
    shape: tuple[int, int], cap: float, expected: tuple[int, int]
) -> None:
    from vidrestore.inpaint.engine import enlarged_shape

    settings = CropSettings(working_size=128, stride=16, bucket_step=32, max_upscale=cap)
    assert enlarged_shape(shape, settings) == expected  # multiples of the stride, never past 128


def test_enlarged_crops_reach_the_network_bigger_and_come_back_in_place(tmp_path: Path) -> None:
    frames, masks = scene(n=2), np.zeros((2, 96, 128), bool)
    masks[0, 40:52, 50:66] = True  # a small hole: its crop is far below the working size
    masks[1, 10:22, 90:110] = True
    path = save_generator(generator(), tmp_path / "g.safetensors", {"small_windows": {"max_upscale": 2}})
    engine = GanInpainter.from_options(InpaintOptions(method="gan", weights=str(path), device="cpu"))
    assert engine.settings.max_upscale == 2.0
    seen: list[tuple[int, ...]] = []
    predict = engine._predict

    def spy(images: np.ndarray, holes: np.ndarray, telea: np.ndarray | None) -> np.ndarray:
        seen.append(images.shape)
        return predict(images, holes, telea)

    engine._predict = spy  # type: ignore[method-assign]
    out = engine.inpaint(frames, masks)
    plain = GanInpainter(generator()).inpaint(frames, masks)
    from vidrestore.inpaint.engine import enlarged_shape

    buckets = {crop.bucket for crop in plan_crops(masks, engine.settings)}
    enlarged = {enlarged_shape(bucket, engine.settings) for bucket in buckets}
    assert {shape[1:3] for shape in seen} == enlarged
    assert all(big[0] * big[1] > small[0] * small[1] for big, small in zip(sorted(enlarged), sorted(buckets),
                                                                          strict=True))
    assert np.array_equal(out[~masks], frames[~masks])  # only hole pixels change
    assert not np.array_equal(out[masks], plain[masks])  # and they came from the enlarged run
    assert psnr(frames, out, masks) > 15  # a fill, not garbage: the crop went back where it came from


@pytest.mark.parametrize(
    ("card", "factor"),
    [({}, 1.0), ({"small_windows": {"max_upscale": 1.5}}, 1.5), ({"small_windows": "x"}, 1.0),
     ({"small_windows": {"max_upscale": 0.5}}, 1.0), ({"small_windows": {"max_upscale": "2"}}, 1.0)],
)  # fmt: skip
def test_max_upscale_comes_only_from_a_valid_card_entry(card: dict, factor: float) -> None:
    from vidrestore.inpaint.engine import max_upscale

    assert max_upscale(card) == factor
