-- 0002: the singleton slot config and the 24 hour slots, as data rather than
-- schema (the original's 0008 after its 0007). Every hour starts with room for
-- the default number of users; `reporter slots set` changes one hour.

INSERT INTO slot_config (id, default_max_users, enabled, updated_at)
VALUES (1, 5, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER));

WITH RECURSIVE hours (hour) AS (
    SELECT 0
    UNION ALL
    SELECT hour + 1 FROM hours WHERE hour < 23
)
INSERT INTO hour_slots (hour, max_users)
SELECT hour, (SELECT default_max_users FROM slot_config WHERE id = 1) FROM hours;
