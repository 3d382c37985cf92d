"""benchmarks/first_run.py: each kind of CPU the dashboard treats apart gets its own record in
first_run.json, so a run on one never overwrites another's; a CPU with bf16 in hardware on which
``precision="auto"`` runs fp32 (its bf16 the slower) is a kind of its own."""

from __future__ import annotations

import first_run
import pytest


@pytest.mark.parametrize(
    ("bf16", "hidden", "precision", "tag"),
    [
        (True, False, "bf16", "cpu-bf16"),
        (True, False, "fp32", "cpu-bf16-slow"),
        (False, True, "fp32", "cpu-bf16-hidden"),
        (False, False, "fp32", "cpu-no-bf16"),
    ],
)
def test_each_kind_of_cpu_has_its_own_record(bf16, hidden, precision, tag):
    assert first_run.machine_tag(bf16, hidden, precision) == tag
