"""Shared by the tests of spec validation (``tests/test_validate_*.py`` and
``tests/test_spec_load.py``): ``BASE``, a small valid spec, ``HEAD``, the header of smaller ones,
and helpers that load a spec and pick out its issues.

Most specs are ``BASE`` (the ``# n`` comments are its line numbers) with one or two lines edited
in place (``variant``), so the expected line numbers can be read straight off ``BASE``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from semseg.errors import Issue, SpecError
from semseg.spec import load_spec

BASE = textwrap.dedent("""\
    version: 1                                          # 1
    name: base_spec                                     # 2
    description: A small valid spec                     # 3
    entity:                                             # 4
      name: customer                                    # 5
      key: customer_id                                  # 6
    sources:                                            # 7
      orders:                                           # 8
        table: raw_orders                               # 9
        where: status = 'Sale'                          # 10
    metrics:                                            # 11
      order_count:                                      # 12
        source: orders                                  # 13
        agg: count                                      # 14
        description: Order lines per customer           # 15
      total_sales:                                      # 16
        source: orders                                  # 17
        agg: sum                                        # 18
        expr: amount                                    # 19
        fill: 0                                         # 20
      avg_sale:                                         # 21
        expr: total_sales / NULLIF(order_count, 0)      # 22
        description: Average sale value                 # 23
    segmentations:                                      # 24
      frequency:                                        # 25
        by: order_count                                 # 26
        description: How often the customer buys        # 27
        segments:                                       # 28
          - {label: Frequent, min: 3}                   # 29
          - {label: Occasional, min: 1, max: 2}         # 30
          - {label: Never, else: true}                  # 31
      value_tier:                                       # 32
        by: total_sales                                 # 33
        quantiles: 3                                    # 34
        direction: desc                                 # 35
        labels: [High, Mid, Low]                        # 36
      status:                                           # 37
        segments:                                       # 38
          - label: Loyal                                # 39
            when: frequency_order = 1 AND value_tier_order = 1  # 40
            description: Frequent top spenders          # 41
          - label: Other                                # 42
            else: true                                  # 43
      spend: {by: total_sales, segments: [{label: Big, min: 500}, {label: Rest, else: true}]}  # 44
    checks:                                             # 45
      - {segment: Frequent, share_between: [0.0, 0.6]}  # 46
      - {segment: Loyal, min_count: 1}                  # 47
    """)

# Header of the small stand-alone specs (lines 1-5); their metrics start on line 6.
HEAD = textwrap.dedent("""\
    version: 1
    name: small
    entity: {name: customer, key: customer_id}
    sources: {orders: {table: raw_orders}}
    metrics:
    """)


def variant(*edits: tuple[int, str, str]) -> str:
    """``BASE`` with ``old`` replaced by ``new`` on the given (1-based) line; line count kept."""
    lines = BASE.splitlines()
    for line, old, new in edits:
        text = lines[line - 1]
        assert text.count(old) == 1, f"{old!r} is not once on line {line}: {text}"
        assert "\n" not in new, "keep the line numbers of BASE: edit within one line"
        lines[line - 1] = lines[line - 1].replace(old, new)
    return "\n".join(lines) + "\n"


def issues_of(tmp_path: Path, text: str, name: str = "spec.yml") -> list[Issue]:
    """Write ``text`` (dedented) to a spec file and return the issues loading it reports."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    try:
        load_spec(path)
    except SpecError as err:
        assert all(issue.path == str(path) for issue in err.issues)
        return err.issues
    return []


def the_only(issues: list[Issue]) -> Issue:
    """The single issue of a list that should hold exactly one."""
    assert len(issues) == 1, "expected one issue, got:\n" + "\n".join(i.format() for i in issues)
    return issues[0]


def the_issue(tmp_path: Path, text: str) -> Issue:
    """The one issue of a spec that breaks exactly one rule."""
    return the_only(issues_of(tmp_path, text))


def find(issues: list[Issue], fragment: str) -> Issue:
    """The issue whose message contains ``fragment``."""
    found = [i for i in issues if fragment in i.message]
    assert len(found) == 1, f"{fragment!r} in:\n" + "\n".join(i.format() for i in issues)
    return found[0]


def expect(
    issue: Issue,
    line: int,
    col: int | None,
    message: tuple[str, ...] | str,
    hint: tuple[str, ...] | str = (),
) -> None:
    """Assert position and the key words of message and hint."""
    assert issue.line == line, issue.format()
    if col is not None:
        assert issue.col == col, issue.format()
    for words in (message,) if isinstance(message, str) else message:
        assert words in issue.message, issue.format()
    for words in (hint,) if isinstance(hint, str) else hint:
        assert words in issue.hint, issue.format()
