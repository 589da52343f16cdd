"""offer_seeker.yml compiled for DuckDB equals the seed's own SQL, row for row, on edge cases."""

from __future__ import annotations

import duckdb
import pytest

from semseg.compile import compile_spec
from semseg.spec import load_spec
from tests import edge_data
from tests.golden_regen import SPECS
from tests.seed_sql import SEED_OFFER_SEEKER_SQL


@pytest.fixture()
def con():
    con = duckdb.connect()
    edge_data.load(con)
    yield con
    con.close()


def _rows(con, sql):
    return sorted(con.execute(sql).fetchall(), key=lambda r: r[0])


def test_offer_seeker_equals_seed_sql_row_for_row(con):
    compiled = compile_spec(load_spec(SPECS / "offer_seeker.yml"), "duckdb")
    ours = _rows(con, compiled)
    seed = _rows(con, SEED_OFFER_SEEKER_SQL)
    assert [d[0] for d in con.execute(compiled).description] == [
        d[0] for d in con.execute(SEED_OFFER_SEEKER_SQL).description
    ]
    assert ours == seed


def test_edge_cases_have_the_expected_values(con):
    """Independent of both SQLs: the expected answers worked out by hand from the data."""
    got = {
        r[0]: r[1:]
        for r in _rows(con, compile_spec(load_spec(SPECS / "offer_seeker.yml"), "duckdb"))
    }
    assert set(got) == {f"C{i}" for i in range(1, 15)}  # no NULL key, no C99
    assert got["C1"][0] == 3 and got["C1"][3:] == ("Offer Seeker", 1)  # 3 orders, not 5 lines
    assert float(got["C1"][1]) == pytest.approx(10 + 5.5 + 7.25 + 0 + 1)
    assert got["C1"][2] == 3  # ONL-1, ONL-2 online + OFF-9 offline; '' ignored
    assert got["C2"][0] == 2 and got["C2"][3] == "Occasional Offer User"  # refund ignored
    assert got["C2"][2] == 2 and float(got["C2"][1]) == pytest.approx(7.0)
    assert got["C3"] == (0, 0, 0, "Non-Offer User", 3)  # refunds only
    assert got["C5"][0] == 1 and got["C5"][2] == 0
    assert got["C6"][0] == 3 and got["C6"][2] == 1 and got["C6"][3] == "Offer Seeker"
    assert got["C7"][0] == 1 and float(got["C7"][1]) == 0
    assert got["C8"] == got["C9"] == (0, 0, 0, "Non-Offer User", 3)
    # offer_seeker has no event time: the orders after edge_data.AS_OF count here (C14).
    for customer, orders in (("C10", 2), ("C11", 1), ("C12", 1), ("C13", 1), ("C14", 2)):
        assert got[customer][0] == orders and got[customer][2] == 1  # ONL-8 each time
        assert float(got[customer][1]) == pytest.approx(orders)  # 1.0 saved per order
        assert got[customer][3:] == ("Occasional Offer User", 2)
