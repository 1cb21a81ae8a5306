"""The training loop: loss goes down, exact resume, NaN guard, Ctrl-C, checkpoints, export, DDP on CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_train_data import write_dataset

from vidrestore.errors import OptionError
from vidrestore.models.weights import load_generator
from vidrestore.train import TrainConfig, train
from vidrestore.train.checkpoint import list_checkpoints, load_checkpoint
from vidrestore.train.distributed import DistContext
from vidrestore.train.loop import Trainer

CPU = DistContext(0, 1, 0, torch.device("cpu"))


def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    dirs = (
        write_dataset(tmp_path / "data")
        if not (tmp_path / "data").exists()
        else {k: tmp_path / "data" / k for k in ("images", "videos", "frames")}
    )
    values = dict(
        data=(str(dirs["images"]), f"frames:{dirs['frames']}", str(dirs["videos"])),
        model="tiny",
        crop_size=32,
        batch_size=2,
        clip_length=2,
        disc_width=8,
        num_workers=0,
        steps=4,
        warmup_steps=1,
        disc_warmup_steps=1,
        val_fraction=0.3,
        val_samples=4,
        log_every=1,
        sample_every=2,
        val_every=100,
        checkpoint_every=2,
        keep_checkpoints=2,
        run_dir=str(tmp_path / "run"),
        quiet=True,
        seed=3,
    )
    values.update(kw)
    return TrainConfig(**values)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_few_steps_reduce_the_loss(tmp_path):
    # no held-out split: it hashes image paths, so under a random tmp_path the first batch (and how
    # fast 20 steps bring its loss down: 0.71-0.85 of the first) would change from run to run
    config = tiny_config(
        tmp_path, lr_g=3e-3, beta1=0.9, warmup_steps=100, temporal_weight=0.5, val_samples=0, val_fraction=0.0
    )
    trainer = Trainer(config, CPU)
    batch = next(iter(trainer.loader))
    first = trainer.train_step(batch)["loss_g"]
    for _ in range(20):
        last = trainer.train_step(batch)["loss_g"]
    assert last < 0.85 * first


def test_train_writes_logs_samples_checkpoints_and_exports(tmp_path):
    config = tiny_config(tmp_path, steps=5, temporal_weight=0.5)
    exported = train(config)
    run = Path(config.run_dir)
    assert exported == run / "generator.safetensors"
    model, card = load_generator(exported)
    assert card["steps"] == 5 and card["train_config"]["model"] == "tiny"
    assert set(card["validation"]) >= {"val_psnr_hole_logo", "val_margin_blob", "val_ssim"}
    assert card["validation_baselines"]["logo"].keys() == {"telea", "ns"}
    steps = [r for r in _log(run) if "loss_g" in r or "loss_d" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5]
    assert [r["phase"] for r in steps] == ["recon", "disc", "joint", "joint", "joint"]
    assert "loss_temp" in steps[-1] and "loss_adv" in steps[-1]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000002.png", "step-00000004.png"]
    names = [p.name for p in list_checkpoints(run / "checkpoints")]
    assert names == ["step-00000004.pt", "step-00000005.pt"]  # keep_checkpoints=2
    assert not [p for p in (run / "checkpoints").iterdir() if "partial" in p.name]
    assert json.loads((run / "config.json").read_text())["steps"] == 5


def test_a_telea_generator_trains_on_the_prefill_made_by_the_data_pipeline(tmp_path, monkeypatch):
    from vidrestore.models.generator import telea_fill

    trainer = Trainer(tiny_config(tmp_path, model="tiny-telea", warmup_steps=100, val_samples=0), CPU)
    batch = next(iter(trainer.loader))
    frames, masks = batch["frames"], batch["masks"]
    assert torch.equal(batch["telea"], telea_fill(frames * (1 - masks), masks))
    seen = []
    real_forward = trainer.generator.forward

    def forward(image, mask, telea=None):
        seen.append(telea)
        return real_forward(image, mask, telea)

    monkeypatch.setattr(trainer.generator, "forward", forward)
    assert torch.isfinite(torch.tensor(trainer.train_step(batch)["loss_g"]))
    assert len(seen) == 1 and torch.equal(seen[0], batch["telea"])


def test_train_exports_a_telea_generator_that_fix_can_load(tmp_path):
    exported = train(tiny_config(tmp_path, model="tiny-telea", steps=2, val_samples=2))
    model, card = load_generator(exported)
    assert card["config"]["prefill"] == "telea+pyramid" and model.needs_telea
    assert "val_psnr_hole_logo" in card["validation"]  # validation ran through the engine


def test_resume_gives_bit_identical_next_losses(tmp_path):
    straight = tiny_config(
        tmp_path, run_dir=str(tmp_path / "a"), steps=5, checkpoint_every=100, val_samples=0
    )
    train(straight)
    first_half = tiny_config(
        tmp_path, run_dir=str(tmp_path / "b"), steps=3, checkpoint_every=100, val_samples=0
    )
    train(first_half)
    resumed = tiny_config(
        tmp_path, run_dir=str(tmp_path / "b"), steps=5, resume=str(tmp_path / "b"), val_samples=0
    )
    train(resumed)

    def losses(run: str) -> dict[int, dict]:
        return {r["step"]: r for r in _log(Path(run)) if "loss_g" in r}

    a, b = losses(straight.run_dir), losses(resumed.run_dir)
    for step in (4, 5):  # joint phase: generator, both discriminators and both optimisers restored
        assert {k: v for k, v in a[step].items() if k.startswith("loss_")} == {
            k: v for k, v in b[step].items() if k.startswith("loss_")
        }
    ga = load_checkpoint(list_checkpoints(tmp_path / "a" / "checkpoints")[-1])["generator"]
    gb = load_checkpoint(list_checkpoints(tmp_path / "b" / "checkpoints")[-1])["generator"]
    assert all(torch.equal(ga[k], gb[k]) for k in ga)


def test_resume_with_new_options_applies_them_and_records_them(tmp_path):
    train(tiny_config(tmp_path, steps=2, val_samples=0))
    config = tiny_config(
        tmp_path, steps=4, val_samples=0, lr_g=1e-3, warmup_steps=2, resume=str(tmp_path / "run")
    )
    exported = train(config)
    _, card = load_generator(exported)
    assert card["segments"] == [
        {"start_step": 0, "end_step": 2, "changed": {}},
        {"start_step": 2, "end_step": 4, "changed": {"lr_g": 1e-3, "steps": 4, "warmup_steps": 2}},
    ]
    state = load_checkpoint(list_checkpoints(tmp_path / "run" / "checkpoints")[-1])
    assert state["opt_g"]["param_groups"][0]["lr"] == 1e-3


def test_non_finite_loss_skips_the_step_and_says_so(tmp_path, capsys, monkeypatch):
    trainer = Trainer(tiny_config(tmp_path, warmup_steps=100, val_samples=0), CPU)
    trainer.run_dir.mkdir(parents=True)
    batch = next(iter(trainer.loader))
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    real_forward = trainer.generator.forward
    monkeypatch.setattr(
        trainer.generator, "forward", lambda x, m, telea=None: real_forward(x, m, telea) * float("nan")
    )
    from vidrestore.train.logs import TrainLogger

    trainer.logger = TrainLogger(trainer.run_dir, 4, 0, quiet=True, tensorboard=False)
    trainer.train_step(batch)
    assert trainer.skipped_steps == 1
    assert "non-finite generator loss" in capsys.readouterr().out
    assert all(torch.equal(before[k], v) for k, v in trainer.generator.state_dict().items())


def test_ctrl_c_checkpoints_then_stops(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, steps=50, checkpoint_every=100)
    real_step = Trainer.train_step

    def step_then_interrupt(self, batch):
        values = real_step(self, batch)
        if self.step == 1:  # Ctrl-C while the second step runs
            os.kill(os.getpid(), signal.SIGINT)
        return values

    monkeypatch.setattr(Trainer, "train_step", step_then_interrupt)
    exported = train(config)
    names = [p.name for p in list_checkpoints(Path(config.run_dir) / "checkpoints")]
    assert names == ["step-00000002.pt"]  # the step in flight was finished, then saved
    _, card = load_generator(exported)
    assert card["stopped"] == "interrupted" and card["steps"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


_DDP_SCRIPT = """
import json, os, sys, torch
from vidrestore.train import TrainConfig
from vidrestore.train.distributed import init_distributed, shutdown
from vidrestore.train.loop import Trainer
config = TrainConfig(**json.loads(sys.argv[1]))
ctx = init_distributed("cpu")
trainer = Trainer(config, ctx)
trainer.run()
total = sum(float(p.detach().double().sum()) for p in trainer.generator.parameters())
open(os.path.join(sys.argv[2], f"rank{ctx.rank}.txt"), "w").write(repr(total))
shutdown(ctx)
"""


def test_ddp_two_cpu_processes_with_gloo(tmp_path):
    config = tiny_config(tmp_path, steps=3, checkpoint_every=100, val_samples=2, batch_size=1)
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(_DDP_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            json.dumps(config.to_dict()),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    totals = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert totals[0] == totals[1]  # gradients were averaged: both ranks hold the same weights
    run = Path(config.run_dir)
    log = [r for r in _log(run) if "loss_g" in r or "loss_d" in r]
    assert [r["step"] for r in log] == [1, 2, 3]  # one writer: rank 0
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step-00000003.pt"]
    assert (run / "generator.safetensors").is_file()


@pytest.mark.parametrize("bad", [dict(model="huge"), dict(crop_size=36)])
def test_bad_model_options_are_clear(tmp_path, bad):
    from vidrestore.errors import OptionError

    with pytest.raises(OptionError):
        Trainer(tiny_config(tmp_path, **bad), CPU)


def test_cosine_schedule_decays_both_learning_rates_to_zero(tmp_path):
    config = tiny_config(tmp_path, steps=10, lr_schedule="cosine", val_samples=0)
    assert config.lr_factor(0) == 1.0
    assert abs(config.lr_factor(5) - 0.5) < 1e-9
    assert config.lr_factor(10) < 1e-12
    trainer = Trainer(config, CPU)
    trainer.step = 5
    trainer._set_learning_rates()
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(0.5 * config.lr_g)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(0.5 * config.lr_d)
    with pytest.raises(OptionError, match="lr-schedule"):
        tiny_config(tmp_path, lr_schedule="step")
