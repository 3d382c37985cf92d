"""The first schema: current votes, one per dataset, face and annotator, and their history.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_FIELDS = (
    ("dataset", sa.String(200)),
    ("face", sa.String(500)),
    ("annotator", sa.String(100)),
)


def _details(emotion_nullable: bool) -> list[sa.Column]:
    return [
        sa.Column("emotion", sa.String(16), nullable=emotion_nullable),
        sa.Column("cast_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), primary_key=True),
        *(sa.Column(name, kind, nullable=False) for name, kind in _FIELDS),
        *_details(emotion_nullable=False),
        sa.UniqueConstraint("dataset", "face", "annotator", name="one_vote_per_face"),
    )
    op.create_index("ix_votes_dataset", "votes", ["dataset"])
    op.create_index("ix_votes_annotator", "votes", ["annotator"])
    op.create_table(
        "vote_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(8), nullable=False),
        *(sa.Column(name, kind, nullable=False) for name, kind in _FIELDS),
        *_details(emotion_nullable=True),
    )


def downgrade() -> None:
    op.drop_table("vote_history")
    op.drop_index("ix_votes_annotator", "votes")
    op.drop_index("ix_votes_dataset", "votes")
    op.drop_table("votes")
