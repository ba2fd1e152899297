-- 0005: the export columns a report flow uses, kept with each pending order.
--
-- A portal's report flow may address an order's page by another column than
-- its id, or type a column's value into the form (`{column:NAME}`). The
-- download job reads the export; the report job, maybe on another host and an
-- hour later, needs those values: they are stored with the order as a JSON
-- object of column name to value (NULL when the flow uses none).

ALTER TABLE run_orders ADD COLUMN fields TEXT;
