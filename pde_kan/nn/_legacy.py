"""Model states written by earlier versions of pde_kan, read under today's parameter names.

Renamed since: a KAN layer's coefficient source ``layer.coefficients`` -> ``layer.source``; the dense spline tensor
``weight`` -> ``spline_weight``; a LoTRA delta ``.delta.`` -> ``.tucker.``; a MetaKAN layer tuned in hypernet mode
keeps its source under ``source.base.``. Results files, checkpoints and adapters written before load unchanged in
meaning: :func:`upgrade_state_dict` maps their keys, and a state that does not fit afterwards still fails in
``load_state_dict`` with its usual message.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

_RULES = (
    (re.compile(r"(^|\.)coefficients\."), r"\1source."),
    (re.compile(r"(^|\.)source(\.base)?\.weight$"), r"\1source\2.spline_weight"),
    (re.compile(r"(^|\.)source\.delta\."), r"\1source.tucker."),
)


def upgrade_state_dict(state: Mapping[str, Any], expected: Iterable[str]) -> dict[str, Any]:
    """``state`` with legacy keys renamed to the names in ``expected`` (a model's ``state_dict().keys()``).

    A state whose keys already are ``expected`` comes back as it is; keys that no rule maps onto an expected name
    are kept, so a genuinely different model still fails to load, naming them.
    """
    expected = set(expected)
    if set(state) == expected:
        return dict(state)
    out = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _RULES:
            new = pattern.sub(repl, new)
        if new not in expected:  # hypernet-mode LoTRA: the tuned source now sits under `source.base.`
            alt = new.replace(".source.", ".source.base.", 1)
            new = alt if alt in expected else new
        out[new if new in expected else key] = value
    return out
