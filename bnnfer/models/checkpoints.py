"""Checkpoints on disk: weights in safetensors, config in JSON, a manifest of sha256 sums.

A checkpoint named ``STEM`` is two files: ``STEM.safetensors`` (the M >= 1 networks' tensors,
keys prefixed ``member{i}.``) and ``STEM.json`` (format version, network config, member count,
temperature, and free-form metadata such as the training config and Valid metrics). Loading
never unpickles: safetensors holds raw tensors only, and JSON keys are checked against what this
version knows. A ``manifest.json`` in a model folder lists each file's sha256; `verify_manifest`
refuses any file whose bytes do not match before it is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..atomic import write_bytes_atomic
from ..constants import METHODS
from .methods import Method, build_method
from .networks import FaceCNN, NetworkConfig

FORMAT_VERSION = 1
_JSON_KEYS = {"format", "network", "members", "methods", "temperature", "metadata"}
MANIFEST_NAME = "manifest.json"


class CheckpointError(ValueError):
    """A checkpoint file is missing, malformed, unknown, or does not match its checksum."""


def stem_file(stem: str | os.PathLike[str], suffix: str) -> Path:
    """``STEM`` + ``suffix`` for a stem given bare or as its ``.safetensors``/``.json`` file. The
    stem's own dots are kept (``runs/net_aug0.5`` -> ``runs/net_aug0.5.json``): replacing the
    last "suffix" would send two such runs to one file."""
    stem = Path(stem)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    return Path(f"{stem}{suffix}")


def checkpoint_paths(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(STEM.safetensors, STEM.json)`` for a stem given with or without a suffix."""
    return stem_file(stem, ".safetensors"), stem_file(stem, ".json")


def save_checkpoint(
    stem: str | os.PathLike[str],
    networks: Sequence[FaceCNN],
    methods: Sequence[str],
    temperature: float = 1.0,
    metadata: dict[str, Any] | None = None,
    half: bool = False,
) -> tuple[Path, Path]:
    """Write ``networks`` (all with one config) and the methods they serve.

    Args:
        methods: which of `METHODS` these weights serve, e.g. ``["classical",
            "mc_dropout"]`` for one dropout network or ``["ensemble"]`` for M members.
        half: store floating tensors as float16 (loading restores float32).
    """
    networks = list(networks)
    if not networks:
        raise ValueError("save_checkpoint needs at least one network")
    config = networks[0].config
    if any(net.config != config for net in networks):
        raise ValueError("all networks of one checkpoint must share one NetworkConfig")
    weights_path, json_path = checkpoint_paths(stem)
    _check_served(json_path, config, len(networks), list(methods))
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    tensors: dict[str, torch.Tensor] = {}
    for i, net in enumerate(networks):
        for key, value in net.state_dict().items():
            value = value.detach().cpu()
            if half and value.is_floating_point():
                value = value.half()
            tensors[f"member{i}.{key}"] = value.contiguous()
    write_bytes_atomic(weights_path, save(tensors, metadata={"format": str(FORMAT_VERSION)}))
    document = {
        "format": FORMAT_VERSION,
        "network": config.to_dict(),
        "members": len(networks),
        "methods": list(methods),
        "temperature": float(temperature),
        "metadata": metadata or {},
    }
    write_bytes_atomic(json_path, (json.dumps(document, indent=2) + "\n").encode())
    return weights_path, json_path


