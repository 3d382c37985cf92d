"""Training state on disk, so that a stopped run resumes exactly where its last epoch ended.

One state is two files, ``STEM.safetensors`` (tensors) and ``STEM.json`` (everything else):

* tensors: the network now (``model.*``), the best network so far (``best.*``), the optimiser's
  per-parameter state (``optim.<param index>.<key>``), the random generators' states
  (``rng.torch`` global CPU, ``rng.cuda`` when used, ``rng.loader`` the shuffling generator),
  and the moving average of the weights when the run keeps one (``averaged.*``);
* JSON: epoch, step, best score, history, the optimiser's param groups, the scheduler's state
  dict, and the training config it belongs to (a state from another config is refused).

Restoring all of it makes the rest of the run draw the same batches, augmentations and dropout
masks as an uninterrupted run with the same seed. Nothing is pickled; files are replaced
atomically, so a run killed while saving leaves the previous epoch's state intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..atomic import write_bytes_atomic, write_text_atomic
from ..models.checkpoints import checkpoint_paths


@dataclass
class TrainState:
    """What a member's training loop needs to continue after ``epoch``."""

    epoch: int
    step: int
    best_score: float
    history: list[dict[str, Any]]
    model: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    # the weight average's state dict (`torch.optim.swa_utils.AveragedModel`), when kept
    averaged: dict[str, torch.Tensor] = field(default_factory=dict)


def save_state(stem: Path, state: TrainState, config: dict[str, Any]) -> None:
    """Write the state of one member; the JSON is written last and marks the state complete."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, weights in (
        ("model", state.model),
        ("best", state.best),
        ("averaged", state.averaged),
    ):
        for key, value in weights.items():
            tensors[f"{prefix}.{key}"] = value.detach().cpu().contiguous()
    optimizer_state = state.optimizer["state"]
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in optimizer_state.items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    for name, value in state.rng.items():
        tensors[f"rng.{name}"] = value.contiguous()
    document = {
        "config": config,
        "epoch": state.epoch,
        "step": state.step,
        "best_score": state.best_score,
        "history": state.history,
        "param_groups": state.optimizer["param_groups"],
        "optimizer_scalars": scalars,
        "scheduler": state.scheduler,
    }
    # the tensors first, then the JSON that points at them: a state is complete when both match
    tensor_path, json_path = checkpoint_paths(stem)
    write_bytes_atomic(tensor_path, save(tensors))
    write_text_atomic(json_path, json.dumps(document))


def _refuse_another_config(json_path: Path, saved: Any, config: dict[str, Any]) -> None:
    """Raise, naming the options that differ, when ``saved`` is not ``config``."""
    if saved == config:
        return
    saved = saved if isinstance(saved, dict) else {}
    differ = [
        f"{name} (saved {saved.get(name)!r}, now {config.get(name)!r})"
        for name in sorted(set(saved) | set(config))
        if saved.get(name) != config.get(name)
    ]
    raise ValueError(
        f"{json_path}: this training state was written by a different config: "
        f"{', '.join(differ)}; use the same options to resume, or delete the state folder to "
        "start afresh"
    )


def check_states(state_dir: Path, config: dict[str, Any]) -> None:
    """Refuse, before any work, a state folder holding a state of another config.

    A resumed run may spend long on what comes before its first member (a teacher's predictions
    on every training face); a mismatch found only then would waste it.
    """
    for json_path in sorted(Path(state_dir).glob("member*.json")):
        try:
            saved = json.loads(json_path.read_text()).get("config")
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
            raise ValueError(
                f"{json_path}: training state is unreadable ({error}); delete it to start afresh"
            ) from None
        _refuse_another_config(json_path, saved, config)


def saved_epochs(state_dir: Path, config: dict[str, Any]) -> int:
    """Epochs the states of ``config`` in ``state_dir`` hold, over its members: a finished
    member's all, an interrupted one's up to its last saved epoch; 0 when there are none. Reads
    the JSON alone (how much of a run is left, before any is loaded)."""
    total = 0
    for json_path in Path(state_dir).glob("member*.json"):
        try:
            document = json.loads(json_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue  # unreadable: resuming says so; here it counts as nothing trained
        if isinstance(document, dict) and document.get("config") == config:
            total += int(document.get("epoch", 0))
    return total


def load_state(stem: Path, config: dict[str, Any]) -> TrainState | None:
    """The saved state, or None when there is none; refuses one from a different config."""
    tensor_path, json_path = checkpoint_paths(stem)
    if not json_path.is_file() or not tensor_path.is_file():
        return None
    try:
        document = json.loads(json_path.read_text())
        tensors = load_file(tensor_path)
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError, OSError) as error:
        raise ValueError(
            f"{stem}: training state is unreadable ({error}); delete it to start afresh"
        ) from None
    _refuse_another_config(json_path, document.get("config"), config)
    groups: dict[str, dict[str, torch.Tensor]] = {
        "model": {},
        "best": {},
        "rng": {},
        "averaged": {},
    }
    optimizer_state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        kind, rest = name.split(".", 1)
        if kind == "optim":
            index, key = rest.split(".", 1)
            optimizer_state.setdefault(int(index), {})[key] = value
        else:
            groups[kind][rest] = value
    for index, scalars in document["optimizer_scalars"].items():
        optimizer_state.setdefault(int(index), {}).update(scalars)
    return TrainState(
        epoch=document["epoch"],
        step=document["step"],
        best_score=document["best_score"],
        history=document["history"],
        model=groups["model"],
        best=groups["best"],
        optimizer={"state": optimizer_state, "param_groups": document["param_groups"]},
        scheduler=document["scheduler"],
        rng=groups["rng"],
        averaged=groups["averaged"],
    )


def capture_rng(loader_generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """The generators' states: torch's global CPU one, CUDA's on ``device``, the loader's."""
    rng = {"torch": torch.get_rng_state(), "loader": loader_generator.get_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def restore_rng(
    rng: dict[str, torch.Tensor], loader_generator: torch.Generator, device: torch.device
) -> None:
    torch.set_rng_state(rng["torch"])
    loader_generator.set_state(rng["loader"])
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], device)
