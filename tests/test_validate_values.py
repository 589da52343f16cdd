"""Numbers and values the rest of semseg can trust (``semseg/spec/validate/values.py``): finite,
of the metric's kind, consistent with each other; each refused through ``semseg check`` on a
bundled spec with one edit (issue 11).
"""

from __future__ import annotations

import pytest

from tests.cli_helpers import check_text as _check
from tests.golden_regen import SPECS

OFFER = SPECS / "offer_seeker.yml"


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("min: 3", "min: .nan", "is not a finite number"),
        ("min: 3", "min: .inf", "is not a finite number"),
        ("    fill: 0\n", "    fill: true\n", "fill True for the number"),
        ("    fill: 0\n", "    fill: 0.5\n", "is not an integer"),
        ("share_between: [0.0, 0.6]", "min_count: 5, max_count: 1", "is above max_count"),
    ],
)
def test_numbers_that_would_mislead_are_refused(tmp_path, old, new, message):
    text = OFFER.read_text(encoding="utf-8")
    assert old in text
    result, path = _check(tmp_path, text.replace(old, new, 1))
    assert result.exit_code == 1 and message in result.output, result.output
    assert f"{path}:" in result.output


def test_a_null_label_equal_to_a_tier_label_is_refused(tmp_path):
    rfm = (SPECS / "customer_rfm.yml").read_text(encoding="utf-8")
    rfm = rfm.replace("    labels: [Top 20%, High, Middle, Low, Bottom 20%]\n", (
        "    labels: [Top 20%, High, Middle, Low, Bottom 20%]\n    null_label: Low\n"
    ))  # fmt: skip
    result, _ = _check(tmp_path, rfm)
    assert result.exit_code == 1 and "is also a tier label" in result.output, result.output
