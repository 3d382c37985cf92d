"""A separate process voting into an annotations database, for the concurrency and kill tests.

``python annotation_writer.py URL ANNOTATOR FACES [GO_FILE]``: waits for GO_FILE to exist
(when given), then votes on faces ``face0`` ... as ANNOTATOR and as ``tab`` (the same person
in a second tab), printing ``acked NAME`` once each vote is committed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bnnfer.annotations.database import Ballot, VoteStore
from bnnfer.constants import EMOTIONS


def main(url: str, annotator: str, faces: int, go: str | None = None) -> None:
    store = VoteStore.open(url)
    while go is not None and not Path(go).exists():
        time.sleep(0.01)
    for i in range(faces):
        for who in (annotator, "tab"):
            emotion = EMOTIONS[(i + len(annotator)) % len(EMOTIONS)]
            store.cast(Ballot("test", f"face{i}", who, emotion, seconds=0.1, strategy="random"))
        print(f"acked face{i}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
