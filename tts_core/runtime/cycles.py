"""Reference-cycle checks for long-running engines: objects freed only by the cycle collector."""

from __future__ import annotations

import gc
import types
from collections import Counter

import torch


def _describe(obj: object) -> str:
    kind = type(obj)
    name = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__
    if isinstance(obj, torch.Tensor):
        name += f"{tuple(obj.shape)}"
    return name


def find_reference_cycles(obj: object = None, max_depth: int = 8, max_cycles: int = 10) -> list[str]:
    """Describe reference cycles; [] when clean.

    With `obj=None`: the garbage in cycles right now (created since the last collection), found by a
    collection with `gc.DEBUG_SAVEALL`, as "`N x type`" lines, most frequent first. Call `gc.collect()`,
    run one request, then call this: anything listed is freed only by the cycle collector, which in a
    long-running engine means pauses and delayed release of tensors.
    With `obj`: paths of at most `max_depth` references that lead from `obj` back to itself, as
    "`A -> B -> A`" lines (at most `max_cycles`).
    """
    if obj is None:
        return _garbage_cycles()
    return _cycles_through(obj, max_depth, max_cycles)


def _garbage_cycles() -> list[str]:
    flags = gc.get_debug()
    already = len(gc.garbage)
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        counts = Counter(_describe(o) for o in gc.garbage[already:])
    finally:
        del gc.garbage[already:]  # drop our references so the cycles can be freed
        gc.set_debug(flags)
    gc.collect()  # now actually free them, so a second call reports only new garbage
    return [f"{n} x {name}" for name, n in counts.most_common()]


def _referents(node: object) -> tuple | list:
    """What `node` refers to, not descending into classes, modules or function globals (they reach everything)."""
    if isinstance(node, (type, types.ModuleType)):
        return ()
    if isinstance(node, types.FunctionType):
        cells = []
        for cell in node.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # an empty cell (a variable not yet assigned)
                pass
        return [*cells, *(node.__defaults__ or ()), *(node.__kwdefaults__ or {}).values()]
    return gc.get_referents(node)


def _cycles_through(root: object, max_depth: int, max_cycles: int, max_nodes: int = 200_000) -> list[str]:
    cycles: list[str] = []
    path: list[object] = [root]
    on_path = {id(root)}
    explored_at: dict[int, int] = {}  # id -> shallowest depth explored without finding a way back
    budget = [max_nodes]

    def visit(node: object, depth: int) -> bool:
        found = False
        for ref in _referents(node):
            if len(cycles) >= max_cycles or budget[0] <= 0:
                return True
            if ref is root:
                cycles.append(" -> ".join(_describe(o) for o in path + [root]))
                found = True
                continue
            key = id(ref)
            if depth >= max_depth or key in on_path or explored_at.get(key, max_depth + 1) <= depth:
                continue
            if not gc.is_tracked(ref) and not isinstance(ref, types.FunctionType):
                continue
            budget[0] -= 1
            path.append(ref)
            on_path.add(key)
            if visit(ref, depth + 1):
                found = True
            else:
                explored_at[key] = depth
            path.pop()
            on_path.discard(key)
        return found

    visit(root, 1)
    return cycles
