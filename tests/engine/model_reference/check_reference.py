"""Checks the committed fixtures without PyTorch: recomputes the reference numbers by hand in NumPy.

    python tests/engine/model_reference/check_reference.py          # NumPy only (e.g. .venv/bin/python)
    /tmp/torchvenv/bin/python tests/engine/model_reference/check_reference.py   # plus the ONNX checks

- every model's forward pass, written out in NumPy from reference.json alone (initial params,
  inputs, targets), gives the recorded logits and the loss before step 1 (1e-12), and after each
  step the recorded params give the next recorded loss;
- the MLP's gradients, by a hand-written backward pass, match the recorded ones (1e-12);
- each step is plain SGD: params[k] = params[k-1] - lr * grads[k];
- the LeNet's running statistics follow PyTorch's update (momentum 0.1, unbiased batch variance);
- scenarios/optdigits.csv is 1797 rows of 64 pixels in 0..16 and a label in 0..9, and the LeNet
  batch is its first 8 rows / 16;
- when onnx is importable: each .onnx file loads, passes onnx.checker.check_model(full_check=True),
  holds its weights inline, and its initializers equal the recorded initial params.
Not a pytest module (make test does not run it); it prints what it checked.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TOL = 1e-12

erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(z):
    return z / 2 * (1 + erf(z / math.sqrt(2)))


def gelu_grad(z):
    return 0.5 * (1 + erf(z / math.sqrt(2))) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def cross_entropy(logits, targets):
    lp = log_softmax(logits.reshape(-1, logits.shape[-1]))
    t = np.asarray(targets).reshape(-1)
    return -lp[np.arange(t.size), t].mean()


def linear(x, p, name):
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def conv3x3(x, w, b):
    """Conv2d, kernel 3, stride 1, padding 1: x (N, C, H, W), w (O, C, 3, 3)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out + b[None, :, None, None]


