"""The money path's reads on PostgreSQL: one query each, whole rows as composite values
(``t AS transaction``), tagged with the part of the snapshot they belong to."""

from __future__ import annotations

TRANSACTION_PARTIES = """
SELECT 's' AS role, a AS account, NULL::uuid AS user_id, NULL::text AS username,
    NULL::boolean AS is_active
FROM accounts a WHERE a.owner_id = $1 AND a.kind = 'wallet'
UNION ALL
SELECT 'n', a, u.id, u.username, u.is_active
FROM accounts a LEFT JOIN users u ON u.id = a.owner_id WHERE a.id = $2
UNION ALL
SELECT 'w', w, u.id, u.username, u.is_active
FROM accounts a JOIN users u ON u.id = a.owner_id
    JOIN accounts w ON w.owner_id = u.id AND w.kind = 'wallet'
WHERE a.id = $2
UNION ALL
SELECT 'p', w, u.id, u.username, u.is_active
FROM users u LEFT JOIN accounts w ON w.owner_id = u.id AND w.kind = 'wallet'
WHERE u.phone_number = $3
UNION ALL
SELECT 'u', w, u.id, u.username, u.is_active
FROM users u LEFT JOIN accounts w ON w.owner_id = u.id AND w.kind = 'wallet'
WHERE lower(u.username) = lower($4)
"""

WALLETS_AND_SINKS = """
SELECT a AS account FROM accounts a WHERE a.owner_id = $1 AND a.kind = 'wallet'
UNION ALL
SELECT s FROM accounts s
WHERE s.source = $2 AND s.currency IN (SELECT currency FROM accounts WHERE owner_id = $1)
"""

WALLET_AND_SOURCE = """
SELECT a AS account FROM accounts a WHERE a.id = $1
UNION ALL
SELECT s FROM accounts w JOIN accounts s ON s.source = $2 AND s.currency = w.currency
WHERE w.id = $1
"""

PROVIDER_DEPOSIT = """
SELECT 'x' AS role, t AS transaction, NULL::accounts AS account, NULL::uuid AS user_id,
    NULL::text AS username, NULL::boolean AS is_active
FROM transactions t WHERE t.funding_source = $1 AND t.provider_id = $2
UNION ALL
SELECT 'w', NULL, w, u.id, u.username, u.is_active
FROM users u LEFT JOIN accounts w ON w.owner_id = u.id AND w.kind = 'wallet'
WHERE u.phone_number = $3
UNION ALL
SELECT 's', NULL, s, NULL, NULL, NULL
FROM accounts s
WHERE s.source = $1 AND s.currency IN (
    SELECT a.currency FROM users u JOIN accounts a ON a.owner_id = u.id
    WHERE u.phone_number = $3)
"""

TRANSACTION = """
SELECT t AS transaction, d AS debit, c AS credit
FROM transactions t
    JOIN accounts d ON d.id = t.debit_account_id
    JOIN accounts c ON c.id = t.credit_account_id
WHERE t.id = $1
"""

DUE = """
SELECT t AS transaction, d AS debit, c AS credit
FROM transactions t
    JOIN accounts d ON d.id = t.debit_account_id
    JOIN accounts c ON c.id = t.credit_account_id
WHERE t.status = 'pending' AND t.expires_at <= $1
ORDER BY t.expires_at
LIMIT $2
"""

CASHOUT_ATTEMPT = """
WITH owner AS (SELECT id FROM users WHERE phone_number = $1),
wallets AS (
    SELECT a.id FROM accounts a WHERE a.owner_id = (SELECT id FROM owner) AND a.kind = 'wallet'
),
found AS (
    SELECT 'm' AS role, t FROM transactions t
    WHERE t.code_digest = ANY($2::text[]) AND t.type = 'withdrawal'
        AND t.debit_account_id IN (SELECT id FROM wallets)
    UNION ALL
    SELECT 'p', t FROM transactions t
    WHERE t.status = 'pending' AND t.type = 'withdrawal'
        AND t.debit_account_id IN (SELECT id FROM wallets)
)
SELECT (SELECT id FROM owner) AS user_id, f.role, f.t AS transaction, d AS debit, c AS credit
FROM (SELECT 1) AS one
    LEFT JOIN found f ON true
    LEFT JOIN accounts d ON d.id = (f.t).debit_account_id
    LEFT JOIN accounts c ON c.id = (f.t).credit_account_id
"""

RECEIPT = """
SELECT fingerprint, receipt FROM idempotency_keys
WHERE scope = $1 AND key = $2 AND expires_at > $3
"""

ADD_SYSTEM_ACCOUNT = """
INSERT INTO accounts (id, kind, currency, owner_id, owner_username, source, is_active,
    debits_posted, credits_posted, debits_pending, credits_pending, transaction_count,
    created_at, updated_at)
VALUES ($1, 'system', $2, NULL, NULL, $3, true, 0, 0, 0, 0, 0, $4, $4)
ON CONFLICT DO NOTHING
"""

SYSTEM_ACCOUNT = """
SELECT a AS account FROM accounts a WHERE a.source = $1 AND a.currency = $2
"""
