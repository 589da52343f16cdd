"""The seed's own hand-written Offer Seeker SQL, as published, wired into dim_customers.

The CTE and CASE expressions are copied from the seed document (only ``{{ ref(...) }}`` is
replaced by the table name). The join to ``int_customers`` with COALESCE defaults is the seed's
"customer_combined ... NULL-safe with COALESCE defaults" step, which the document describes but
does not print.
"""

SEED_OFFER_SEEKER_SQL = """
WITH customer_offer_usage AS (
    SELECT
        ol.unified_customer_id,
        COUNT(DISTINCT CASE
            WHEN ol.has_discount = 1
            THEN ol.unified_order_id
        END) AS orders_with_discount_count,
        SUM(CASE
            WHEN ol.transaction_type = 'Sale'
            THEN ABS(COALESCE(ol.discount_amount, 0))
            ELSE 0
        END) AS total_discount_amount,
        COUNT(DISTINCT CASE
            WHEN ol.online_offer_no_ IS NOT NULL AND ol.online_offer_no_ != ''
            THEN ol.online_offer_no_
        END) + COUNT(DISTINCT CASE
            WHEN ol.offline_offer_no_ IS NOT NULL AND ol.offline_offer_no_ != ''
            THEN ol.offline_offer_no_
        END) AS distinct_offers_used
    FROM int_order_lines ol
    WHERE ol.unified_customer_id IS NOT NULL
        AND ol.transaction_type = 'Sale'
    GROUP BY ol.unified_customer_id
),
customer_combined AS (
    SELECT
        c.unified_customer_id,
        COALESCE(u.orders_with_discount_count, 0) AS orders_with_discount_count,
        COALESCE(u.total_discount_amount, 0) AS total_discount_amount,
        COALESCE(u.distinct_offers_used, 0) AS distinct_offers_used
    FROM (SELECT DISTINCT unified_customer_id FROM int_customers
          WHERE unified_customer_id IS NOT NULL) c
    LEFT JOIN customer_offer_usage u ON u.unified_customer_id = c.unified_customer_id
)
SELECT
    unified_customer_id,
    orders_with_discount_count,
    total_discount_amount,
    distinct_offers_used,
    CASE
        WHEN orders_with_discount_count >= 3 THEN 'Offer Seeker'
        WHEN orders_with_discount_count BETWEEN 1 AND 2 THEN 'Occasional Offer User'
        ELSE 'Non-Offer User'
    END AS offer_seeker_segment,
    CASE
        WHEN orders_with_discount_count >= 3 THEN 1
        WHEN orders_with_discount_count BETWEEN 1 AND 2 THEN 2
        ELSE 3
    END AS offer_seeker_segment_order
FROM customer_combined
"""
