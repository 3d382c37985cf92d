"""Training: the config dataclass and `fit`, which turns FER+ faces into a checkpoint.

`fit` trains the network(s) a method needs (one dropout network serves ``classical`` and
``mc_dropout``; one DropConnect network serves ``mc_dropconnect``; ``members`` independently
seeded dropout networks make an ``ensemble``) with a soft cross-entropy
``-sum_c t[c] log softmax(z)[c]`` against the chosen target (optionally label-smoothed and
mixed up, `bnnfer.data.targets`), AdamW or SGD, a one-cycle or cosine schedule, optionally
followed by ``swa_epochs`` of stochastic weight averaging, and keeps each network's best epoch on
Valid (of its weights, or of their average: the ``ema`` moving one or SWA's equal one). It
writes ``OUT.safetensors``, ``OUT.json`` (network config, training config, per-epoch history)
and ``OUT.log.jsonl``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import replace_atomic
from ..constants import METHODS, NUM_CLASSES
from ..data.split import FerPlusSplit
from ..data.targets import TARGETS, FerPlusTargets, TargetKind, mix_batch, smooth_targets
from ..data.transforms import AugmentConfig, train_transform
from ..evaluation import metrics
from ..inference.mc import PRECISIONS, autocast_dtype, mc_predict, select_device
from ..models.checkpoints import checkpoint_paths, save_checkpoint, stem_file
from ..models.methods import Classical, network_config_for
from ..models.networks import FaceCNN, NetworkConfig
from .cores import SharedCores
from .distill import Teacher
from .trainstate import TrainState, capture_rng, check_states, load_state, restore_rng, save_state

# TrainConfig fields that earlier checkpoints do not record, with the value those runs had
LATER_FIELDS: dict[str, Any] = {
    "augment_strength": 1.0,
    "label_smoothing": 0.0,
    "mixup": 0.0,
    "ema": 0.0,
    "teacher": "",
    "swa_epochs": 0,
    "swa_lr": 3e-4,
}
# at 3, faces turn by up to 30 degrees and move by up to 30%: past that they leave the frame
MAX_AUGMENT_STRENGTH = 3.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved beside the checkpoint."""

    # The "help" of each field is its `bnnfer train` option's help line (bnnfer/cli.py).
    method: str = field(
        default="mc_dropout",
        metadata={"help": "which method the weights serve (classical = mc_dropout net)"},
    )
    network: NetworkConfig = field(
        default_factory=NetworkConfig, metadata={"help": "backbone shape"}
    )
    members: int = field(default=5, metadata={"help": 'ensemble size (method="ensemble" only)'})
    target: TargetKind = field(default="soft", metadata={"help": "soft | majority | pld"})
    strict_majority: bool = field(
        default=False,
        metadata={"help": "with target=majority: keep faces with a >50% top class only"},
    )
    epochs: int = field(default=12, metadata={"help": "passes over FER+ Train per network"})
    max_steps: int | None = field(
        default=None,
        metadata={"help": "stop each network after this many steps (short runs, tests)"},
    )
    batch_size: int = field(default=64, metadata={"help": "training faces per optimiser step"})
    lr: float = field(default=2e-3, metadata={"help": "peak learning rate"})
    weight_decay: float = field(
        default=5e-4,
        metadata={"help": "weight decay of conv and linear weights (none on BatchNorm, biases)"},
    )
    optimizer: Literal["adamw", "sgd"] = field(
        default="adamw", metadata={"help": "AdamW, or SGD with Nesterov momentum 0.9"}
    )
    schedule: Literal["onecycle", "cosine"] = field(
        default="onecycle", metadata={"help": "learning-rate schedule over all steps"}
    )
    augment: bool = field(default=True, metadata={"help": "small affine moves + horizontal flip"})
    augment_strength: float = field(
        default=1.0,
        metadata={
            "help": "scales the rotation, shift and zoom ranges of the augmentation "
            "(1: +-10 degrees, +-10% shift, +-10% zoom)"
        },
    )
    label_smoothing: float = field(
        default=0.0,
        metadata={"help": "mixes every target with the uniform distribution: (1 - e) t + e / 8"},
    )
    mixup: float = field(
        default=0.0,
        metadata={
            "help": "mixup's Beta(a, a): each batch is averaged with a shuffled copy of itself, "
            "faces and targets by one weight drawn from it; 0: off"
        },
    )
    ema: float = field(
        default=0.0,
        metadata={
            "help": "decay of an exponential moving average of the weights and BatchNorm "
            "statistics, updated every step; Valid scores it and it is what is kept; 0: off"
        },
    )
    swa_epochs: int = field(
        default=0,
        metadata={
            "help": "stochastic weight averaging: epochs after the schedule at the constant "
            "learning rate swa_lr, the weights averaged equally at each one's end and BatchNorm "
            "statistics recomputed on Train; Valid scores the average; 0: off"
        },
    )
    swa_lr: float = field(
        default=3e-4, metadata={"help": "the constant learning rate of the SWA epochs"}
    )
    teacher: str = field(
        default="",
        metadata={
            "help": "distillation: the bundle row (e.g. ensemble_soft) whose predictive mean on "
            "each training face, unaugmented, is taught in place of the votes; empty: off"
        },
    )
    select_by: Literal["accuracy", "nll"] = field(
        default="accuracy", metadata={"help": "which Valid figure picks the best epoch"}
    )
    seed: int = field(default=0, metadata={"help": "member i uses seed + i"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:1 | mps"})
    precision: Literal["auto", "fp32", "bf16"] = field(
        default="auto",
        metadata={
            "help": "bf16 autocast; auto: where bf16 is faster than fp32 on the device "
            "(inference.bf16_pays)"
        },
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        for name in ("epochs", "batch_size", "members"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.method == "ensemble" and self.members < 2:
            raise ValueError(f"an ensemble needs members >= 2, got {self.members}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(
                f"need lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.schedule not in ("onecycle", "cosine"):
            raise ValueError(f"schedule must be 'onecycle' or 'cosine', got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.select_by not in ("accuracy", "nll"):
            raise ValueError(f"select_by must be 'accuracy' or 'nll', got {self.select_by!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.swa_epochs < 0 or not self.swa_lr > 0:
            raise ValueError(
                f"need swa_epochs >= 0 and swa_lr > 0, got {self.swa_epochs}, {self.swa_lr}"
            )
        if self.swa_epochs and self.ema:
            raise ValueError("ema and swa_epochs are two weight averages: choose one")
        if self.teacher and self.target == "majority":
            raise ValueError("a teacher is taught by target 'soft' or 'pld', not 'majority'")
        if not 0 <= self.mixup < math.inf:
            raise ValueError(f"mixup must be >= 0 and finite, got {self.mixup}")
        if not 0 <= self.augment_strength <= MAX_AUGMENT_STRENGTH:
            raise ValueError(
                f"augment_strength must be in [0, {MAX_AUGMENT_STRENGTH:g}], "
                f"got {self.augment_strength}"
            )

    @property
    def network_count(self) -> int:
        return self.members if self.method == "ensemble" else 1

    @property
    def epochs_to_train(self) -> int:
        """Epochs the whole run trains: each network's schedule and SWA epochs, every network."""
        return (self.epochs + self.swa_epochs) * self.network_count

    @property
    def served_methods(self) -> list[str]:
        if self.method == "ensemble":
            return ["ensemble"]
        if self.method == "mc_dropconnect":
            return ["mc_dropconnect"]
        return ["classical", "mc_dropout"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["network"] = self.network.to_dict()
        # fields added after networks were shipped are written only away from their default,
        # so that the configs of earlier runs (bundle jobs, resumable states) still match
        for name, default in LATER_FIELDS.items():
            if d[name] == default:
                del d[name]
        return d

    def resume_key(self) -> dict[str, Any]:
        """What must match for a saved state to be resumed (the device may change)."""
        return {k: v for k, v in self.to_dict().items() if k != "device"}


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean_i -sum_c t_i[c] log softmax(z_i)[c]`` for logits and targets ``(B, C)``."""
    return -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def evaluate_network(
    network: FaceCNN, split: FerPlusSplit, batch_size: int = 512
) -> dict[str, float]:
    """Deterministic accuracy and NLL on the plurality label; the network is left as found."""
    was_training = network.training
    network.eval()
    try:
        probs = mc_predict(
            Classical(network), split.images, batch_size=batch_size, precision="fp32"
        )[0].numpy()
    finally:
        network.train(was_training)
    probs = probs / probs.sum(axis=1, keepdims=True)
    labels = split.labels
    return {"accuracy": metrics.accuracy(probs, labels), "nll": metrics.nll(probs, labels)}


def recompute_batchnorm(
    network: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    autocast: torch.dtype | None = None,
) -> None:
    """Set every BatchNorm's running statistics to those of ``network``'s own activations over
    one pass of ``loader`` (batches of faces ``(B, 1, H, W)`` and targets), in train mode as
    training computes them: the mean over batches of each batch's mean and unbiased variance.

    A weight average needs this: averaged weights produce other activations than any of the
    networks averaged. Unlike `torch.optim.swa_utils.update_bn` under autocast, the loader runs
    outside it: augmentation computed in bf16 would blur the faces and inflate the variances.
    """
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches
    was_training = network.training
    network.train()
    with torch.no_grad():
        for images, _ in loader:
            images = images.to(device, memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                network(images)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    network.train(was_training)


def _make_optimizer(config: TrainConfig, network: FaceCNN) -> torch.optim.Optimizer:
    # No weight decay on BatchNorm and biases (1-D tensors): it only fights their scale.
    decay = [p for p in network.parameters() if p.ndim > 1]
    no_decay = [p for p in network.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)


def _make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=0.2
        )
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)


def _train_one(
    config: TrainConfig,
    member: int,
    train_set: FerPlusTargets,
    valid: FerPlusSplit | None,
    device: torch.device,
    log: Any,
    state_dir: Path,
    resume: bool,
    cores: SharedCores | None = None,
) -> tuple[FaceCNN, list[dict[str, Any]]]:
    seed = config.seed + member
    torch.manual_seed(seed)
    network = FaceCNN(network_config_for(config.method, config.network)).to(device)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, drop_last=True, generator=generator
    )
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(
            f"{len(train_set)} training faces do not fill one batch of {config.batch_size}"
        )
    # the schedule spans the first `schedule_steps`; SWA's epochs follow at a constant rate
    schedule_steps = config.epochs * steps_per_epoch
    total_steps = schedule_steps + config.swa_epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
        schedule_steps = min(schedule_steps, total_steps)
    epochs = math.ceil(total_steps / steps_per_epoch)
    optimizer = _make_optimizer(config, network)
    schedule = _make_schedule(config, optimizer, schedule_steps)
    # the weights Valid scores and the checkpoint keeps: the network's own, or their average;
    # SWA's equal average starts with its first epoch (BatchNorm statistics recomputed, not
    # averaged), the moving one with the first step
    averaged = (
        AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True)
        if config.ema > 0
        else None
    )
    autocast = autocast_dtype(config.precision, device)

    # Resume: a finished member is loaded as it is; an interrupted one continues after the
    # last epoch it saved, with every generator restored.
    key = config.resume_key()
    last_stem, done_stem = state_dir / f"member{member}.last", state_dir / f"member{member}.done"
    # the progress lines name the run: train-all's processes write theirs to one terminal
    who = f"{state_dir.name.removesuffix('.state')} member {member}"
    history: list[dict[str, Any]] = []
    best_state: dict[str, torch.Tensor] | None = None
    best_score, step, first_epoch = -math.inf, 0, 1
    if resume:
        done = load_state(done_stem, key)
        if done is not None:
            network.load_state_dict(done.best)
            for record in done.history:
                log.write(json.dumps(record) + "\n")
            tqdm.write(f"{who}: finished earlier, loaded from {done_stem}")
            return network.eval(), done.history
        state = load_state(last_stem, key)
        if state is not None:
            network.load_state_dict(state.model)
            if config.swa_epochs and state.averaged:
                averaged = AveragedModel(network)
            if averaged is not None:
                averaged.load_state_dict(state.averaged)
            optimizer.load_state_dict(state.optimizer)
            schedule.load_state_dict(state.scheduler)
            restore_rng(state.rng, generator, device)
            history, best_state, best_score = state.history, state.best, state.best_score
            step, first_epoch = state.step, state.epoch + 1
            for record in history:
                log.write(json.dumps(record) + "\n")
            tqdm.write(f"{who}: resuming after epoch {state.epoch} (step {step})")

    for epoch in range(first_epoch, epochs + 1):
        if cores is not None:  # cores other training processes have freed since the last epoch
            cores.take()
        network.train()
        averaging = step >= schedule_steps  # an SWA epoch
        if averaging:
            for group in optimizer.param_groups:
                group["lr"] = config.swa_lr
        started = time.perf_counter()
        running, seen = 0.0, 0
        bar = tqdm(
            loader,
            desc=f"{who} epoch {epoch}/{epochs}",
            leave=False,
            total=min(steps_per_epoch, total_steps - step),
            disable=None,
        )
        for images, targets in bar:
            images = images.to(device, memory_format=torch.channels_last)
            targets = targets.to(device)
            if config.mixup > 0:
                images, targets = mix_batch(images, targets, config.mixup)
            if config.label_smoothing > 0:
                targets = smooth_targets(targets, config.label_smoothing)
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                logits = network(images)
            loss = soft_cross_entropy(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if not averaging:
                schedule.step()
            if config.ema > 0:
                averaged.update_parameters(network)
            running += loss.item() * len(images)
            seen += len(images)
            step += 1
            bar.set_postfix(loss=f"{running / seen:.3f}")
            if step >= total_steps:
                break
        bar.close()
        if averaging:
            if averaged is None:
                averaged = AveragedModel(network)
            averaged.update_parameters(network)
            recompute_batchnorm(averaged.module, loader, device, autocast)
        kept = network if averaged is None else averaged.module
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {
            "member": member,
            "epoch": epoch,
            "step": step,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": running / max(1, seen),
            "seconds": round(seconds, 2),
            "images_per_s": round(seen / max(seconds, 1e-9), 1),
            "threads": torch.get_num_threads(),
            # per epoch: a resumed run may continue on a machine where `auto` picks otherwise
            "precision": "fp32" if autocast is None else "bf16",
        }
        if valid is not None:
            valid_started = time.perf_counter()
            scores = evaluate_network(kept, valid)
            record.update(
                valid_accuracy=scores["accuracy"],
                valid_nll=scores["nll"],
                valid_seconds=round(time.perf_counter() - valid_started, 2),
            )
            score = scores["accuracy"] if config.select_by == "accuracy" else -scores["nll"]
        else:
            score = epoch  # without Valid, the last epoch is the best one
        if score > best_score:
            best_score = score
            best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
            record["best"] = True
        history.append(record)
        assert best_state is not None
        state = TrainState(
            epoch=epoch,
            step=step,
            best_score=best_score,
            history=history,
            model=network.state_dict(),
            best=best_state,
            optimizer=optimizer.state_dict(),
            scheduler=schedule.state_dict(),
            rng=capture_rng(generator, device),
            averaged={} if averaged is None else averaged.state_dict(),
        )
        save_state(last_stem, state, key)
        log.write(json.dumps(record) + "\n")
        log.flush()
        valid_text = (
            f", valid acc {record['valid_accuracy']:.4f} nll {record['valid_nll']:.4f}"
            if valid is not None
            else ""
        )
        tqdm.write(
            f"{who} epoch {epoch}/{epochs}: loss {record['train_loss']:.4f}"
            f"{valid_text}, {record['images_per_s']:.0f} img/s, {seconds:.0f} s"
        )
    assert best_state is not None
    # the finished member: its final state becomes the "done" marker, the running one goes
    for last_path, done_path in zip(
        checkpoint_paths(last_stem), checkpoint_paths(done_stem), strict=True
    ):
        replace_atomic(last_path, done_path)
    network.load_state_dict(best_state)
    return network.eval(), history


def check_resumable(config: TrainConfig, out: str | Path) -> None:
    """Raise ValueError, naming the options that differ, when ``out.state/`` holds a state of
    another config: before a teacher's predictions or a first member are spent on a run that
    could not resume."""
    check_states(stem_file(Path(out), ".state"), config.resume_key())


def fit(
    config: TrainConfig,
    train: FerPlusSplit,
    valid: FerPlusSplit | None,
    out: str | Path,
    half: bool = False,
    resume: bool = False,
    teacher: Teacher | None = None,
    cores: SharedCores | None = None,
) -> Path:
    """Train every network ``config.method`` needs and write the checkpoint ``out``.

    Args:
        config: the run.
        train: training faces; valid: faces that pick the best epoch (None: keep the last).
        out: checkpoint stem (``out.safetensors``, ``out.json``, ``out.log.jsonl``).
        half: store the weights in float16.
        resume: continue from the per-epoch state in ``out.state/`` (members already finished
            are loaded, an interrupted one continues after its last saved epoch); the result
            equals an uninterrupted run with the same config.
        teacher: with ``config.teacher``, that row's distributions on ``train``
            (`bnnfer.training.distill.teacher_distribution`), taught in place of the votes.
        cores: the CPU cores this process shares with other training processes (`train-all`):
            each epoch starts with this process's share of them as its threads.

    Returns:
        The path of the ``.safetensors`` file.
    """
    if bool(config.teacher) != (teacher is not None):
        raise ValueError("config.teacher and the teacher's distributions go together")
    if teacher is not None and teacher.row != config.teacher:
        raise ValueError(f"config.teacher is {config.teacher!r} but the teacher is {teacher.row!r}")
    out = Path(out)
    state_dir = stem_file(out, ".state")
    if resume:
        check_resumable(config, out)
    device = select_device(config.device)
    transform = (
        train_transform(AugmentConfig().scaled(config.augment_strength)) if config.augment else None
    )
    train_set = FerPlusTargets(
        train,
        config.target,
        transform=transform,
        strict_majority=config.strict_majority,
        distribution=None if teacher is None else teacher.distribution,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    networks, history = [], []
    with open(stem_file(out, ".log.jsonl"), "w") as log:
        for member in range(config.network_count):
            network, member_history = _train_one(
                config, member, train_set, valid, device, log, state_dir, resume, cores
            )
            networks.append(network)
            history.extend(member_history)
    best = [
        max((h for h in history if h["member"] == m and h.get("best")), key=lambda h: h["step"])
        for m in range(config.network_count)
    ]
    metadata = {
        "train": config.to_dict(),
        "train_faces": len(train_set),
        "history": history,
        "best_epochs": [h["epoch"] for h in best],
        # every epoch's training and Valid pass, summed over the pieces of a resumed run (the
        # wall time of the last process alone would leave the earlier pieces out)
        "training_seconds": round(
            sum(h["seconds"] + h.get("valid_seconds", 0.0) for h in history), 1
        ),
        "device": str(device),
        # what precision="auto" ran as (bf16 where it is faster than fp32, `bf16_pays`); a run
        # resumed where auto picks otherwise says "mixed", and its history says which epochs
        "precision": _run_precision(history),
    }
    if teacher is not None:
        metadata["teacher"] = teacher.describe()
    if valid is not None:
        metadata["valid_accuracy"] = [h["valid_accuracy"] for h in best]
        metadata["valid_nll"] = [h["valid_nll"] for h in best]
    weights, _ = save_checkpoint(out, networks, config.served_methods, metadata=metadata, half=half)
    return weights


def _run_precision(history: list[dict[str, Any]]) -> str:
    """The precision every epoch of ``history`` ran in ("fp32" or "bf16"), else "mixed"."""
    # a state saved before epochs recorded their precision leaves None in the set
    precisions = {h.get("precision") for h in history}
    if len(precisions) > 1:
        return "mixed"
    return precisions.pop() or "unrecorded"


def class_prior_accuracy(split: FerPlusSplit) -> float:
    """Accuracy of always answering the most common plurality class of ``split``."""
    counts = np.bincount(split.labels, minlength=NUM_CLASSES)
    return float(counts.max() / max(1, len(split)))
