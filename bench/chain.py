"""Deep chains of any size for the scaling benchmark: alternating sin and tanh on a vector of 8.

    c0 = w * x                     (w a param, x a value)
    c1 = tanh(sin(tanh(... c0)))   (up to 30 ops per [graph] key, well inside the nesting limit)
    ...
    E  = sum(ck ** 2)

sin and tanh both shrink towards 0 with a slope towards 1, so the gradient neither explodes nor
sinks into subnormals (which would slow every op down) even 10,000 nodes deep.
"""
from __future__ import annotations

PER_KEY = 30
FIXED = 5          # x, w, the product w * x, and the loss's pow and sum


def chain_toml(nodes: int) -> str:
    """A scenario whose program has exactly `nodes` nodes (at least 6)."""
    if nodes < FIXED + 1:
        raise ValueError(f"a chain needs at least {FIXED + 1} nodes")
    ops = nodes - FIXED
    graph = ['c0 = "w * x"']
    prev, k = "c0", 0
    while ops:
        take = min(PER_KEY, ops)
        ops -= take
        k += 1
        text = prev
        for j in range(take):
            text = f"{'sin' if j % 2 == 0 else 'tanh'}({text})"
        graph.append(f'c{k} = "{text}"')
        prev = f"c{k}"
    lines = [
        "[scenario]",
        f'title = "Deep chain of {nodes:,} nodes (benchmark)"',
        f'description = "Alternating sin and tanh on a vector of 8, {nodes:,} nodes in all."',
        "seed = 0",
        "",
        "[values]",
        'x = { init = "normal", shape = [8] }',
        "",
        "[params]",
        'w = { init = "normal", shape = [8], scale = 0.5 }',
        "",
        "[graph]",
        *graph,
        f'E = "sum({prev} ** 2)"',
        "",
        "[train]",
        'loss = "E"',
        "learning_rate = 0.01",
        "steps = 100",
    ]
    return "\n".join(lines) + "\n"
