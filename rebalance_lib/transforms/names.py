"""User column names, taken literally: a dot or a space is part of the name."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column
from pyspark.sql import types as T


def column(name: str) -> Column:
    """The top-level column called ``name`` (``y.is_fraud`` is one column, not a field of y).

    Example:
        >>> df.select(column("y.is_fraud"))
        DataFrame[y.is_fraud: int]
    """
    return F.col("`" + name.replace("`", "``") + "`")


def hashable(data_type: T.DataType) -> bool:
    """Whether Spark's hash functions take a value of this type (maps and variants: no)."""
    if isinstance(data_type, T.MapType | T.VariantType):
        return False
    if isinstance(data_type, T.ArrayType):
        return hashable(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return all(hashable(field.dataType) for field in data_type.fields)
    return True
