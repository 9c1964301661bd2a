"""The ``@operation`` decorator: mark a function as an experiment's unit of work.

An operation declares, by parameter name, which of ``context``, ``params``, ``seeds``,
``runtime`` and ``capture`` it wants; only those are passed. Any other parameter name is a
``ValueError`` at decoration time. The wrapper records the operation's ``name`` (default:
the function's name), its import ``ref`` (``"module:qualname"``, used by worker processes)
and a ``code_hash`` of its source (part of run ids when code identity is tracked).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
from collections.abc import Callable
from typing import Any, ClassVar, overload

__all__ = ["OperationWrapper", "import_operation", "operation"]


class OperationWrapper:
    """A decorated operation: call it (or :meth:`run`) with all five inputs."""

    INJECTABLE_PARAMS: ClassVar[set[str]] = {"context", "params", "seeds", "runtime", "capture"}

    def __init__(self, func: Callable[..., Any], name: str | None = None) -> None:
        self._func = func
        self._name = name or func.__name__
        self._code_hash: str | None = None
        self._param_names = set(inspect.signature(func).parameters)
        invalid = self._param_names - self.INJECTABLE_PARAMS
        if invalid:
            raise ValueError(
                f"Operation '{self._name}' has invalid parameter(s): {invalid}. "
                f"Valid parameters are: {self.INJECTABLE_PARAMS}"
            )
        functools.update_wrapper(self, func)

    @property
    def name(self) -> str:
        """The operation's name."""
        return self._name

    @property
    def code_hash(self) -> str:
        """SHA-256 (16 hex digits) of the function's source, ``""`` if unavailable."""
        if self._code_hash is None:
            try:
                source = inspect.getsource(self._func)
            except (OSError, TypeError):
                self._code_hash = ""
            else:
                self._code_hash = hashlib.sha256(source.encode()).hexdigest()[:16]
        return self._code_hash

    @property
    def ref(self) -> str:
        """``"module:qualname"`` of the function, for :func:`import_operation`."""
        return f"{self._func.__module__}:{self._func.__qualname__}"

    def run(
        self, context: Any, params: dict[str, Any], seeds: Any, runtime: Any, capture: Any
    ) -> Any:
        """Call the function with the inputs its signature asks for; return its result."""
        offered = {
            "context": context,
            "params": params,
            "seeds": seeds,
            "runtime": runtime,
            "capture": capture,
        }
        return self._func(
            **{key: value for key, value in offered.items() if key in self._param_names}
        )

    def __call__(
        self, context: Any, params: dict[str, Any], seeds: Any, runtime: Any, capture: Any
    ) -> Any:
        return self.run(context, params, seeds, runtime, capture)

    def __repr__(self) -> str:
        return f"Operation({self._name})"


@overload
def operation(func: Callable[..., Any]) -> OperationWrapper: ...
@overload
def operation(
    func: None = None, *, name: str | None = None
) -> Callable[[Callable[..., Any]], OperationWrapper]: ...


def operation(
    func: Callable[..., Any] | None = None, *, name: str | None = None
) -> OperationWrapper | Callable[[Callable[..., Any]], OperationWrapper]:
    """Decorate an operation: ``@operation``, ``@operation()`` or ``@operation(name="x")``.

    Example::

        @metalab.operation
        def estimate_pi(params, seeds, capture):
            rng = seeds.numpy()
            ...

    Raises:
        ValueError: the function has a parameter other than ``context``, ``params``,
            ``seeds``, ``runtime`` or ``capture``.
    """

    def wrap(fn: Callable[..., Any]) -> OperationWrapper:
        return OperationWrapper(fn, name=name)

    return wrap if func is None else wrap(func)


def import_operation(ref: str) -> OperationWrapper:
    """Import the operation named by ``ref`` (``"module:attr"``, ``attr`` may be dotted).

    Raises:
        ImportError: the module cannot be imported.
        AttributeError: the attribute does not exist.
        TypeError: the attribute is not an operation.
    """
    module_name, attr_path = ref.rsplit(":", 1)
    found: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        found = getattr(found, part)
    if not isinstance(found, OperationWrapper):
        raise TypeError(f"Expected OperationWrapper, got {type(found).__name__}")
    return found
