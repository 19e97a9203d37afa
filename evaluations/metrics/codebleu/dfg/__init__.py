# Copyright (c) Microsoft Corporation. Licensed under the MIT license.
"""Data-flow graphs of code and their normalized form, as ``codebleu`` 0.7.0 builds them (``dataflow_match.py``)."""

from .common import index_to_code_token, remove_comments_and_docstrings, tree_to_token_index, unique_names
from .csharp import dfg_csharp
from .go import dfg_go
from .java import dfg_java
from .javascript import dfg_javascript
from .python import dfg_python

__all__ = ["EXTRACTORS", "data_flow", "normalize_dataflow", "remove_comments_and_docstrings"]

# The reference reads C and C++ with its C# extractor (as XLCoST does); so do we, to give the same scores.
EXTRACTORS = {
    "python": dfg_python,
    "java": dfg_java,
    "go": dfg_go,
    "javascript": dfg_javascript,
    "cpp": dfg_csharp,
}


def data_flow(root_node, code: str, lang: str) -> list[tuple]:
    """The merged data-flow edges (name, token index, relation, parent names, parent indices) of a parsed program."""
    try:
        tokens_index = tree_to_token_index(root_node)
        lines = code.split("\n")
        index_to_code = {index: (idx, index_to_code_token(index, lines)) for idx, index in enumerate(tokens_index)}
        try:
            graph, _ = EXTRACTORS[lang](root_node, index_to_code, {})
        except Exception:  # the reference scores a program its extractor fails on as having no data flow
            graph = []
        graph = sorted(graph, key=lambda x: x[1])
        linked = set()
        for d in graph:
            if d[-1]:
                linked.add(d[1])
            linked.update(d[-1])
        graph = [d for d in graph if d[1] in linked]
    except Exception:
        graph = []
    merged: dict[int, tuple] = {}
    for d in graph:
        seen = merged.get(d[1])
        if seen is None:
            merged[d[1]] = d
        else:
            merged[d[1]] = (d[0], d[1], d[2], unique_names(seen[3] + d[3]), list(set(seen[4] + d[4])))
    return list(merged.values())


def normalize_dataflow(graph: list[tuple]) -> list[tuple]:
    """Variables renamed var_0, var_1, ... in order of appearance, so that graphs compare regardless of names."""
    names: dict[str, str] = {}
    normalized = []
    for var_name, _, relation, parents, _ in graph:
        for name in parents:
            if name not in names:
                names[name] = f"var_{len(names)}"
        if var_name not in names:
            names[var_name] = f"var_{len(names)}"
        normalized.append((names[var_name], relation, [names[x] for x in parents]))
    return normalized
