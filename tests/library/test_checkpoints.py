"""Checkpoints: safetensors + JSON round trips, validation, no unpickling, sha256 manifest."""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.nets import BATCHNORM_TENSORS, tiny_network
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from bnnfer.inference.mc import mc_predict
from bnnfer.models.checkpoints import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    CheckpointError,
    checkpoint_paths,
    load_method,
    load_networks,
    read_checkpoint_json,
    save_checkpoint,
    sha256_file,
    verify_manifest,
    write_manifest,
)
from bnnfer.models.methods import Classical, DeepEnsemble, MCDropConnect, MCDropout
from bnnfer.models.networks import FaceCNN

C = 8


def make_net(stochastic: str = "dropout", seed: int = 0, family: str = "vgg") -> FaceCNN:
    """A tiny eval-mode network whose every tensor (BN buffers included) is non-default."""
    net = tiny_network(
        stochastic,
        seed,
        placement="last",
        batchnorm=BATCHNORM_TENSORS,
        head_scale=4.0,
        family=family,
    )
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.num_batches_tracked.fill_(17)
    return net


def faces(n: int = 5) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def dropout_ckpt(tmp_path: Path) -> tuple[Path, FaceCNN]:
    """A saved dropout network serving classical and mc_dropout (stem tmp_path/model)."""
    net = make_net("dropout")
    save_checkpoint(
        tmp_path / "model",
        [net],
        ["classical", "mc_dropout"],
        temperature=1.5,
        metadata={"valid": {"accuracy": 0.5}},
    )
    return tmp_path / "model", net


def _edit_json(stem: Path, change: Callable[[dict[str, Any]], None]) -> None:
    _, json_path = checkpoint_paths(stem)
    document = json.loads(json_path.read_text())
    change(document)
    json_path.write_text(json.dumps(document))


# --------------------------------------------------------------------------------------
# round trips


def test_round_trip_float32_is_bit_identical(dropout_ckpt: tuple[Path, FaceCNN]) -> None:
    """Every tensor comes back equal; classical and seeded MC outputs are identical."""
    stem, net = dropout_ckpt
    networks, _ = load_networks(stem)
    assert len(networks) == 1
    loaded = networks[0]
    assert not loaded.training
    assert loaded.config == net.config
    original_state, loaded_state = net.state_dict(), loaded.state_dict()
    assert original_state.keys() == loaded_state.keys()
    for key, value in original_state.items():
        assert loaded_state[key].dtype == value.dtype, key
        assert torch.equal(loaded_state[key], value), key

    x = faces()
    for name, original in [
        ("classical", Classical(net, temperature=1.5)),
        ("mc_dropout", MCDropout(net, default_samples=5, temperature=1.5)),
    ]:
        method = load_method(stem, name, samples=5)
        assert method.name == name and method.temperature == 1.5
        assert torch.equal(mc_predict(method, x, seed=1), mc_predict(original, x, seed=1))


def test_json_document_contents(dropout_ckpt: tuple[Path, FaceCNN]) -> None:
    """The JSON holds format, network config, member count, methods, temperature, metadata."""
    stem, net = dropout_ckpt
    document = read_checkpoint_json(stem)
    assert document == {
        "format": FORMAT_VERSION,
        "network": net.config.to_dict(),
        "members": 1,
        "methods": ["classical", "mc_dropout"],
        "temperature": 1.5,
        "metadata": {"valid": {"accuracy": 0.5}},
    }


def test_stem_may_carry_either_suffix(tmp_path: Path) -> None:
    """'m', 'm.safetensors' and 'm.json' name the same two files."""
    weights, config = checkpoint_paths(tmp_path / "m")
    assert (weights.name, config.name) == ("m.safetensors", "m.json")
    assert checkpoint_paths(tmp_path / "m.safetensors") == (weights, config)
    assert checkpoint_paths(tmp_path / "m.json") == (weights, config)
    net = make_net()
    assert save_checkpoint(tmp_path / "m.safetensors", [net], ["classical"]) == (weights, config)
    loaded, _ = load_networks(tmp_path / "m.json")
    assert torch.equal(loaded[0](faces(2)), net(faces(2)))


