"""A function's cold start: the garbage collector is paused while its entry module imports, and
everything the imports built is then frozen (moved out of the collector's sight) for good.

Imports allocate a few hundred thousand long-lived objects (modules, classes, botocore's service
models, pydantic's validators). Collecting while they are being made walks them again and again
and frees nothing; and once made, every later full collection of every invocation would walk them
once more. Each entry module imports this module before its own first-party imports and calls
`done()` as its last statement.
"""

from __future__ import annotations

import gc

gc.disable()


def done() -> None:
    """Freeze what the imports built, and collect again from here on."""
    gc.freeze()
    gc.enable()