def read_checkpoint_json(stem: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's JSON document, validated."""
    _, json_path = checkpoint_paths(stem)
    try:
        document = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{json_path}: checkpoint config is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{json_path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise CheckpointError(f"{json_path}: expected a JSON object")
    unknown = sorted(set(document) - _JSON_KEYS)
    if unknown:
        raise CheckpointError(f"{json_path}: unknown key(s) {unknown}; known: {sorted(_JSON_KEYS)}")
    if document.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{json_path}: format {document.get('format')!r}, this bnnfer reads {FORMAT_VERSION}"
        )
    missing = sorted(_JSON_KEYS - set(document))
    if missing:
        raise CheckpointError(f"{json_path}: missing key(s) {missing}")
    try:
        config = NetworkConfig.from_dict(document["network"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{json_path}: bad network config ({error})") from None
    _check_served(json_path, config, document["members"], document["methods"])
    temperature = document["temperature"]
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise CheckpointError(f"{json_path}: temperature must be a number, got {temperature!r}")
    if not temperature > 0:
        raise CheckpointError(f"{json_path}: temperature must be > 0, got {temperature}")
    if not isinstance(document["metadata"], dict):
        raise CheckpointError(f"{json_path}: metadata must be a JSON object")
    return document


def _check_served(where: Path, config: NetworkConfig, members: object, methods: object) -> None:
    """Refuse a method list that these networks cannot serve."""
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise CheckpointError(f"{where}: members must be a positive integer, got {members!r}")
    if not isinstance(methods, list) or not methods:
        raise CheckpointError(f"{where}: methods must be a non-empty list, got {methods!r}")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise CheckpointError(f"{where}: unknown method(s) {bad}; known: {METHODS}")
    needs = {"mc_dropout": "dropout", "mc_dropconnect": "dropconnect"}
    for method in methods:
        if method in needs and config.stochastic != needs[method]:
            raise CheckpointError(
                f"{where}: {method} needs a {needs[method]} network, this one is "
                f"stochastic={config.stochastic!r}"
            )
        if method == "ensemble" and members < 2:
            raise CheckpointError(f"{where}: an ensemble needs >= 2 members, got {members}")
        if method != "ensemble" and members != 1:
            raise CheckpointError(f"{where}: {method} serves one network, got {members} members")


def load_networks(
    stem: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[list[FaceCNN], dict[str, Any]]:
    """The checkpoint's networks (float32, eval mode, on ``device``) and its JSON document."""
    document = read_checkpoint_json(stem)
    weights_path, _ = checkpoint_paths(stem)
    try:
        tensors = load_file(weights_path)  # raw tensors only: nothing is unpickled
    except FileNotFoundError:
        raise CheckpointError(f"{weights_path}: weight file is missing") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{weights_path}: not a readable safetensors file ({error})"
        ) from None
    config = NetworkConfig.from_dict(document["network"])
    networks = []
    for i in range(document["members"]):
        prefix = f"member{i}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        net = FaceCNN(config)
        expected = net.state_dict()
        for key, value in state.items():
            if key in expected and expected[key].is_floating_point():
                state[key] = value.to(expected[key].dtype)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise CheckpointError(
                f"{weights_path}: member {i} does not match its config ({error})"
            ) from None
        networks.append(net.to(device).eval())
    extra = set(tensors) - {
        f"member{i}.{k}" for i in range(document["members"]) for k in networks[0].state_dict()
    }
    if extra:
        raise CheckpointError(f"{weights_path}: unexpected tensors {sorted(extra)[:5]}")
    return networks, document


def load_method(
    stem: str | os.PathLike[str],
    method: str,
    device: str | torch.device = "cpu",
    samples: int = 30,
) -> Method:
    """Load a checkpoint and wrap it as ``method`` (which the checkpoint must serve)."""
    document = read_checkpoint_json(stem)
    if method not in document["methods"]:
        raise CheckpointError(
            f"{checkpoint_paths(stem)[1]}: serves {document['methods']}, not {method!r}"
        )
    networks, document = load_networks(stem, device)
    return build_method(method, networks, samples=samples, temperature=document["temperature"])


# --------------------------------------------------------------------------------------
# manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str | os.PathLike[str]) -> Path:
    """List every ``.safetensors`` and ``.json`` file of ``folder`` with its sha256."""
    folder = Path(folder)
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix in (".safetensors", ".json") and p.name != MANIFEST_NAME
    )
    manifest = {"files": {p.name: sha256_file(p) for p in files}}
    path = folder / MANIFEST_NAME
    write_bytes_atomic(path, (json.dumps(manifest, indent=2) + "\n").encode())
    return path


def verify_manifest(folder: str | os.PathLike[str], names: Sequence[str] | None = None) -> None:
    """Raise `CheckpointError` unless each listed file (or each of ``names``) matches its sha256."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    try:
        listed = json.loads(path.read_text())["files"]
    except FileNotFoundError:
        raise CheckpointError(f"{path}: manifest is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: malformed manifest ({error})") from None
    if not isinstance(listed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in listed.items()
    ):
        raise CheckpointError(f"{path}: 'files' must map file names to sha256 strings")
    for name in names if names is not None else sorted(listed):
        if name not in listed:
            raise CheckpointError(f"{path}: {name} is not listed, so it cannot be verified")
        file = folder / name
        if not file.is_file():
            raise CheckpointError(f"{file}: listed in the manifest but missing")
        actual = sha256_file(file)
        if actual != listed[name]:
            raise CheckpointError(
                f"{file}: sha256 {actual[:12]}... does not match the manifest's "
                f"{listed[name][:12]}...; the file is corrupted or was changed"
            )