def test_ensemble_round_trip(tmp_path: Path) -> None:
    """M members are stored as member{i}.* and come back in order."""
    members = [make_net(seed=s) for s in range(3)]
    weights, _ = save_checkpoint(tmp_path / "ens", members, ["ensemble"])
    keys = load_file(weights).keys()
    assert {k.split(".")[0] for k in keys} == {"member0", "member1", "member2"}
    method = load_method(tmp_path / "ens", "ensemble")
    assert isinstance(method, DeepEnsemble) and len(method.members) == 3
    x = faces()
    assert torch.equal(mc_predict(method, x), mc_predict(DeepEnsemble(members), x))


@pytest.mark.parametrize(
    ("stochastic", "methods"),
    [("dropout", ["classical", "mc_dropout"]), ("dropconnect", ["mc_dropconnect"])],
)
def test_separable_network_round_trip(tmp_path: Path, stochastic: str, methods: list) -> None:
    """A separable network's JSON names its family; it loads as a separable network with the
    same weights and serves the same samples. A VGG network's JSON does not name one."""
    net = make_net(stochastic, family="separable")
    save_checkpoint(tmp_path / "sep", [net], methods)
    assert read_checkpoint_json(tmp_path / "sep")["network"]["family"] == "separable"
    loaded, _ = load_networks(tmp_path / "sep")
    assert loaded[0].config == net.config
    for a, b in zip(loaded[0].state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = faces()
    method = load_method(tmp_path / "sep", methods[-1], samples=4)
    expected = (MCDropout if stochastic == "dropout" else MCDropConnect)(net, 4)
    assert torch.equal(mc_predict(method, x, seed=3), mc_predict(expected, x, seed=3))
    save_checkpoint(tmp_path / "vgg", [make_net(stochastic)], methods)
    assert "family" not in read_checkpoint_json(tmp_path / "vgg")["network"]


def test_dropconnect_round_trip(tmp_path: Path) -> None:
    """A DropConnect network round-trips and serves mc_dropconnect with identical samples."""
    net = make_net("dropconnect")
    save_checkpoint(tmp_path / "dc", [net], ["mc_dropconnect"])
    method = load_method(tmp_path / "dc", "mc_dropconnect", samples=4)
    assert isinstance(method, MCDropConnect)
    x = faces()
    assert torch.equal(mc_predict(method, x, seed=3), mc_predict(MCDropConnect(net, 4), x, seed=3))


def test_half_precision_round_trip(tmp_path: Path, dropout_ckpt: tuple[Path, FaceCNN]) -> None:
    """half=True stores float16 (smaller file), loads as float32, probabilities within 1e-2."""
    stem, net = dropout_ckpt
    half_weights, _ = save_checkpoint(tmp_path / "half", [net], ["classical"], half=True)
    with safe_open(str(half_weights), framework="pt") as f:
        dtypes = {key: f.get_slice(key).get_dtype() for key in f.keys()}
    assert {d for k, d in dtypes.items() if not k.endswith("num_batches_tracked")} == {"F16"}
    assert {d for k, d in dtypes.items() if k.endswith("num_batches_tracked")} == {"I64"}
    assert half_weights.stat().st_size < checkpoint_paths(stem)[0].stat().st_size

    networks, _ = load_networks(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in networks[0].parameters())
    x = faces()
    half_probs = mc_predict(Classical(networks[0]), x)
    full_probs = mc_predict(Classical(net), x)
    torch.testing.assert_close(half_probs, full_probs, rtol=0, atol=1e-2)


def test_save_refuses_bad_arguments(tmp_path: Path) -> None:
    """No networks, mixed configs, unknown or no methods: ValueError, nothing loadable."""
    net = make_net()
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "a", [], ["classical"])
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "a", [net, make_net("dropconnect")], ["ensemble"])
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "a", [net], ["bayes"])
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "a", [net], [])


# --------------------------------------------------------------------------------------
# the JSON document


