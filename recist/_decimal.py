"""Exact decimal conversion of measurement values.

RECIST thresholds (+20 %, -30 %, 5 mm, 10 mm, ...) are decided on the number as it was written,
never on its binary floating-point approximation: ``21 * 1.2`` is ``25.200000000000003`` in binary
but exactly ``25.2`` in decimal. Every value entering a comparison goes through :func:`to_decimal`.
"""

from __future__ import annotations

from decimal import Decimal

from recist.errors import RecistInputError

__all__ = ["to_decimal"]


def to_decimal(value: float | int | Decimal | str, *, what: str = "value") -> Decimal:
    """Convert a number to the :class:`~decimal.Decimal` of its shortest decimal spelling.

    Parameters
    ----------
    value
        A float, int, Decimal or numeric string; floats are converted through ``repr`` so that
        ``25.2`` becomes ``Decimal("25.2")``, not the binary expansion of the float.
    what
        Name of the quantity, used in the error message.

    Returns
    -------
    Decimal
        The exact decimal value.

    Raises
    ------
    RecistInputError
        If the value is a bool, not a number, or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, float | int | Decimal | str):
        raise RecistInputError(f"{what}: expected a number, got {type(value).__name__}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError as exc:
        raise RecistInputError(f"{what}: expected a number, got {value!r}") from exc
    if not result.is_finite():
        raise RecistInputError(f"{what}: expected a finite number, got {value!r}")
    return result
