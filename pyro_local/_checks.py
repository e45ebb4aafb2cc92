"""Argument checks shared by every package of pyro-local.

This module imports nothing of pyro-local, so that any layer (distributions, data, ...)
may import it without creating a cycle.
"""

__all__ = ["check_enum", "check_int", "is_int"]


def is_int(value, minimum=1):
    """Whether ``value`` is an int (a bool is not) of at least ``minimum`` (``None``: any).

    :param value: the argument to test.
    :param int minimum: the smallest accepted value, or ``None`` for no bound.
    :rtype: bool
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return minimum is None or value >= minimum


def check_int(value, name, minimum=1):
    """Returns ``value`` if it is an int (a bool is not) of at least ``minimum``.

    :param value: the argument to check.
    :param str name: the argument's name, as the error message shows it.
    :param int minimum: the smallest accepted value (1: a positive int), or ``None``
        for no bound.
    :raises TypeError: ``"{name}: expected an int, got {type}"`` if it is not an int.
    :raises ValueError: ``"{name}: expected an int >= {minimum}, got {value}"`` if it is
        smaller.
    """
    if not is_int(value, None):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if not is_int(value, minimum):
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


def check_enum(enum_type, value, name):
    """The member of ``enum_type`` that ``value`` is or whose value it equals.

    :param type enum_type: an :class:`enum.Enum` subclass (a ``str`` enum accepts its
        strings).
    :param value: the argument to convert.
    :param str name: the argument's name, as the error message shows it.
    :raises ValueError: ``"{name}: expected 'a' or 'b', got {value}"`` (``one of 'a',
        'b', 'c'`` for more choices) for any other value.
    """
    try:
        return enum_type(value)
    except ValueError:
        choices = [repr(member.value) for member in enum_type]
        expected = " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)
        raise ValueError(f"{name}: expected {expected}, got {value!r}") from None