def test_load_method_refuses_a_method_the_checkpoint_does_not_serve(
    dropout_ckpt: tuple[Path, FaceCNN],
) -> None:
    """A classical/mc_dropout checkpoint does not serve ensemble or mc_dropconnect."""
    stem, _ = dropout_ckpt
    for name in ("ensemble", "mc_dropconnect"):
        with pytest.raises(CheckpointError, match="serves"):
            load_method(stem, name)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(extra_field=1), id="unknown-key"),
        pytest.param(lambda d: d.update(format=FORMAT_VERSION + 1), id="newer-format"),
        pytest.param(lambda d: d.update(format="1"), id="format-as-string"),
        pytest.param(lambda d: d.pop("format"), id="no-format"),
        pytest.param(lambda d: d.update(methods=["classical", "bayes"]), id="unknown-method"),
        pytest.param(lambda d: d.update(methods=[]), id="no-methods"),
        pytest.param(lambda d: d.update(members=0), id="zero-members"),
        pytest.param(lambda d: d.update(members="1"), id="members-as-string"),
        pytest.param(lambda d: d["network"].update(widths=[4, -8]), id="negative-width"),
        pytest.param(lambda d: d["network"].update(widths=[4] * 6), id="six-stages"),
        pytest.param(lambda d: d["network"].update(placement="first"), id="bad-placement"),
        pytest.param(lambda d: d["network"].update(head_rate=1.0), id="rate-one"),
        pytest.param(lambda d: d["network"].update(depth=3), id="unknown-network-key"),
        pytest.param(lambda d: d.pop("network"), id="no-network"),
        pytest.param(lambda d: d.update(network=[4, 8]), id="network-not-a-dict"),
    ],
)
def test_bad_json_raises_checkpoint_error(
    dropout_ckpt: tuple[Path, FaceCNN], change: Callable[[dict[str, Any]], None]
) -> None:
    """Each malformed document is refused by read_checkpoint_json and both loaders."""
    stem, _ = dropout_ckpt
    _edit_json(stem, change)
    with pytest.raises(CheckpointError):
        read_checkpoint_json(stem)
    with pytest.raises(CheckpointError):
        load_networks(stem)
    with pytest.raises(CheckpointError):
        load_method(stem, "classical")


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2, 3]", "", '"a string"'], ids=["syntax", "list", "empty", "str"]
)
def test_unparseable_or_non_object_json_raises(
    dropout_ckpt: tuple[Path, FaceCNN], text: str
) -> None:
    """Invalid JSON, or JSON that is not an object, is a CheckpointError."""
    stem, _ = dropout_ckpt
    checkpoint_paths(stem)[1].write_text(text)
    with pytest.raises(CheckpointError):
        load_method(stem, "classical")


def test_non_utf8_json_raises(dropout_ckpt: tuple[Path, FaceCNN]) -> None:
    stem, _ = dropout_ckpt
    checkpoint_paths(stem)[1].write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckpointError):
        load_networks(stem)


def test_missing_files_raise(dropout_ckpt: tuple[Path, FaceCNN], tmp_path: Path) -> None:
    """A missing JSON or a missing weight file is a CheckpointError."""
    with pytest.raises(CheckpointError, match="missing"):
        load_method(tmp_path / "nothing_here", "classical")
    stem, _ = dropout_ckpt
    checkpoint_paths(stem)[0].unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_method(stem, "classical")


@pytest.mark.parametrize(
    ("change", "method"),
    [
        # KeyError 'temperature' in load_method
        pytest.param(lambda d: d.pop("temperature"), "classical", id="no-temperature"),
        # ValueError from Method.__init__ (not a CheckpointError)
        pytest.param(lambda d: d.update(temperature=0), "classical", id="zero-temperature"),
        # TypeError from Method.__init__
        pytest.param(lambda d: d.update(temperature="hot"), "classical", id="str-temperature"),
        # TypeError: 'int' object is not iterable
        pytest.param(lambda d: d.update(methods=5), "classical", id="methods-not-a-list"),
        # NetworkConfig accepts 1.5; FaceCNN then raises TypeError in range()
        pytest.param(
            lambda d: d["network"].update(convs_per_stage=1.5), "classical", id="float-convs"
        ),
        # NetworkConfig accepts 8.5; nn.Linear then raises TypeError
        pytest.param(lambda d: d["network"].update(head_width=8.5), "classical", id="float-head"),
        # the JSON claims a method its network cannot serve: plain ValueError from the wrapper
        pytest.param(
            lambda d: d.update(methods=["mc_dropconnect"]), "mc_dropconnect", id="wrong-kind"
        ),
        pytest.param(lambda d: d.update(methods=["ensemble"]), "ensemble", id="1-member-ens"),
    ],
)
def test_malformed_documents_that_escape_as_other_exceptions(
    dropout_ckpt: tuple[Path, FaceCNN], change: Callable[[dict[str, Any]], None], method: str
) -> None:
    """Every malformed checkpoint should surface as CheckpointError (documented contract)."""
    stem, _ = dropout_ckpt
    _edit_json(stem, change)
    with pytest.raises(CheckpointError):
        load_method(stem, method)


# --------------------------------------------------------------------------------------
# the weight file


