"""The SQL repositories, one module per aggregate, and the unit of work that holds them."""

from adapters.sql.repositories.unit_of_work import SqlUnitOfWork

__all__ = ["SqlUnitOfWork"]
