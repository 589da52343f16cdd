"""A small hand-built dataset with the edge cases of the seed's Offer Seeker logic.

Each customer exists to exercise one case; the comment says which.
"""

from __future__ import annotations

from datetime import date

import duckdb

# (key, signup_date): customer_lifecycle's population has a time (issue 26). Every customer
# signed up before the as-of date but C8 (NULL: a member at every date) and C9 (the day
# after it: not yet in that population, though in the others, which have no time).
CUSTOMERS = [
    ("C10", "2024-01-01"),
    ("C11", "2024-01-01"),
    ("C12", "2024-01-01"),
    ("C13", "2024-01-01"),
    ("C14", "2024-01-01"),
    ("C1", "2024-01-01"),
    ("C2", "2024-01-01"),
    ("C3", "2024-01-01"),
    ("C4", "2024-01-01"),
    ("C5", "2024-01-01"),
    ("C6", "2024-01-01"),
    ("C7", "2025-06-30"),  # on the as-of date: a member
    ("C8", None),
    ("C9", "2025-07-01"),
    (None, "2024-01-01"),
]

# (order_id, line_no, customer, transaction_type, has_discount, discount_amount, online, offline,
#  order_date, sales_amount)
LINES = [
    # C1: three discounted orders, several discounted lines each -> Offer Seeker (3, not 6).
    ("O1", 1, "C1", "Sale", 1, -10.0, "ONL-1", None, "2025-01-05", 100.0),
    ("O1", 2, "C1", "Sale", 1, -5.5, "ONL-1", None, "2025-01-05", 50.0),
    ("O2", 1, "C1", "Sale", 1, 7.25, None, "OFF-9", "2025-03-01", 80.0),
    ("O2", 2, "C1", "Sale", 1, None, None, "", "2025-03-01", 20.0),
    ("O3", 1, "C1", "Sale", 1, -1.0, "ONL-2", None, "2025-06-01", 10.0),
    ("O4", 1, "C1", "Sale", 0, None, None, None, "2025-07-01", 30.0),
    # C2: two discounted orders + a discounted refund (refund must not count) -> Occasional.
    ("O5", 1, "C2", "Sale", 1, -3.0, "", "OFF-1", "2025-02-01", 40.0),
    ("O6", 1, "C2", "Sale", 1, -4.0, "ONL-3", None, "2025-02-02", 40.0),
    ("O7", 1, "C2", "Refund", 1, -50.0, "ONL-9", None, "2025-02-03", -40.0),
    # C3: only refunds with discounts -> Non-Offer User, zero amounts, zero offers.
    ("O8", 1, "C3", "Refund", 1, -8.0, "ONL-4", "OFF-4", "2025-04-01", -10.0),
    # C4: orders without discounts, '' and NULL codes -> Non-Offer User.
    ("O9", 1, "C4", "Sale", 0, 0.0, "", "", "2025-05-01", 15.0),
    ("O9", 2, "C4", "Sale", 0, None, None, None, "2025-05-01", 15.0),
    # C5: one discounted order with a discount but no code at all -> Occasional, 0 offers.
    ("O10", 1, "C5", "Sale", 1, -2.0, None, None, "2025-05-02", 25.0),
    # C6: exactly three discounted orders, same offer code reused -> 1 distinct offer.
    ("O11", 1, "C6", "Sale", 1, -1.0, "ONL-5", None, "2025-05-03", 5.0),
    ("O12", 1, "C6", "Sale", 1, -1.0, "ONL-5", None, "2025-05-04", 5.0),
    ("O13", 1, "C6", "Sale", 1, -1.0, "ONL-5", None, "2025-05-05", 5.0),
    # C7: has_discount = 1 but amount NULL on every line -> counts the orders, amount 0.
    ("O14", 1, "C7", "Sale", 1, None, None, "OFF-7", "2025-05-06", 5.0),
    # Guest lines with NULL customer id: never counted anywhere.
    ("O15", 1, None, "Sale", 1, -9.0, "ONL-6", None, "2025-05-07", 9.0),
    ("O16", 1, None, "Sale", 1, -9.0, "ONL-6", None, "2025-05-08", 9.0),
    # C99 buys but is not in int_customers: dim_customers has no row for them.
    ("O17", 1, "C99", "Sale", 1, -9.0, "ONL-7", None, "2025-05-09", 9.0),
    # C8, C9: in int_customers with no lines at all -> Non-Offer User with zeros.
    # Time, as of AS_OF (2025-06-30); offer_trend's windows: last 90 days = after 2025-04-01,
    # 90 to 455 days ago = after 2024-04-01 up to 2025-04-01.
    # C10: discounted orders on the as-of date and exactly 90 days before -> Steady.
    ("O20", 1, "C10", "Sale", 1, -1.0, "ONL-8", None, "2025-06-30", 10.0),
    ("O21", 1, "C10", "Sale", 1, -1.0, "ONL-8", None, "2025-04-01", 10.0),
    # C11: a discounted order 89 days before -> recent only -> New Offer Seeker.
    ("O22", 1, "C11", "Sale", 1, -1.0, "ONL-8", None, "2025-04-02", 10.0),
    # C12: exactly 455 days before (outside the earlier window) -> Non-Offer User.
    ("O23", 1, "C12", "Sale", 1, -1.0, "ONL-8", None, "2024-04-01", 10.0),
    # C13: 454 days before, on a leap year's March -> Lapsed Offer Seeker.
    ("O24", 1, "C13", "Sale", 1, -1.0, "ONL-8", None, "2024-04-02", 10.0),
    ("O25", 1, "C13", "Sale", 0, None, None, None, "2024-02-29", 10.0),
    # C14: discounted orders only after the as-of date -> counted nowhere (point in time).
    ("O26", 1, "C14", "Sale", 1, -1.0, "ONL-8", None, "2025-07-01", 10.0),
    ("O27", 1, "C14", "Sale", 1, -1.0, "ONL-8", None, "2026-01-01", 10.0),
]