def _truncation_points(size: int, header: int) -> list[int]:
    return sorted(
        {0, 1, 7, 8, 9, 8 + header // 2, 8 + header - 1, 8 + header, 8 + header + 1}
        | {8 + header + (size - 8 - header) // 2, size - 4, size - 1}
    )


def test_truncated_weight_file_raises_checkpoint_error(
    dropout_ckpt: tuple[Path, FaceCNN],
) -> None:
    """A weight file cut anywhere (header length, header, data) is a CheckpointError."""
    stem, _ = dropout_ckpt
    weights = checkpoint_paths(stem)[0]
    raw = weights.read_bytes()
    header = int.from_bytes(raw[:8], "little")
    for cut in _truncation_points(len(raw), header):
        weights.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError):
            load_networks(stem)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda raw: b"\xff" * 8 + raw[8:], id="huge-header-length"),
        pytest.param(lambda raw: raw[:8] + b"#" + raw[9:], id="header-not-json"),
        pytest.param(lambda raw: b"not a safetensors file at all" * 10, id="garbage"),
        pytest.param(lambda raw: raw.replace(b'"F32"', b'"F64"', 1), id="dtype-size-mismatch"),
        pytest.param(lambda raw: raw + b"\x00" * 16, id="trailing-bytes"),
    ],
)
def test_corrupted_weight_file_raises_checkpoint_error(
    dropout_ckpt: tuple[Path, FaceCNN], corrupt: Callable[[bytes], bytes]
) -> None:
    """Structural corruption of the safetensors file is a CheckpointError, not a crash."""
    stem, _ = dropout_ckpt
    weights = checkpoint_paths(stem)[0]
    weights.write_bytes(corrupt(weights.read_bytes()))
    with pytest.raises(CheckpointError):
        load_method(stem, "classical")


def test_weight_path_that_is_a_directory_raises(dropout_ckpt: tuple[Path, FaceCNN]) -> None:
    stem, _ = dropout_ckpt
    weights = checkpoint_paths(stem)[0]
    weights.unlink()
    weights.mkdir()
    with pytest.raises(CheckpointError):
        load_networks(stem)


def _rewrite_tensors(stem: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    weights = checkpoint_paths(stem)[0]
    tensors = load_file(weights)
    change(tensors)
    save_file(tensors, weights)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: t.update({"member0.extra.weight": torch.zeros(2)}), id="extra"),
        pytest.param(lambda t: t.update({"member1.layers.0.weight": torch.zeros(2)}), id="m1"),
        pytest.param(lambda t: t.update({"stray": torch.zeros(1)}), id="unprefixed"),
        pytest.param(lambda t: t.pop("member0.layers.1.weight"), id="missing-conv"),
        pytest.param(lambda t: t.pop("member0.layers.2.running_var"), id="missing-bn-buffer"),
        pytest.param(
            lambda t: t.update({"member0.layers.1.weight": torch.zeros(4, 1, 5, 5)}),
            id="wrong-shape",
        ),
        pytest.param(
            lambda t: [t.update({k.replace("member0", "member1"): t.pop(k)}) for k in list(t)],
            id="wrong-prefix",
        ),
    ],
)
def test_extra_missing_or_misshapen_tensors_raise(
    dropout_ckpt: tuple[Path, FaceCNN], change: Callable[[dict[str, torch.Tensor]], Any]
) -> None:
    """The tensor set must match the config exactly (strict), else CheckpointError."""
    stem, _ = dropout_ckpt
    _rewrite_tensors(stem, change)
    with pytest.raises(CheckpointError):
        load_networks(stem)


def test_fewer_members_than_declared_raises(tmp_path: Path) -> None:
    """JSON says 3 members, the weights hold 2: CheckpointError."""
    save_checkpoint(tmp_path / "ens", [make_net(seed=0), make_net(seed=1)], ["ensemble"])
    _edit_json(tmp_path / "ens", lambda d: d.update(members=3))
    with pytest.raises(CheckpointError):
        load_networks(tmp_path / "ens")


