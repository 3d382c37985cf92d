"""The ``bnnfer`` command line: a thin argparse layer over the library.

    bnnfer data info [--data DIR]       per-split counts, dropped faces, class balance, human stats
    bnnfer train --out STEM [options]   train one method's network(s) (options mirror TrainConfig)

Training options are generated from the `TrainConfig` and `NetworkConfig` dataclasses, with the
help text taken from the comment beside each field, so the CLI cannot drift from the config.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

from .constants import EMOTIONS
from .data import FerPlusError, describe, load_ferplus, resolve_data_dir

DATA_HELP = "FER+ folder (default: $BNNFER_DATA, else ./data/ferplus)"


def _field_comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from ``name: type = default  # comment`` lines of a dataclass."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    return comments


def _add_dataclass_options(
    parser: argparse.ArgumentParser, cls: type, skip: Sequence[str] = ()
) -> None:
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        hint = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        flag = "--" + f.name.replace("_", "-")
        # argparse %-formats help strings, so a literal "%" must be doubled
        help_text = f"{comments.get(f.name, '')} (default: {default})".replace("%", "%%")
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
        elif origin is typing.Literal:
            parser.add_argument(flag, choices=args, default=default, help=help_text)
        elif origin is tuple:
            parser.add_argument(flag, type=int, nargs="+", default=default, help=help_text)
        else:
            base = next((a for a in args if a is not type(None)), hint) if args else hint
            parser.add_argument(flag, type=base, default=default, help=help_text)


def _data_info(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data)
    splits = load_ferplus(root, cache_dir=False if args.no_cache else None)
    summaries = [describe(split) for split in splits.values()]
    if args.json:
        print(json.dumps({"data": str(root), "splits": summaries}, indent=2))
        return 0
    print(f"FER+ data: {root}")
    for s in summaries:
        dropped = s["dropped"]
        print(
            f"\n{s['split']}: {s['faces']} faces kept, {sum(dropped.values())} dropped "
            f"(plurality unknown {dropped['unknown']}, NF {dropped['NF']}, "
            f"no emotion vote {dropped['no_emotion_votes']})"
        )
        total = max(1, s["faces"])
        for emotion in EMOTIONS:
            count = s["class_counts"][emotion]
            print(f"  {emotion:<10} {count:>6}  {100 * count / total:5.1f}%")
        print(
            f"  mean vote entropy {s['mean_vote_entropy']:.3f} nats, mean agreement "
            f"{s['mean_agreement']:.3f}, unanimous {100 * s['unanimous_share']:.1f}%, "
            f"mean emotion votes {s['mean_valid_votes']:.2f}, "
            f"class-prior accuracy {100 * s['class_prior_accuracy']:.1f}%"
        )
    return 0


def _train(args: argparse.Namespace) -> int:
    from .networks import NetworkConfig
    from .train import TrainConfig, fit

    network_fields = {f.name for f in dataclasses.fields(NetworkConfig)} - {"stochastic"}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"network"}
    values = vars(args)
    network = NetworkConfig(**{k: values[k] for k in network_fields if k in values})
    config = TrainConfig(network=network, **{k: values[k] for k in train_fields})
    splits = load_ferplus(args.data, splits=["train", "valid"])
    weights = fit(
        config, splits["train"], splits["valid"], args.out, half=args.half, resume=args.resume
    )
    print(f"wrote {weights} and {weights.with_suffix('.json')}")
    return 0


def _train_all(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .bundle import BUNDLE_TRAINING, assemble_bundle, bundle_jobs, job_finished, train_all

    base = replace(BUNDLE_TRAINING, device=args.device)
    if args.precision is not None:
        base = replace(base, precision=args.precision)
    if args.epochs is not None:
        base = replace(base, epochs=args.epochs)
    splits = load_ferplus(args.data, splits=["train", "valid"])
    train_all(args.out, splits["train"], splits["valid"], base=base, only=args.only)
    unfinished = [j.name for j in bundle_jobs(base) if not job_finished(Path(args.out), j)]
    if unfinished:
        print(f"not yet trained: {', '.join(unfinished)}; run train-all again to continue")
    if not args.no_assemble:
        report = assemble_bundle(args.out, splits["valid"])
        print(f"wrote the bundle into {args.out}: " + json.dumps(report, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .networks import NetworkConfig
    from .train import TrainConfig

    parser = argparse.ArgumentParser(
        prog="bnnfer",
        description="Facial emotion recognition that says how sure it is: Bayesian CNN "
        "approximations on FER+, compared with the annotators' votes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="inspect the FER+ data")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    info = data_commands.add_parser(
        "info",
        help="per-split counts, dropped faces, class balance and human vote statistics",
        description="Summarise each FER+ split present: faces kept and dropped (plurality "
        "unknown/NF), class balance of the plurality label, mean vote entropy, agreement and "
        "the share of unanimous faces.",
    )
    info.add_argument("--data", help=DATA_HELP)
    info.add_argument("--json", action="store_true", help="print one JSON document")
    info.add_argument("--no-cache", action="store_true", help="decode the PNGs, skip the cache")
    info.set_defaults(handler=_data_info)

    train = commands.add_parser(
        "train",
        help="train the network(s) of one method",
        description="Train the network(s) a method needs on FER+ Train, keep the best epoch on "
        "Valid, and write STEM.safetensors + STEM.json + STEM.log.jsonl.",
    )
    train.add_argument("--data", help=DATA_HELP)
    train.add_argument("--out", required=True, help="checkpoint stem, e.g. runs/mc_dropout")
    train.add_argument("--half", action="store_true", help="store weights as float16")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from STEM.state/ (the last finished epoch) instead of starting afresh",
    )
    _add_dataclass_options(train, TrainConfig, skip=("network",))
    _add_dataclass_options(train, NetworkConfig, skip=("stochastic", "num_classes"))
    train.set_defaults(handler=_train)

    train_all = commands.add_parser(
        "train-all",
        help="train (or continue training) every network of the bundled set, then assemble it",
        description="Train the bundle's networks one after the other (one process per GPU when "
        "several are present) into DIR/runs/, skipping finished ones and resuming an "
        "interrupted one; when all are done, write the bundle (checkpoints, models.json, "
        "manifest.json) into DIR. Run it again to continue after a stop.",
    )
    train_all.add_argument("--out", required=True, help="bundle folder, e.g. assets/models")
    train_all.add_argument("--data", help=DATA_HELP)
    train_all.add_argument("--epochs", type=int, help="override the recipe's epochs")
    train_all.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    train_all.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        help="autocast precision (default: the recipe's bf16)",
    )
    train_all.add_argument("--only", nargs="+", metavar="JOB", help="train only these jobs")
    train_all.add_argument(
        "--no-assemble", action="store_true", help="train only; do not write the bundle"
    )
    train_all.set_defaults(handler=_train_all)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (FerPlusError, ValueError, FileNotFoundError) as error:
        print(f"bnnfer: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