AS_OF = date(2025, 6, 30)  # the edge cases' as-of date: O4, O26 and O27 come after it

# int_products (offer_categories joins it): departments that differ only in case, a product
# with a NULL department, and lines whose product is missing from the table or NULL.
PRODUCTS = [
    ("P1", "Beauty"),
    ("P2", "beauty"),  # sorts after 'Beauty' and 'Home' in code-point order
    ("P3", "Home"),
    ("P4", None),  # exists, with no department: not 'Unknown'
    ("P5", "Dairy"),
]
PRODUCT_OF = {  # (order, line) -> product_id; lines not listed have none (NULL)
    ("O1", 1): "P1",
    ("O1", 2): "P1",
    ("O2", 1): "P2",
    ("O2", 2): "P5",
    ("O3", 1): "P1",
    ("O5", 1): "P404",  # not in int_products: 'Unknown'
    # C6: three discounted lines, one each in 'home', 'Home' and 'Beauty' (a three-way tie)
    ("O11", 1): "P2",
    ("O12", 1): "P3",
    ("O13", 1): "P1",
    ("O10", 1): "P4",
    ("O20", 1): "P5",
    ("O21", 1): "P3",
}


# int_offers (offer_types joins it twice: by online_offer_no_ and by offline_offer_no_). C1 has
# two percentage lines, one free-shipping line and one whose offer exists with no type (OFF-9)
# -> percentage, 2 of 3; C2 has one fixed-amount store line whose online code is '' and one
# percentage online line -> a tie, to fixed_amount (code-point order), 1/2; C6 reuses one
# free-shipping code three times; C7's code OFF-7 is not in the table -> no type; C3's refund
# line carries both codes (not a sale: counted nowhere); OFF-500 is an offer nobody used.
OFFERS = [
    ("ONL-1", "online", "percentage", 20.0),
    ("ONL-2", "online", "free_shipping", None),
    ("ONL-3", "online", "percentage", 10.0),
    ("ONL-4", "online", "free_shipping", None),
    ("ONL-5", "online", "free_shipping", None),
    ("ONL-6", "online", "fixed_amount", 25.0),
    ("ONL-8", "online", "percentage", 15.0),
    ("OFF-1", "store", "fixed_amount", 50.0),
    ("OFF-4", "store", "fixed_amount", 10.0),
    ("OFF-9", "store", None, None),  # exists, with no type
    ("OFF-500", "store", "percentage", 30.0),
]


# int_offer_redemptions (offer_propensity's outcome, `last 30 days`: 2025-06-01 ... AS_OF):
# the days either side of each end, two on one day, a NULL key and a key not in the population.
REDEMPTIONS = [
    ("R1", "C1", "2025-05-31"),  # the day before the window
    ("R2", "C1", "2025-06-01"),  # its first day
    ("R3", "C2", "2025-06-30"),  # its last day (AS_OF), twice
    ("R4", "C2", "2025-06-30"),
    ("R5", "C3", "2025-07-01"),  # after AS_OF
    ("R6", None, "2025-06-15"),
    ("R7", "C99", "2025-06-15"),  # not in int_customers
]


def load(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``int_customers``, ``int_order_lines``, ``int_products``, ``int_offers`` and
    ``int_offer_redemptions`` with the rows above."""
    con.execute("CREATE TABLE int_customers (unified_customer_id VARCHAR, signup_date DATE)")
    con.executemany("INSERT INTO int_customers VALUES (?, ?)", CUSTOMERS)
    con.execute(
        "CREATE TABLE int_order_lines (unified_order_id VARCHAR, order_line_no INTEGER, "
        "unified_customer_id VARCHAR, transaction_type VARCHAR, has_discount INTEGER, "
        "discount_amount DECIMAL(12,2), online_offer_no_ VARCHAR, offline_offer_no_ VARCHAR, "
        # NOT NULL where real warehouses declare it: engines then type aggregates as
        # non-nullable, which is what exposes LEFT JOIN default-value quirks (ClickHouse).
        "order_date DATE NOT NULL, sales_amount DECIMAL(12,2) NOT NULL, product_id VARCHAR)"
    )
    rows = [(*line, PRODUCT_OF.get((line[0], line[1]))) for line in LINES]
    con.executemany("INSERT INTO int_order_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE int_products (product_id VARCHAR NOT NULL, department VARCHAR)")
    con.executemany("INSERT INTO int_products VALUES (?, ?)", PRODUCTS)
    con.execute(
        "CREATE TABLE int_offers (offer_code VARCHAR NOT NULL, channel VARCHAR, "
        "offer_type VARCHAR, offer_value DECIMAL(12,2))"
    )
    con.executemany("INSERT INTO int_offers VALUES (?, ?, ?, ?)", OFFERS)
    con.execute(
        "CREATE TABLE int_offer_redemptions (redemption_id VARCHAR NOT NULL, "
        "unified_customer_id VARCHAR, redeemed_date DATE NOT NULL, offer_code VARCHAR)"
    )
    con.executemany("INSERT INTO int_offer_redemptions VALUES (?, ?, ?, 'APP-EDGE')", REDEMPTIONS)
