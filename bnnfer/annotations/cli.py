"""``bnnfer annotations export|import``: the annotations database's votes out as dataset
folders, and an ``annotations.csv`` in (`bnnfer.annotations.exchange`).

    bnnfer annotations export --out DIR [--db URL] [--dataset D] [--data FER] [--folder F]...
    bnnfer annotations import FILE [--db URL] [--dataset D]
"""

from __future__ import annotations

import argparse

from .database import ENV_VAR, VoteStore
from .exchange import WITHOUT_IMAGES, export_votes, import_annotations

DB_HELP = (
    f"the annotations database: a file path or a SQLAlchemy URL (default: ${ENV_VAR}, else "
    "annotations.sqlite in $XDG_DATA_HOME/bnnfer or ~/.local/share/bnnfer)"
)
DATASET_HELP = "ferplus:train|valid|test, folder:<digest> (a folder of your own images) or photos"


def _export(args: argparse.Namespace) -> int:
    with VoteStore.open(args.db) as store:
        written = export_votes(
            store, args.out, args.dataset, args.data, tuple(args.folder), args.anonymous
        )
    if not written:
        print(f"{args.db or 'the annotations database'} holds no vote; nothing written")
    for done in written:
        print(f"{done.dataset}: {done.votes} votes on {done.faces} faces -> {done.folder}")
        if done.evaluable:
            print(f"  evaluate it: bnnfer evaluate --data {done.folder} --split all")
        else:
            print(
                f"  {len(done.without_images)} faces have no image here (uploaded photos are "
                f"never kept; named in {WITHOUT_IMAGES}): the folder cannot be evaluated"
            )
    return 0


def _import(args: argparse.Namespace) -> int:
    with VoteStore.open(args.db) as store:
        count = import_annotations(store, args.file, args.dataset)
        print(f"{count} votes from {args.file} stored in {store.where}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``annotations export`` and ``annotations import`` to the ``bnnfer`` parser."""
    annotations = commands.add_parser(
        "annotations", help="your votes (the Annotate page's database): export and import"
    )
    chosen = annotations.add_subparsers(dest="annotations_command", required=True)
    export = chosen.add_parser(
        "export",
        help="write each dataset's votes as a folder bnnfer evaluate reads",
        description="One folder per dataset under --out: annotations.csv (name,annotator,"
        "emotion), votes.csv (the same votes counted per face) and a copy of each voted face's "
        "image where bnnfer has it (FER+ faces from --data, your own faces from a --folder); "
        f"faces of uploaded photos are named in {WITHOUT_IMAGES} instead.",
    )
    export.add_argument("--out", required=True, help="the folder to write the datasets in")
    export.add_argument("--db", help=DB_HELP)
    export.add_argument("--dataset", help=f"only this dataset: {DATASET_HELP}")
    export.add_argument(
        "--data", help="the FER+ folder FER+ faces are copied from (default: $BNNFER_DATA)"
    )
    export.add_argument(
        "--folder",
        action="append",
        default=[],
        help="a folder of your own images you voted on, to copy them from; repeatable",
    )
    export.add_argument(
        "--anonymous",
        action="store_true",
        help="write only votes.csv (vote counts per face), not annotations.csv: no names",
    )
    export.set_defaults(handler=_export)
    load = chosen.add_parser(
        "import",
        help="store an annotations.csv's votes in the database",
        description="Reads name,annotator,emotion rows (as bnnfer evaluate does: a bad row is "
        "an error naming it, and nothing is stored) and stores each as that annotator's vote.",
    )
    load.add_argument("file", help="the annotations.csv")
    load.add_argument("--db", help=DB_HELP)
    load.add_argument(
        "--dataset",
        help=f"the dataset the faces belong to: {DATASET_HELP} (default: the digest of the "
        "folder holding the file, whose images the names are)",
    )
    load.set_defaults(handler=_import)
