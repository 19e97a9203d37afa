"""Static non-termination: a ``while`` loop that cannot end, read from the AST (never run). Pure."""

import ast

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_EXIT_CALLS = {"exit", "quit", "_exit"}


def _walk_body(nodes, *, into_loops: bool = True):
    """Nodes of a loop body, not descending into nested scopes (and, optionally, nested loops)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if not into_loops and isinstance(node, _LOOPS):
            continue
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, _SCOPES))


def _exits(loop: ast.While) -> bool:
    for node in _walk_body(loop.body, into_loops=False):
        if isinstance(node, (ast.Break, ast.Return, ast.Raise, ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in _EXIT_CALLS:
                return True
    # return/raise inside nested loops still leave this one
    return any(isinstance(node, (ast.Return, ast.Raise)) for node in _walk_body(loop.body))


def _changed_names(body) -> set[str]:
    """Names a loop body may change: rebound, deleted, mutated through an attribute/subscript, or handed to a call."""
    changed = set()
    for node in _walk_body(body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed.add(node.id)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Call):
            for arg in [node.func, *node.args, *(k.value for k in node.keywords)]:
                changed |= {n.id for n in ast.walk(arg) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            changed |= set(node.names)
    return changed


def non_terminating_loop(tree: ast.Module | None) -> str:
    """A ``while`` loop that statically cannot end, described ("" for none). Conservative by design:

    - ``while <constant true>`` whose body has no break, return, raise, yield or exit call; or
    - ``while <condition>`` without calls in the condition, whose body has none of those exits and never rebinds,
      mutates or passes to a call any name the condition reads (its variables cannot change).
    Loops that may make progress (any call, any assignment to a condition variable) are left as plain timeouts.
    """
    if tree is None:
        return ""
    for node in ast.walk(tree):
        if not isinstance(node, ast.While) or _exits(node):
            continue
        test = node.test
        if isinstance(test, ast.Constant):
            if test.value:
                return f"while {test.value!r}: without an exit"
            continue
        if any(isinstance(n, (ast.Call, ast.NamedExpr, ast.Await)) for n in ast.walk(test)):
            continue
        names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
        if names and not names & _changed_names(node.body):
            return f"while {ast.unparse(test)[:60]}: its condition's variables never change"
    return ""