def pool2(x, reduce):
    n, c, h, w = x.shape
    return reduce(x.reshape(n, c, h // 2, 2, w // 2, 2), axis=(3, 5))


def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def forward(name, p, inputs, consts):
    if name == "mlp":
        h = np.maximum(linear(inputs["x"], p, "fc1"), 0)
        return linear(gelu(linear(h, p, "fc2")), p, "fc3"), {}
    if name == "lenet":
        z = conv3x3(inputs["x"], p["conv1.weight"], p["conv1.bias"])
        mean = z.mean(axis=(0, 2, 3))
        var = z.var(axis=(0, 2, 3))                 # biased: what training-mode BatchNorm normalises with
        zn = (z - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
        h = zn * p["bn1.weight"][None, :, None, None] + p["bn1.bias"][None, :, None, None]
        h = pool2(np.maximum(h, 0), np.max)
        h = pool2(np.maximum(conv3x3(h, p["conv2.weight"], p["conv2.bias"]), 0), np.mean)
        h = np.tanh(linear(h.reshape(h.shape[0], -1), p, "fc1"))
        n = z.size // z.shape[1]
        return linear(h, p, "fc2"), {"mean": mean, "unbiased_var": var * n / (n - 1)}
    if name == "transformer":
        ids = np.asarray(inputs["ids"])
        B, T = ids.shape
        x = p["tok_emb.weight"][ids] + p["pos_emb"]
        h = layer_norm(x, p["ln1.weight"], p["ln1.bias"])

        def heads(z):
            return z.reshape(B, T, 2, 4).transpose(0, 2, 1, 3)
        q, k, v = (heads(linear(h, p, f"attn.{n}")) for n in "qkv")
        scores = q @ k.transpose(0, 1, 3, 2) / 2.0
        scores = np.where(np.asarray(consts["attn.causal_mask"]), scores, -1e9)
        a = np.exp(scores - scores.max(axis=-1, keepdims=True))
        a = a / a.sum(axis=-1, keepdims=True)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, 8)
        x = x + linear(o, p, "attn.out")
        x = x + linear(gelu(linear(layer_norm(x, p["ln2.weight"], p["ln2.bias"]), p, "mlp.fc1")), p, "mlp.fc2")
        return linear(x, p, "head"), {}
    raise ValueError(name)


def mlp_grads(p, x, targets):
    z1 = linear(x, p, "fc1")
    h1 = np.maximum(z1, 0)
    z2 = linear(h1, p, "fc2")
    h2 = gelu(z2)
    logits = linear(h2, p, "fc3")
    n = x.shape[0]
    d = np.exp(log_softmax(logits))
    d[np.arange(n), targets] -= 1
    d /= n
    g = {"fc3.weight": d.T @ h2, "fc3.bias": d.sum(0)}
    d = (d @ p["fc3.weight"]) * gelu_grad(z2)
    g |= {"fc2.weight": d.T @ h1, "fc2.bias": d.sum(0)}
    d = (d @ p["fc2.weight"]) * (z1 > 0)
    g |= {"fc1.weight": d.T @ x, "fc1.bias": d.sum(0)}
    return g


def maxdiff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def main() -> None:
    ref = json.loads((HERE / "reference.json").read_text())
    for m in ref["models"]:
        name = m["name"]
        inputs = {k: np.asarray(v) for k, v in m["inputs"].items()}
        consts = m.get("constants", {})
        order = m["params_order"]
        states = [{n: np.asarray(m["initial"][n]) for n in order}]
        states += [{n: np.asarray(s[n]) for n in order} for s in m["params"]]
        assert len(m["losses"]) == len(m["grads"]) == len(m["params"]) == m["steps"] == 3
        worst_loss = worst_logits = worst_sgd = worst_buf = 0.0
        running = m.get("initial_buffers")
        for k in range(m["steps"]):
            logits, stats = forward(name, states[k], inputs, consts)
            loss = cross_entropy(logits, m["targets"])
            worst_logits = max(worst_logits, maxdiff(logits, m["logits"][k]))
            worst_loss = max(worst_loss, abs(loss - m["losses"][k]))
            for n in order:
                expect = states[k][n] - m["lr"] * np.asarray(m["grads"][k][n])
                worst_sgd = max(worst_sgd, maxdiff(states[k + 1][n], expect))
            if running is not None:
                running = {"bn1.running_mean": 0.9 * np.asarray(running["bn1.running_mean"]) + 0.1 * stats["mean"],
                           "bn1.running_var": 0.9 * np.asarray(running["bn1.running_var"]) + 0.1 * stats["unbiased_var"]}
                worst_buf = max(worst_buf, *(maxdiff(running[n], m["buffers"][k][n]) for n in running))
        assert worst_logits < TOL and worst_loss < TOL and worst_sgd < 1e-15 and worst_buf < TOL, \
            (name, worst_logits, worst_loss, worst_sgd, worst_buf)
        print(f"{name}: NumPy forward: logits within {worst_logits:.1e}, losses within {worst_loss:.1e} "
              f"(step-1 loss {m['losses'][0]!r}); SGD steps within {worst_sgd:.1e}"
              + (f"; running stats within {worst_buf:.1e}" if running is not None else ""))
        if name == "mlp":
            worst = 0.0
            for k in range(m["steps"]):
                g = mlp_grads(states[k], inputs["x"], np.asarray(m["targets"]))
                worst = max(worst, *(maxdiff(g[n], m["grads"][k][n]) for n in order))
            assert worst < TOL, worst
            print(f"mlp: hand-written backward matches the recorded grads within {worst:.1e}")

    # the digits
    lines = (ROOT / "scenarios" / "optdigits.csv").read_text().splitlines()
    assert lines[0] == ",".join([f"p{i}" for i in range(64)] + ["label"])
    data = np.array([[int(v) for v in line.split(",")] for line in lines[1:]])
    assert data.shape == (1797, 65) and data[:, :64].min() == 0 and data[:, :64].max() == 16
    assert sorted(set(data[:, 64])) == list(range(10))
    lenet = next(m for m in ref["models"] if m["name"] == "lenet")
    assert np.array_equal(np.asarray(lenet["inputs"]["x"]).reshape(8, 64), data[:8, :64] / 16)
    assert lenet["targets"] == data[:8, 64].tolist()
    print(f"optdigits.csv: {len(lines) - 1} rows, class counts {np.bincount(data[:, 64]).tolist()}; "
          "the LeNet batch is rows 0..7 / 16")

    try:
        import onnx
        import onnx.numpy_helper
    except ImportError:
        print("onnx is not installed here: skipped the ONNX checks")
        return
    for m in ref["models"]:
        path = HERE / m["onnx"]
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        inits = {t.name: t for t in model.graph.initializer}
        assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in inits.values())
        assert [n for n in inits if n in m["initial"]] == m["params_order"]
        for n in m["params_order"]:
            assert np.array_equal(onnx.numpy_helper.to_array(inits[n]), np.asarray(m["initial"][n])), n
        opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}["ai.onnx"]
        assert opset == m["opset"]
        print(f"{path.name}: {path.stat().st_size} bytes, opset {opset}, check_model passes, "
              f"{len(inits)} initializers, params equal 'initial'")


if __name__ == "__main__":
    main()
