"""ORDER BY and keyset ("seek") predicates from the core's ordering model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression, and_, literal, or_, tuple_

from wallet_core.queries import Cursor, Ordering

SortColumns = Mapping[str, ColumnElement[Any]]


def order_by(
    exprs: SortColumns, id_column: ColumnElement[Any], ordering: Sequence[Ordering]
) -> list[UnaryExpression[Any]]:
    """``ORDER BY k1 [DESC], ..., id`` where id follows the last key's direction."""
    clauses = [exprs[o.field].desc() if o.descending else exprs[o.field].asc() for o in ordering]
    last_desc = ordering[-1].descending if ordering else False
    clauses.append(id_column.desc() if last_desc else id_column.asc())
    return clauses


def seek(
    exprs: SortColumns,
    id_column: ColumnElement[Any],
    ordering: Sequence[Ordering],
    cursor: Cursor,
) -> ColumnElement[bool]:
    """Rows strictly after ``cursor``. When every key runs the same way this is one row-value
    comparison, which an index on the same columns answers with a range scan."""
    keys = [exprs[o.field] for o in ordering] + [id_column]
    values = [
        literal(v, type_=k.type) for v, k in zip((*cursor.values, cursor.id), keys, strict=True)
    ]
    directions = [o.descending for o in ordering]
    directions.append(directions[-1] if directions else False)
    if len(set(directions)) == 1:
        left, right = tuple_(*keys), tuple_(*values)
        return left < right if directions[0] else left > right
    alternatives = []
    for i, (key, value, desc) in enumerate(zip(keys, values, directions, strict=True)):
        equal_prefix = [keys[j] == values[j] for j in range(i)]
        step = key < value if desc else key > value
        alternatives.append(and_(*equal_prefix, step))
    return or_(*alternatives)


def like_pattern(text: str) -> str:
    """A case-insensitive ``contains`` pattern with LIKE's wildcards escaped (``\\`` escape)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
