"""The training loop: GLCIC schedule (generator warm-up, discriminator warm-up, joint), one process or DDP.

``train(config)`` runs until ``config.steps`` (or ``max_minutes``, or Ctrl-C), checkpointing
along the way, and exports the generator with ``models.weights.save_generator``.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from vidrestore.errors import OptionError
from vidrestore.models.discriminator import (
    GlobalDiscriminator,
    LocalDiscriminator,
    hole_patch_origins,
    take_patches,
)
from vidrestore.models.generator import GENERATOR_VARIANTS, build_generator, count_parameters
from vidrestore.models.weights import load_generator, save_generator
from vidrestore.train import losses
from vidrestore.train.checkpoint import (
    capture_rng,
    load_checkpoint,
    resolve_resume,
    restore_rng,
    save_checkpoint,
)
from vidrestore.train.config import TrainConfig, parse_kinds, parse_mask_mix
from vidrestore.train.data import ClipDataset, ResumableSampler, check_stride, collate_clips, worker_init
from vidrestore.train.distributed import (
    DistContext,
    any_rank,
    barrier,
    init_distributed,
    mean_over_ranks,
    shutdown,
)
from vidrestore.train.logs import TrainLogger, save_sample_grid
from vidrestore.train.sources import card_spec, scan_sources, split_items
from vidrestore.train.validate import ValidationSet, baseline_table, build_validation_set, evaluate_generator


def train(config: TrainConfig) -> Path:
    """Train (or resume) a run described by ``config``; returns the exported generator weights."""
    ctx = init_distributed(config.device)
    try:
        return Trainer(config, ctx).run()
    finally:
        shutdown(ctx)


class Trainer:
    """Holds models, optimisers, data and counters of one run; ``run`` is the loop."""

    def __init__(self, config: TrainConfig, ctx: DistContext) -> None:
        self.config, self.ctx = config, ctx
        self.device = ctx.device
        self.run_dir = Path(config.run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        if config.model not in GENERATOR_VARIANTS:
            raise OptionError(
                f"unknown --model {config.model!r}; choose from {', '.join(GENERATOR_VARIANTS)}"
            )
        self.gen_config = GENERATOR_VARIANTS[config.model]
        check_stride(config.crop_size, self.gen_config.stride)
        torch.manual_seed(config.seed)
        self.generator = build_generator(self.gen_config).to(self.device)
        self.global_disc = GlobalDiscriminator(width=config.disc_width).to(self.device)
        self.local_disc = LocalDiscriminator(width=config.disc_width).to(self.device)
        # where the generator started when not from random init (kept through resumes, for the card);
        # loaded after every random init, so the discriminators start as they would without it
        self.init_info: dict[str, Any] | None = None
        if config.init_weights and not config.resume:  # a resume restores the generator anyway
            self.init_info = self._init_generator(config.init_weights)
        self.opt_g = torch.optim.Adam(
            self.generator.parameters(), lr=config.lr_g, betas=(config.beta1, 0.999)
        )
        disc_params = [*self.global_disc.parameters(), *self.local_disc.parameters()]
        self.opt_d = torch.optim.Adam(disc_params, lr=config.lr_d, betas=(config.beta1, 0.999))
        self.use_amp = config.amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.perceptual = (
            losses.PerceptualLoss(config.perceptual_weights).to(self.device)
            if config.perceptual_weight > 0
            else None
        )
        # DDP wrappers for the training forward passes; the bare modules are used where no
        # gradient synchronisation is wanted (discriminators inside the generator step).
        self.g_train: nn.Module = self.generator
        self.dg_train: nn.Module = self.global_disc
        self.dl_train: nn.Module = self.local_disc
        if ctx.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train = DistributedDataParallel(self.generator, device_ids=ids)
            self.dg_train = DistributedDataParallel(self.global_disc, device_ids=ids)
            self.dl_train = DistributedDataParallel(self.local_disc, device_ids=ids)

        self.step = self.epoch = self.batch_in_epoch = 0
        self.skipped_files = self.skipped_steps = 0
        self.last_val: dict[str, float] = {}
        self.stop_reason: str | None = None
        self.logger: TrainLogger | None = None
        self._last: tuple[torch.Tensor, ...] | None = None
        self.started = time.monotonic()
        self.segments: list[dict[str, Any]] = []
        self.segment_start = 0
        self.segment_changes: dict[str, Any] = {}
        self._build_data()
        if config.resume:
            self._resume(resolve_resume(config.resume))

    # -------------------------------------------------------------------------------------- setup

    def _build_data(self) -> None:
        c = self.config
        items, bad_videos = scan_sources(c.data)
        if c.val_data:
            val_items, bad_val = scan_sources(c.val_data)
            bad_videos += bad_val
        else:
            items, val_items = split_items(items, c.val_fraction, min_clip=c.clip_length)
        self.skipped_files = bad_videos
        self.n_items = len(items)
        self.dataset = ClipDataset(
            items,
            clip_length=c.clip_length,
            crop_size=c.crop_size,
            mask_mix=parse_mask_mix(c.mask_mix),
            min_scale=c.min_scale,
            moving_prob=c.moving_prob,
            mask_dir=c.mask_dir,
            mask_dir_prob=c.mask_dir_prob,
            mask_dilate=c.mask_dilate,
            hflip=c.hflip,
            soften=(c.soften_prob, c.soften_max),
            with_flow=c.temporal_weight > 0,
            with_telea=self.gen_config.prefill == "telea+pyramid",
            min_length=c.batch_size * self.ctx.world_size * 64,
        )
        self.sampler = ResumableSampler(self.dataset, self.ctx.world_size, self.ctx.rank, c.seed)
        workers = c.num_workers
        self.loader = DataLoader(
            self.dataset,
            batch_size=c.batch_size,
            sampler=self.sampler,
            num_workers=workers,
            collate_fn=collate_clips,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            worker_init_fn=worker_init,
            persistent_workers=workers > 0,
            prefetch_factor=2 if workers else None,
        )
        self.val_set: ValidationSet | None = None
        if self.ctx.is_main and val_items and c.val_samples > 0:
            self.val_set = build_validation_set(
                val_items, c.val_samples, parse_kinds(c.val_kinds), c.seed, c.val_dilate
            )

    def _init_generator(self, path: str) -> dict[str, Any]:
        """Load an exported generator (weights + card, verified) into ``self.generator``.

        Only the generator: discriminators, optimisers, step and learning-rate schedule start
        fresh. Weights of another architecture than ``--model`` are refused.
        """
        model, card = load_generator(path)
        # a variant that only adds the patch-copy layer starts from its base's weights, the layer
        # at zero (it enters through a zero output, so the model starts out unchanged)
        adds_copy = not model.config.attention and replace(
            model.config, variant=self.gen_config.variant, attention=True
        ) == self.gen_config
        if model.config != self.gen_config and not adds_copy:
            theirs, ours = asdict(model.config), asdict(self.gen_config)
            diff = ", ".join(f"{k} {theirs[k]} != {ours[k]}" for k in ours if theirs[k] != ours[k])
            raise OptionError(
                f"--init-weights {path} holds a {model.config.variant!r} generator that does not match "
                f"--model {self.config.model} ({diff})"
            )
        self.generator.load_state_dict(model.state_dict(), strict=not adds_copy)
        return {
            "file": card_spec(path),
            "sha256": card.get("sha256"),
            "steps": card.get("steps"),
            "data": card.get("data"),
        }

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "skipped_files": self.skipped_files,
            "skipped_steps": self.skipped_steps,
            "generator": self.generator.state_dict(),
            "global_disc": self.global_disc.state_dict(),
            "local_disc": self.local_disc.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": capture_rng(),
            "config": self.config.to_dict(),
            "last_val": self.last_val,
            "segments": [*self.segments, self._segment()],
            **({"init_weights": self.init_info} if self.init_info is not None else {}),
        }

    def _segment(self) -> dict[str, Any]:
        """This process's share of the run: its steps and the options it changed on resuming."""
        return {"start_step": self.segment_start, "end_step": self.step, "changed": self.segment_changes}

    def _resume(self, path: Path) -> None:
        state = load_checkpoint(path)
        if state["config"]["model"] != self.config.model:
            raise OptionError(
                f"{path} was trained with --model {state['config']['model']}, not {self.config.model}"
            )
        self.generator.load_state_dict(state["generator"])
        self.global_disc.load_state_dict(state["global_disc"])
        self.local_disc.load_state_dict(state["local_disc"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.skipped_files, self.skipped_steps = state["skipped_files"], state["skipped_steps"]
        self.last_val = dict(state.get("last_val", {}))
        self.init_info = state.get("init_weights")
        self.resumed_from = path
        # options given again on resuming win over the stored optimiser settings
        for opt, lr in ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (self.config.beta1, 0.999)
        self.segments = list(state.get("segments", [{"start_step": 0, "end_step": self.step, "changed": {}}]))
        self.segment_start = self.step
        before = state["config"]
        self.segment_changes = {
            k: v for k, v in self.config.to_dict().items() if k != "resume" and before.get(k) != v
        }

    # --------------------------------------------------------------------------------------- loop

    def run(self) -> Path:
        c, ctx = self.config, self.ctx
        logger = None
        if ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(_json(self.config.to_dict()))
            logger = TrainLogger(self.run_dir, c.steps, self.step, c.quiet, c.tensorboard)
            self._say_start(logger)
        self.logger = logger
        previous = self._install_signal_handlers()
        try:
            self._loop()
        finally:
            self._restore_signal_handlers(previous)
        if ctx.is_main:
            self.save_checkpoint()
            if self.val_set is not None and self.last_val.get("step") != self.step:
                self.validate()
        export = Path(c.export) if c.export else self.run_dir / "generator.safetensors"
        if ctx.is_main:
            export = save_generator(self.generator, export, self.model_card())
            assert logger is not None
            logger.say(
                f"exported generator to {export} ({self.stop_reason or 'finished'} at step {self.step})"
            )
            if self.stop_reason == "interrupted":
                logger.say(f"continue with --resume {self.run_dir}")
            logger.close()
        barrier(ctx)
        return export if export.suffix == ".safetensors" else export.with_name(export.name + ".safetensors")

    def _loop(self) -> None:
        c = self.config
        window: dict[str, list[float]] = {}
        while self.step < c.steps and self.stop_reason is None:
            self.sampler.set_epoch(self.epoch)
            self.sampler.set_start(self.batch_in_epoch * c.batch_size)
            batches = iter(self.loader)
            while self.step < c.steps:
                try:
                    batch = next(batches)
                except StopIteration:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                    break
                except RuntimeError:
                    if self._interrupted:  # Ctrl-C also reaches the workers; their batch is lost
                        self.stop_reason = "interrupted"
                        break
                    raise
                values = self.train_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                self.skipped_files += batch["skipped"]
                for k, v in values.items():
                    window.setdefault(k, []).append(v)
                self._after_step(window)
                if self._should_stop():
                    break

    def _after_step(self, window: dict[str, list[float]]) -> None:
        c, step = self.config, self.step
        if self.logger is not None:
            self.logger.advance()
        if step % c.log_every == 0 or step == c.steps:
            means = mean_over_ranks({k: sum(v) / len(v) for k, v in window.items()}, self.ctx)
            window.clear()
            if self.logger is not None:
                extra = {
                    "phase": self.phase(step - 1),
                    "epoch": self.epoch,
                    "skipped_files": self.skipped_files,
                    "skipped_steps": self.skipped_steps,
                }
                self.logger.log(step, {**{k: round(v, 5) for k, v in means.items()}, **extra})
        if not self.ctx.is_main:
            return
        if step % c.sample_every == 0:
            self._save_samples()
        if self.val_set is not None and step % c.val_every == 0:
            self.validate()
        if step % c.checkpoint_every == 0:
            self.save_checkpoint()

    def _should_stop(self) -> bool:
        over_time = (
            self.config.max_minutes > 0 and time.monotonic() - self.started > 60 * self.config.max_minutes
        )
        if any_rank(self._interrupted or over_time, self.ctx):
            self.stop_reason = "interrupted" if self._interrupted else "time limit"
            return True
        return False

    def phase(self, step: int) -> str:
        """'recon' (generator warm-up), 'disc' (discriminator warm-up) or 'joint' for a 0-based step."""
        c = self.config
        if step < c.warmup_steps or c.adv_weight == 0:
            return "recon"
        if step < c.warmup_steps + c.disc_warmup_steps:
            return "disc"
        return "joint"

    # --------------------------------------------------------------------------------------- step

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimisation step on a collated batch; returns the scalar losses for the log."""
        c, dev = self.config, self.device
        frames = batch["frames"].to(dev, non_blocking=True)
        masks = batch["masks"].to(dev, non_blocking=True)
        telea = batch.get("telea")  # made by the data pipeline, on the host (see ClipDataset)
        if telea is not None:
            telea = telea.to(dev, non_blocking=True)
        phase = self.phase(self.step)
        self._set_learning_rates()
        values: dict[str, float] = {}
        with self._autocast(), torch.set_grad_enabled(phase != "disc"):
            pred = self.g_train(frames * (1 - masks), masks, telea)
        comp = losses.composite(frames, pred.float(), masks)
        size = min(c.local_patch_size, frames.shape[-1], frames.shape[-2])
        origins = hole_patch_origins(masks.detach().cpu(), size)
        local_masks = take_patches(masks, origins, size)

        if phase != "recon":
            with self._autocast():
                real_fake = torch.cat([frames, comp.detach()])
                logits_g = self.dg_train(real_fake, torch.cat([masks, masks]))
                patches = torch.cat(
                    [take_patches(frames, origins, size), take_patches(comp.detach(), origins, size)]
                )
                logits_l = self.dl_train(patches, torch.cat([local_masks, local_masks]))
            d_global = losses.discriminator_loss(*logits_g.float().chunk(2), c.adv_loss)
            d_local = losses.discriminator_loss(*logits_l.float().chunk(2), c.adv_loss)
            d_loss = d_global + d_local
            values["loss_d"] = self._optimise(
                d_loss,
                self.opt_d,
                [*self.global_disc.parameters(), *self.local_disc.parameters()],
                "discriminator",
            )
        if phase == "disc":
            return values

        terms: dict[str, torch.Tensor] = {
            "rec": losses.reconstruction_loss(
                pred.float(),
                frames,
                masks,
                c.hole_weight,
                c.valid_weight,
                c.hole_norm == "sample",
                c.hole_l2_weight,
            ),
        }
        if c.local_weight > 0:
            terms["local"] = c.local_weight * losses.local_consistency_loss(comp, frames, masks, c.local_band)
        if phase == "joint":
            match = c.feature_match_weight > 0
            with self._autocast(), _frozen(self.global_disc, self.local_disc):
                if match:
                    fake_g, feats_g = self.global_disc.forward_with_features(comp, masks)
                    fake_l, feats_l = self.local_disc.forward_with_features(
                        take_patches(comp, origins, size), local_masks
                    )
                    with torch.no_grad():
                        _, real_g = self.global_disc.forward_with_features(frames, masks)
                        _, real_l = self.local_disc.forward_with_features(
                            take_patches(frames, origins, size), local_masks
                        )
                else:
                    fake_g = self.global_disc(comp, masks)
                    fake_l = self.local_disc(take_patches(comp, origins, size), local_masks)
            adv = losses.generator_adversarial_loss(fake_g.float(), c.adv_loss)
            adv = adv + losses.generator_adversarial_loss(fake_l.float(), c.adv_loss)
            terms["adv"] = c.adv_weight * adv
            if match:
                fm = losses.feature_matching_loss(feats_g, real_g) + losses.feature_matching_loss(
                    feats_l, real_l
                )
                terms["fm"] = c.feature_match_weight * fm
        if self.perceptual is not None:
            terms["perc"] = c.perceptual_weight * self.perceptual(comp, frames)
        prev, cur = batch["prev"].to(dev), batch["cur"].to(dev)
        if c.temporal_weight > 0 and len(cur):
            flow, valid = batch["flow"].to(dev), batch["flow_valid"].to(dev)
            terms["temp"] = c.temporal_weight * losses.temporal_consistency_loss(
                comp[cur], comp[prev], flow, valid, masks[cur]
            )
        g_loss = sum(terms.values(), torch.zeros((), device=dev))
        values.update({f"loss_{k}": float(v.detach()) for k, v in terms.items()})
        values["loss_g"] = self._optimise(g_loss, self.opt_g, list(self.generator.parameters()), "generator")
        with torch.no_grad():
            values["hole_l1"] = float(losses.masked_l1(comp, frames, masks))
        self._last = (frames, masks, comp.detach())
        return values

    def _set_learning_rates(self) -> None:
        factor = self.config.lr_factor(self.step)
        for opt, lr in ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def _optimise(
        self, loss: torch.Tensor, opt: torch.optim.Optimizer, params: list[torch.Tensor], who: str
    ) -> float:
        """Backward, clip and step, unless the loss or the gradients are not finite (then skip, say so)."""
        opt.zero_grad(set_to_none=True)
        value = float(loss.detach())
        if any_rank(not math.isfinite(value), self.ctx):
            self._skip(f"non-finite {who} loss ({value})")
            return value
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        max_norm = self.config.grad_clip if self.config.grad_clip > 0 else math.inf
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if not math.isfinite(norm) and not self.scaler.is_enabled():
            opt.zero_grad(set_to_none=True)
            self._skip(f"non-finite {who} gradient norm")
            return value
        self.scaler.step(opt)  # with fp16 the scaler itself skips steps with inf/NaN gradients
        self.scaler.update()
        return value

    def _skip(self, why: str) -> None:
        self.skipped_steps += 1
        if self.logger is not None:
            self.logger.say(f"step {self.step + 1}: {why}; step skipped")

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.use_amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    # ------------------------------------------------------------------------ saving and reporting

    def save_checkpoint(self) -> Path:
        path = save_checkpoint(self._state(), self.ckpt_dir, self.step, self.config.keep_checkpoints)
        return path

    def validate(self) -> dict[str, float]:
        assert self.val_set is not None
        self.last_val = {"step": self.step, **evaluate_generator(self.generator, self.val_set, self.device)}
        if self.logger is not None:
            self.logger.log(self.step, self.last_val, show=False)
            margins = ", ".join(
                f"{k.removeprefix('val_margin_')} {v:+.2f}"
                for k, v in self.last_val.items()
                if k.startswith("val_margin_")
            )
            self.logger.say(
                f"step {self.step}: held-out hole PSNR margin over the best of Telea/NS: {margins} dB"
            )
        return self.last_val

    def _save_samples(self) -> None:
        if self._last is not None:
            frames, masks, comp = self._last
            save_sample_grid(self.run_dir / "samples" / f"step-{self.step:08d}.png", frames, masks, comp)

    def model_card(self) -> dict[str, Any]:
        c = self.config
        card: dict[str, Any] = {
            "trained_with": "vidrestore train",
            "steps": self.step,
            "stopped": self.stop_reason or "finished",
            "data": [card_spec(d) for d in c.data],
            "val_data": [card_spec(d) for d in c.val_data] or f"held out {c.val_fraction:.0%} of data",
            "training_items": self.n_items,
            "skipped_files": self.skipped_files,
            "skipped_steps": self.skipped_steps,
            "wall_minutes": round((time.monotonic() - self.started) / 60, 1),
            "processes": self.ctx.world_size,
            "device": self.device.type,
            "train_config": {
                **c.to_dict(),
                "data": [card_spec(d) for d in c.data],
                "val_data": [card_spec(d) for d in c.val_data],
                "init_weights": card_spec(c.init_weights) if c.init_weights else None,
            },
            "validation": self.last_val,
            "segments": [*self.segments, self._segment()],
        }
        if self.init_info is not None:
            card["init_weights"] = self.init_info
        if self.val_set is not None:
            card["validation_baselines"] = baseline_table(self.val_set)
            card["validation_frames"] = len(self.val_set)
        return card

    def _say_start(self, logger: TrainLogger) -> None:
        c = self.config
        resumed = f", resumed from {self.resumed_from}" if hasattr(self, "resumed_from") else ""
        if not resumed and self.init_info is not None:
            resumed = f", generator initialised from {self.config.init_weights}"
        logger.say(
            f"training {c.model} generator ({count_parameters(self.generator):,} parameters) on "
            f"{self.device} x{self.ctx.world_size}: {self.n_items} images/clips, "
            f"{len(self.val_set or [])} validation frames, "
            f"{self.skipped_files} unreadable files skipped{resumed}"
        )
        if self.val_set is not None:
            table = "; ".join(
                f"{k} telea {v['telea']:.2f} ns {v['ns']:.2f}"
                for k, v in baseline_table(self.val_set).items()
            )
            logger.say(f"held-out hole PSNR of the baselines (dB): {table}")

    # ------------------------------------------------------------------------------ Ctrl-C / TERM

    _interrupted = False

    def _install_signal_handlers(self) -> dict[int, Any]:
        """First Ctrl-C (or SIGTERM from torchrun): finish the step, checkpoint, export, stop.

        A second Ctrl-C interrupts at once.
        """
        previous: dict[int, Any] = {}

        def request_stop(signum: int, frame: Any) -> None:
            if self._interrupted and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._interrupted = True
            if self.logger is not None:
                self.logger.say("stopping after this step: saving a checkpoint (Ctrl-C again to abort)")

        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        return previous

    def _restore_signal_handlers(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _frozen(*modules: nn.Module):  # type: ignore[no-untyped-def]
    """Discriminators as fixed functions inside the generator step: no parameter gradients."""
    flags = [[p.requires_grad for p in m.parameters()] for m in modules]
    for m in modules:
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m, fl in zip(modules, flags, strict=True):
            for p, f in zip(m.parameters(), fl, strict=True):
                p.requires_grad_(f)


def _json(values: dict[str, Any]) -> str:
    import json

    return json.dumps(values, indent=2, sort_keys=True) + "\n"
