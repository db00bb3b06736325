"""Names of a package loaded from their modules on first use (PEP 562).

A package's `__init__` states its public names in `__all__` (and, for type checkers, under
`if TYPE_CHECKING:`), maps each to the module that defines it, and sets
`__getattr__ = lazy_names(__name__, WHERE)`: importing the package then imports none of
its modules; touching a name imports only the module that defines it.
"""

import importlib
from collections.abc import Callable, Mapping


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that loads `name` from
    `package.<where[name]>`.

    Before: `where` maps each public name to a module of `package` that defines it.
    After: the returned function gives that module's attribute, importing the module the
    first time; a name `where` does not hold raises `AttributeError`, as a module would.
    """

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
