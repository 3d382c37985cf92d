"""The ``bnnfer`` command line: a thin argparse layer over the library.

    bnnfer data info [--data DIR]        per-split counts, dropped faces, class balance, human stats
    bnnfer train --out STEM [options]    train one method's network(s) (options mirror TrainConfig)
    bnnfer train-all --out DIR           train every network of the bundle (resumable), assemble it
    bnnfer evaluate [--split S] [--out]  metrics with bootstrap intervals, per-image predictions
    bnnfer predict IMAGE... [--json]     find the faces in photos, run every method on each face
    bnnfer predict-video VIDEO --csv F   faces tracked through a video, every method over time
    bnnfer sweep --runs DIR              claim 1 against the dropout rate: sweep networks scored
    bnnfer annotations export|import     your votes out as dataset folders, annotations.csv in
    bnnfer dashboard [streamlit options] the dashboard, from the installed package

Training options are generated from the `TrainConfig` and `NetworkConfig` dataclasses, with the
help text taken from each field's ``metadata["help"]``, so the CLI cannot drift from the config.
The benchmarks are scripts outside the package (``python benchmarks/mc_inference.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from . import settings
from .allocator import keep_freed_memory
from .annotations import cli as annotations_cli
from .annotations.database import AnnotationsError
from .atomic import write_text_atomic
from .constants import CROWD_SPLIT, PLACEMENTS, SPLITS
from .data.crowd import no_face_text
from .data.ferplus import available_splits, describe, load_ferplus, resolve_data_dir, summary_text
from .data.split import FerPlusError
from .evaluation import adapt, annotators, sweep
from .evaluation.external import added_rows
from .evaluation.predictions import models_digest
from .evaluation.priors import PRIOR_WORDS, PriorChoice, parse_prior
from .evaluation.reporting import report, write_evaluation
from .evaluation.runner import evaluate_methods
from .inference.mc import PRECISIONS, fast_placement, select_device
from .media.faces import PhotoError
from .media.predict import predict_photo
from .media.video import MAX_VIDEO_BYTES, MAX_VIDEO_SECONDS, VideoError, VideoLimits, predict_video
from .models.checkpoints import CheckpointError, checkpoint_paths
from .models.networks import NetworkConfig
from .training import bundle
from .training.distill import teacher_distribution
from .training.train import TrainConfig, check_resumable, fit

MODELS_HELP = "bundle folder (default: $BNNFER_MODELS, else the bundled models)"
DATA_HELP = (
    "FER+ folder, or a folder of your own faces with votes.csv or annotations.csv (default: "
    "$BNNFER_DATA, else ./data/ferplus)"
)
NO_DETECT_HELP = (
    "your own faces: resize each whole image to 48x48 grayscale instead of finding the face in it"
)


def _add_dataclass_options(
    parser: argparse.ArgumentParser, cls: type, skip: Sequence[str] = (), defaults: object = None
) -> None:
    """One option per field of the dataclass ``cls``, defaulting to the field's value in the
    instance ``defaults`` (else to the field's own default)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        hint = hints[f.name]
        if defaults is not None:
            default = getattr(defaults, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else None
        flag = "--" + f.name.replace("_", "-")
        # argparse %-formats help strings, so a literal "%" must be doubled
        help_text = f"{f.metadata['help']} (default: {default})".replace("%", "%%")
        options = {"default": default, "help": help_text}
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
        elif origin is typing.Literal:
            parser.add_argument(flag, choices=args, **options)
        elif origin is tuple:
            parser.add_argument(flag, type=int, nargs="+", **options)
        else:
            base = next((a for a in args if a is not type(None)), hint) if args else hint
            parser.add_argument(flag, type=base, **options)


def _data_info(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data)
    cache = False if args.no_cache else None
    splits = load_ferplus(root, cache_dir=cache, detect=not args.no_detect)
    summaries = [describe(split) for split in splits.values()]
    if args.json:
        print(json.dumps({"data": str(root), "splits": summaries}, indent=2))
        return 0
    print(f"FER+ data: {root}")
    for summary in summaries:
        print("\n" + summary_text(summary))
    return 0


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` of ``bnnfer train``'s parsed options."""
    network_fields = {f.name for f in dataclasses.fields(NetworkConfig)} - {"stochastic"}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"network"}
    values = vars(args)
    network = NetworkConfig(**{k: values[k] for k in network_fields if k in values})
    return TrainConfig(network=network, **{k: values[k] for k in train_fields})


def _train(args: argparse.Namespace) -> int:
    config = train_config(args)
    if args.resume:
        check_resumable(config, args.out)
    splits = load_ferplus(args.data, splits=["train", "valid"])
    teacher = None
    if config.teacher:
        folder = args.teacher_models or bundle.DEFAULT_BUNDLE_DIR
        methods = bundle.load_bundle(folder, select_device(config.device), [config.teacher])
        print(f"teaching {config.teacher}'s distributions from {folder}")
        teacher = teacher_distribution(
            config.teacher, methods, splits["train"], models_digest(folder)
        )
    weights = fit(
        config,
        splits["train"],
        splits["valid"],
        args.out,
        half=args.half,
        resume=args.resume,
        teacher=teacher,
    )
    print(f"wrote {weights} and {checkpoint_paths(weights)[1]}")
    return 0


def _train_all(args: argparse.Namespace) -> int:
    chosen = {"precision": args.precision, "epochs": args.epochs}
    overrides = {key: value for key, value in chosen.items() if value is not None}
    base = dataclasses.replace(bundle.BUNDLE_TRAINING, device=args.device, **overrides)
    splits = load_ferplus(args.data, splits=["train", "valid"])
    bundle.train_all(
        args.out,
        splits["train"],
        splits["valid"],
        base=base,
        only=args.only,
        workers=args.workers,
    )
    jobs = bundle.bundle_jobs(base)
    unfinished = [j.name for j in jobs if not bundle.job_finished(Path(args.out), j)]
    if unfinished:
        print(f"not yet trained: {', '.join(unfinished)}; run train-all again to continue")
    if not args.no_assemble:
        report = bundle.assemble_bundle(args.out, splits["valid"], splits["train"])
        print(f"wrote the bundle into {args.out}: " + json.dumps(report, indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args.data)
    name = args.split or (CROWD_SPLIT if available_splits(root) == [CROWD_SPLIT] else "valid")
    split = load_ferplus(root, splits=[name], detect=not args.no_detect)[name]
    device = select_device(args.device)
    methods = bundle.load_bundle(args.models, device, args.rows, placement=args.placement)
    labels = {row.key: row.label for row in bundle.read_registry(args.models)}

    def say(text: str) -> None:
        print(f"[evaluate] {text}", file=sys.stderr)

    if split.no_face_detected:
        say(no_face_text(split.no_face_detected))
    split, added, note = added_rows(split, args.add, args.allow_partial, methods)
    if note:
        say(note)
    evaluation = evaluate_methods(
        methods,
        split,
        args.samples,
        args.seed,
        args.n_boot,
        labels,
        say,
        args.precision,
        added,
        reference=args.reference,
    )
    paths = write_evaluation(evaluation, args.out, args.models, compact=args.compact)
    print(report(evaluation))
    print(f"\nwrote {paths['markdown']}, {paths['json']} and {paths['predictions']}")
    if "annotators" in paths:  # the votes have their annotators' names
        note = evaluation.annotators.note
        print(
            f"wrote {paths['annotators']}"
            + (f" without the Dawid–Skene columns: {note}" if note else "")
        )
    if args.prior.kind != "fer+":  # the rows read under the chosen prior, beside fer+
        text, path = adapt.write_comparison(evaluation, args.prior, args.models, args.out)
        print(f"\n{text}\nwrote {path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    device = select_device(args.device)
    methods = bundle.load_bundle(args.models, device, args.rows, placement=args.placement)
    documents, failed = [], 0
    crops_dir = Path(args.save_crops) if args.save_crops else None
    if crops_dir is not None:
        if crops_dir.exists() and not crops_dir.is_dir():
            print(f"bnnfer: --save-crops {crops_dir}: not a folder", file=sys.stderr)
            return 2
        crops_dir.mkdir(parents=True, exist_ok=True)
    context = adapt.bundle_context(args.prior, args.models) if args.prior.kind != "fer+" else None
    read, results = [], []
    for path in args.images:
        try:
            data = Path(path).read_bytes()
            result = predict_photo(
                methods, data, args.samples, args.seed, device=str(device), precision=args.precision
            )
        except (OSError, PhotoError) as error:
            print(f"bnnfer: {path}: {error}", file=sys.stderr)
            failed += 1
            continue
        read.append(path)
        results.append(result)
        if crops_dir is not None:
            for number, face in enumerate(result.faces, start=1):
                Image.fromarray(face.crop).save(crops_dir / f"{Path(path).stem}-face{number}.png")
    estimates = {}
    if context is not None:  # every face of every photo read together (adapted: estimated on all)
        results, estimates = adapt.reread_photos(results, args.prior, *context)
    for path, result in zip(read, results, strict=True):
        documents.append(result.to_dict(path))
        if not args.json:
            print(result.describe(path))
    if args.json:
        document: dict = {"photos": documents}
        if context is not None:
            estimated = {k: e.to_dict() for k, e in estimates.items()}
            document["prior"] = {"choice": str(args.prior), "estimates": estimated}
        print(json.dumps(document, indent=2))
    elif estimates:
        print(adapt.describe_estimates(estimates))
    return 1 if failed else 0


def _predict_video(args: argparse.Namespace) -> int:
    device = select_device(args.device)
    placement = fast_placement(device) if args.placement == "auto" else args.placement
    methods = bundle.load_bundle(args.models, device, args.rows, placement=placement)
    limits = VideoLimits(max_bytes=int(args.max_mb * 2**20), max_seconds=args.max_seconds)
    reread, estimates = None, {}
    if args.prior.kind != "fer+":  # the clip's faces read together under the chosen prior
        reread, estimates = adapt.video_reader(
            args.prior, *adapt.bundle_context(args.prior, args.models)
        )
    try:
        data = Path(args.video).read_bytes()
    except OSError as error:
        print(f"bnnfer: {args.video}: {error}", file=sys.stderr)
        return 1
    with tqdm(total=None, unit="s", desc="video", file=sys.stderr, disable=args.quiet) as bar:

        def progress(time_s: float, duration_s: float | None) -> None:
            bar.total = round(duration_s, 1) if duration_s else None
            bar.n = round(time_s, 1)
            bar.refresh()

        try:
            result = predict_video(
                methods, data, fps=args.fps, samples=args.samples, seed=args.seed,
                device=str(device), precision=args.precision, max_gap_s=args.max_gap,
                limits=limits, progress=progress, reread=reread,
            )  # fmt: skip  # options beside their values
        except VideoError as error:
            print(f"bnnfer: {args.video}: {error}", file=sys.stderr)
            return 1
    write_text_atomic(args.csv, result.table.to_csv(index=False, float_format="%.6g"))
    written = [args.csv]
    if args.json:
        document = result.to_dict(args.video)
        if args.prior.kind != "fer+":
            estimated = {k: e.to_dict() for k, e in estimates.items()}
            document["prior"] = {"choice": str(args.prior), "estimates": estimated}
        write_text_atomic(args.json, json.dumps(document, indent=2))
        written.append(args.json)
    print(
        f"{args.video}: {result.sampled} frames sampled at {args.fps:g}/s, "
        f"{len(result.tracks)} track(s); wrote {' and '.join(written)}"
    )
    if estimates:
        print(adapt.describe_estimates(estimates))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    rows = sweep.find_sweep_rows(args.runs)
    if not rows:
        print(f"bnnfer: {args.runs}: no finished sweep checkpoint (*.safetensors + *.json)")
        return 1
    split = load_ferplus(args.data, splits=[args.split])[args.split]
    evaluation = Path(args.evaluation) / f"predictions-{args.split}.npz"
    result, _ = sweep.run_sweep(
        rows, split, args.models, evaluation, args.samples, args.seed, args.n_boot,
        progress=lambda text: print(f"[sweep] {text}", file=sys.stderr),
    )  # fmt: skip  # arguments in the signature's order
    path = sweep.write_sweep(result, args.out)
    print(sweep.markdown_table(result) + "\n\n" + sweep.verdict(result) + f"\n\nwrote {path}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    """``streamlit run`` on the installed dashboard's entry script, in this process (its
    signals, Ctrl-C included, go straight to Streamlit); Streamlit reads the
    ``.streamlit/config.toml`` beside that script. Imported here: the rest of bnnfer never
    imports streamlit."""
    from streamlit.web import cli as streamlit_cli

    entry = resources.files("bnnfer_dashboard") / "app.py"
    try:  # streamlit's own command line, as `streamlit run` parses and reports its options
        streamlit_cli.main(["run", str(entry), *args.streamlit_options], prog_name="streamlit")
    except SystemExit as stopped:  # when the server stops, or on an option streamlit refuses
        return int(stopped.code or 0)
    return 0


def _add_model_options(
    parser: argparse.ArgumentParser, precision: str, placement: str | None = None
) -> None:
    """The options every command that runs the bundled models shares; ``precision`` is the
    default of ``--precision``, ``placement`` of ``--placement`` (None: as trained; "auto":
    `fast_placement`)."""
    parser.add_argument("--models", default=str(settings.models_dir()), help=MODELS_HELP)
    parser.add_argument("--samples", type=int, default=30, help="MC samples S (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the MC samples")
    parser.add_argument("--rows", "--methods", nargs="+", metavar="ROW", help="only these methods")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    default = {
        None: "as trained",
        "auto": "every block on a GPU, only the head on a CPU",
    }[placement]
    parser.add_argument(
        "--placement",
        choices=(*PLACEMENTS, "auto") if placement == "auto" else PLACEMENTS,
        default=placement,
        help="sample only these stochastic layers of the MC rows: all, last (last block + "
        f"head), head; cheaper the narrower (default: {default})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=precision,
        help="inference precision: bf16 is faster where the hardware computes it well (AMX "
        "CPUs, GPUs), probabilities within about 1e-2 of fp32; auto: bf16 where it is faster "
        "than fp32 here, else fp32 "
        f"(default {precision})",
    )


def _prior_choice(text: str) -> PriorChoice:
    """``--prior``'s value (`bnnfer.evaluation.priors.parse_prior`), its error shown as
    argparse's."""
    try:
        return parse_prior(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_prior_option(parser: argparse.ArgumentParser, adapted: str) -> None:
    """``--prior``: the class prior the rows are read under (docs/priors.md); ``adapted`` says
    which faces an adapted prior is estimated from."""
    parser.add_argument(
        "--prior",
        type=_prior_choice,
        default=parse_prior("fer+"),
        metavar="PRIOR",
        help=f"the class prior of the faces read: {', '.join(PRIOR_WORDS)} (estimated from "
        f"{adapted}), or 8 frequencies separated by commas in the order of the emotions "
        "(default: fer+, the rows as trained; docs/priors.md)",
    )


def build_parser() -> argparse.ArgumentParser:
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
    info.add_argument("--no-detect", action="store_true", help=NO_DETECT_HELP)
    info.set_defaults(handler=_data_info)

    train = commands.add_parser(
        "train",
        help="train the network(s) of one method",
        description="Train the network(s) a method needs on FER+ Train, keep the best epoch on "
        "Valid, and write STEM.safetensors + STEM.json + STEM.log.jsonl. The defaults are the "
        "bundled networks' recipe.",
    )
    train.add_argument("--data", help=DATA_HELP)
    train.add_argument("--out", required=True, help="checkpoint stem, e.g. runs/mc_dropout")
    train.add_argument("--half", action="store_true", help="store weights as float16")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from STEM.state/ (the last finished epoch) instead of starting afresh",
    )
    train.add_argument(
        "--teacher-models",
        help="with --teacher: the bundle folder the teacher row is read from "
        "(default: the bundled models)",
    )
    # the bundle's recipe by default, so that `bnnfer train` reproduces a bundled network with
    # only --method, --target and --seed given
    _add_dataclass_options(train, TrainConfig, skip=("network",), defaults=bundle.BUNDLE_TRAINING)
    network_skip = ("stochastic", "num_classes")
    _add_dataclass_options(train, NetworkConfig, skip=network_skip, defaults=bundle.BUNDLE_NETWORK)
    train.set_defaults(handler=_train)

    train_all = commands.add_parser(
        "train-all",
        help="train (or continue training) every network of the bundled set, then assemble it",
        description="Train the bundle's networks (one process per GPU when several are present, "
        "else one per CPU core) into DIR/runs/, skipping finished ones and resuming an "
        "interrupted one; when all are done, write the bundle (checkpoints, models.json, "
        "manifest.json) into DIR. Run it again to continue after a stop.",
    )
    train_all.add_argument("--out", required=True, help="bundle folder, e.g. bnnfer/assets/models")
    train_all.add_argument("--data", help=DATA_HELP)
    train_all.add_argument(
        "--epochs",
        type=int,
        help=f"every network's epochs (default: the recipe's, {bundle.BUNDLE_TRAINING.epochs})",
    )
    train_all.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    train_all.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="autocast precision (default: auto: bf16 where faster than fp32 here, else fp32)",
    )
    train_all.add_argument("--only", nargs="+", metavar="JOB", help="train only these jobs")
    train_all.add_argument(
        "--workers",
        type=int,
        help="training processes on a CPU, the cores shared out, a finished one's going to the "
        "rest (default: one per core, at most one per network: on 2 cores two single-threaded "
        "trainings outrun one with 2 threads)",
    )
    train_all.add_argument(
        "--no-assemble", action="store_true", help="train only; do not write the bundle"
    )
    train_all.set_defaults(handler=_train_all)

    evaluate = commands.add_parser(
        "evaluate",
        help="metrics table with bootstrap intervals and per-image predictions for a split",
        description="Run every bundled method on a FER+ split; print the metrics table (95% "
        "bootstrap intervals) and write metrics.md, metrics.json and predictions-SPLIT.npz "
        "(per-image samples, mean distributions and uncertainty scores) into --out.",
    )
    _add_model_options(evaluate, precision="fp32")  # the reference figures: full precision
    evaluate.add_argument("--data", help=DATA_HELP)
    evaluate.add_argument(
        "--split",
        choices=(*SPLITS, CROWD_SPLIT),
        help="split to evaluate (default: valid; all, the only split, for your own faces)",
    )
    evaluate.add_argument("--no-detect", action="store_true", help=NO_DETECT_HELP)
    evaluate.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    evaluate.add_argument("--out", default="bnnfer-evaluation", help="output folder")
    evaluate.add_argument(
        "--compact",
        action="store_true",
        help="predictions file with names, votes and float16 "
        "samples only (as bnnfer/assets/evaluation ships it)",
    )
    evaluate.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="LABEL=FILE",
        help="a row of predictions made elsewhere: CSV or NPZ (docs/data.md); repeatable",
    )
    evaluate.add_argument(
        "--reference",
        choices=annotators.REFERENCES,
        default="votes",
        help="what the metrics against people (JSD, KL, TV, soft Brier, human ECE, entropy "
        "Spearman) are measured against: the vote distribution, or the Dawid-Skene posterior "
        "of a crowd with its annotators' names (annotations.csv; needs crowd-kit, "
        f"{annotators.CROWD_KIT_HINT}) (default: votes)",
    )
    evaluate.add_argument(
        "--allow-partial",
        action="store_true",
        help="evaluate on the faces every --add file covers when one misses some",
    )
    _add_prior_option(evaluate, "the split's faces, reported beside fer+")
    evaluate.set_defaults(handler=_evaluate)

    predict = commands.add_parser(
        "predict",
        help="detect faces in photos and run every method on each face",
        description="Find faces with MTCNN, run every bundled method on each, and print the "
        "box, mean distribution, MC spread and uncertainty per face (or one JSON document "
        "with --json). A file that cannot be used gets a one-line error and exit status 1.",
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="photo files")
    predict.add_argument("--json", action="store_true", help="print one JSON document")
    predict.add_argument(
        "--save-crops",
        metavar="DIR",
        help="write each face's 48x48 crop to DIR/<photo>-face<N>.png (nothing of a face is "
        "written to disk unless this is given)",
    )
    _add_model_options(predict, precision="auto")
    _add_prior_option(predict, "all the faces of all the photos")
    predict.set_defaults(handler=_predict)

    video = commands.add_parser(
        "predict-video",
        help="track the faces of a video and run every method on them over time",
        description="Sample a video at --fps (by its timestamps), find faces with MTCNN, link "
        "them into tracks across frames, run every bundled method on each face, and write one "
        "CSV row per (time, track, method): the 8 probabilities, predictive entropy, mutual "
        "information and the MC spread of the top emotion (docs/video.md). A video that cannot "
        "be used gets a one-line error and exit status 1.",
    )
    video.add_argument("video", metavar="VIDEO", help="video file (MP4, WebM, MOV, MKV...)")
    video.add_argument("--csv", required=True, help="CSV file to write")
    video.add_argument("--json", help="also write one JSON document (tracks and rows) here")
    video.add_argument("--fps", type=float, default=5.0, help="frames sampled per second (5)")
    video.add_argument(
        "--max-gap",
        type=float,
        default=1.0,
        help="seconds a face may go unseen and keep its track (default 1)",
    )
    video.add_argument(
        "--max-mb",
        type=float,
        default=MAX_VIDEO_BYTES / 2**20,
        help=f"largest file accepted, MiB (default {MAX_VIDEO_BYTES // 2**20})",
    )
    video.add_argument(
        "--max-seconds",
        type=float,
        default=MAX_VIDEO_SECONDS,
        help=f"longest video accepted, seconds (default {MAX_VIDEO_SECONDS:g})",
    )
    video.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    _add_model_options(video, precision="auto", placement="auto")
    _add_prior_option(video, "all the clip's faces")
    video.set_defaults(handler=_predict_video)

    swept = commands.add_parser(
        "sweep",
        help="score MC networks trained at other block rates beside the bundle (claim 1)",
        description="Score every finished checkpoint in --runs that serves MC-Dropout or "
        "MC-DropConnect beside the bundle's classical, p = 0.1 MC and ensemble rows on one "
        "split: accuracy under both protocols, JSD to the votes and its paired difference from "
        "the classical network, human ECE and AUROC (MI), with 95% bootstrap intervals. Writes "
        "--out (JSON) and prints the table and the verdict per rate.",
    )
    swept.add_argument("--runs", default="runs/sweep", help="folder of sweep checkpoints")
    swept.add_argument("--data", help=DATA_HELP)
    swept.add_argument("--split", choices=SPLITS, default="valid", help="split to score on")
    swept.add_argument("--models", default=str(settings.models_dir()), help=MODELS_HELP)
    swept.add_argument(
        "--evaluation",
        default=str(bundle.DEFAULT_EVALUATION_DIR),
        help="folder of the bundle's evaluation, whose samples are reused where they match",
    )
    swept.add_argument("--samples", type=int, default=30, help="MC samples S (default 30)")
    swept.add_argument("--seed", type=int, default=0, help="seed of the MC samples")
    swept.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    swept.add_argument(
        "--out",
        default=str(bundle.DEFAULT_EVALUATION_DIR / "rate-sweep.json"),
        help="where the figures go (default: beside the shipped evaluation)",
    )
    swept.set_defaults(handler=_sweep)

    dashboard = commands.add_parser(
        "dashboard",
        usage="%(prog)s [-h] [STREAMLIT_OPTION ...]",
        help="start the dashboard (options after it go to `streamlit run`)",
        description="Start the Streamlit dashboard of the installed package on 127.0.0.1. Every "
        "other option is passed to `streamlit run`, e.g. --server.port 8599 or --server.address "
        '0.0.0.0 (README, "Sharing the dashboard").',
    )
    dashboard.set_defaults(handler=_dashboard)

    annotations_cli.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "dashboard":
        args.streamlit_options = unknown  # streamlit's own options, checked by streamlit
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    keep_freed_memory()  # this process is ours: see bnnfer.allocator
    try:
        return args.handler(args)
    except (
        FerPlusError,
        CheckpointError,
        ValueError,
        FileNotFoundError,
        AnnotationsError,
    ) as error:
        print(f"bnnfer: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