def test_loading_never_unpickles(
    dropout_ckpt: tuple[Path, FaceCNN], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With torch.load and pickle's loaders booby-trapped, loading still works."""

    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError("the checkpoint loader must not unpickle")

    monkeypatch.setattr(torch, "load", trap)
    monkeypatch.setattr(torch.serialization, "load", trap)
    monkeypatch.setattr(pickle, "load", trap)
    monkeypatch.setattr(pickle, "loads", trap)
    monkeypatch.setattr(pickle, "Unpickler", trap)
    stem, net = dropout_ckpt
    method = load_method(stem, "mc_dropout", samples=3)
    networks, _ = load_networks(stem)
    x = faces(2)
    with torch.no_grad():
        assert torch.equal(networks[0](x), net(x))
    assert mc_predict(method, x).shape == (3, 2, C)


# --------------------------------------------------------------------------------------
# manifest


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """A folder with two checkpoints and a manifest of their four files."""
    folder = tmp_path / "models"
    folder.mkdir()
    save_checkpoint(folder / "dropout", [make_net("dropout")], ["classical", "mc_dropout"])
    save_checkpoint(folder / "dc", [make_net("dropconnect")], ["mc_dropconnect"])
    write_manifest(folder)
    return folder


def test_manifest_lists_sha256_of_every_checkpoint_file(model_folder: Path) -> None:
    """write_manifest records each .safetensors/.json (not itself) with its sha256."""
    listed = json.loads((model_folder / MANIFEST_NAME).read_text())["files"]
    assert sorted(listed) == ["dc.json", "dc.safetensors", "dropout.json", "dropout.safetensors"]
    for name, digest in listed.items():
        assert digest == sha256_file(model_folder / name)
        assert len(digest) == 64
    assert not list(model_folder.glob("*.tmp"))


def test_manifest_verifies_intact_files(model_folder: Path) -> None:
    """verify_manifest passes on untouched files, all or a named subset."""
    verify_manifest(model_folder)
    verify_manifest(model_folder, ["dropout.safetensors", "dropout.json"])
    verify_manifest(model_folder, [])


@pytest.mark.parametrize("name", ["dropout.safetensors", "dc.safetensors", "dc.json"])
def test_manifest_catches_one_flipped_byte(model_folder: Path, name: str) -> None:
    """One flipped byte in a file -> CheckpointError naming that file (others still pass)."""
    path = model_folder / name
    raw = bytearray(path.read_bytes())
    raw[len(raw) - 3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=re.escape(name)):
        verify_manifest(model_folder)
    with pytest.raises(CheckpointError, match=re.escape(name)):
        verify_manifest(model_folder, [name])
    others = [n for n in ("dropout.safetensors", "dropout.json", "dc.json") if n != name]
    verify_manifest(model_folder, others)


def test_flipped_data_byte_loads_silently_but_manifest_refuses(model_folder: Path) -> None:
    """Why the manifest matters: a flipped weight byte still parses as safetensors."""
    path = model_folder / "dropout.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-2] ^= 0x40
    path.write_bytes(bytes(raw))
    load_networks(model_folder / "dropout")  # no error from the loader itself
    with pytest.raises(CheckpointError, match=re.escape("dropout.safetensors")):
        verify_manifest(model_folder)


def test_missing_manifest_raises(tmp_path: Path) -> None:
    """No manifest.json: CheckpointError, also for an empty folder."""
    save_checkpoint(tmp_path / "m", [make_net()], ["classical"])
    with pytest.raises(CheckpointError, match="missing"):
        verify_manifest(tmp_path)


@pytest.mark.parametrize("text", ["{broken", "{}", "[]"], ids=["syntax", "no-files", "list"])
def test_malformed_manifest_raises(model_folder: Path, text: str) -> None:
    """Unparseable manifests, or ones without a "files" mapping, are CheckpointErrors."""
    (model_folder / MANIFEST_NAME).write_text(text)
    with pytest.raises(CheckpointError):
        verify_manifest(model_folder)


@pytest.mark.parametrize(
    "content",
    [b'{"files": 3}', b'{"files": ["dc.json"]}', b"\xff\xfe{}"],
    ids=["files-int", "files-list", "not-utf8"],
)
def test_malformed_manifest_escapes_as_other_exceptions(model_folder: Path, content: bytes) -> None:
    """Any malformed manifest should be refused with CheckpointError."""
    (model_folder / MANIFEST_NAME).write_bytes(content)
    with pytest.raises(CheckpointError):
        verify_manifest(model_folder)


def test_manifest_refuses_unlisted_and_missing_files(model_folder: Path) -> None:
    """A name not in the manifest cannot be verified; a listed file that is gone fails."""
    with pytest.raises(CheckpointError, match="not listed"):
        verify_manifest(model_folder, ["other.safetensors"])
    (model_folder / "dc.json").unlink()
    with pytest.raises(CheckpointError, match=re.escape("dc.json")):
        verify_manifest(model_folder)
