"""The tables of an annotations database (SQLAlchemy 2 declarative models).

``votes`` holds the current vote of each annotator on each face: one row per (dataset, face,
annotator), replaced when they change their mind. ``vote_history`` keeps every vote ever cast
and every vote withdrawn (undo), in the order they happened, so that a replaced vote is never
lost. Both hold names and labels only, never pixels: a face is its image's name within its
dataset (a FER+ file name, a path inside your folder, or the hash of a face found in a photo).

The migrations in ``bnnfer/annotations/migrations`` create these tables; a change here needs a
new migration there (the first one must keep creating the first schema).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# column widths, checked before a vote is written (PostgreSQL refuses longer strings)
DATASET_LENGTH = 200
FACE_LENGTH = 500
ANNOTATOR_LENGTH = 100
EMOTION_LENGTH = 16
STRATEGY_LENGTH = 32
ACTIONS = ("vote", "withdraw")  # what a history row records


class Base(DeclarativeBase):
    """The declarative base of the annotation tables."""


class Vote(Base):
    """An annotator's current vote on one face."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("dataset", "face", "annotator", name="one_vote_per_face"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(DATASET_LENGTH), index=True)  # ferplus:valid ...
    face: Mapped[str] = mapped_column(String(FACE_LENGTH))  # the image's name in the dataset
    annotator: Mapped[str] = mapped_column(String(ANNOTATOR_LENGTH), index=True)
    emotion: Mapped[str] = mapped_column(String(EMOTION_LENGTH))  # one of VOTE_COLUMNS
    cast_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC
    seconds: Mapped[float | None] = mapped_column(Float)  # from the face shown to the vote
    strategy: Mapped[str] = mapped_column(String(STRATEGY_LENGTH))  # the queue that chose it
    blind: Mapped[bool] = mapped_column(Boolean)  # crowd and models hidden until the vote


class VoteEvent(Base):
    """One vote cast or withdrawn, kept for good (``action`` one of `ACTIONS`; a withdrawal
    has no emotion)."""

    __tablename__ = "vote_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(8))
    dataset: Mapped[str] = mapped_column(String(DATASET_LENGTH))
    face: Mapped[str] = mapped_column(String(FACE_LENGTH))
    annotator: Mapped[str] = mapped_column(String(ANNOTATOR_LENGTH))
    emotion: Mapped[str | None] = mapped_column(String(EMOTION_LENGTH))
    cast_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)
    strategy: Mapped[str] = mapped_column(String(STRATEGY_LENGTH))
    blind: Mapped[bool] = mapped_column(Boolean)
