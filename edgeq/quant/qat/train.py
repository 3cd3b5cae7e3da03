"""A small, deterministic training loop for float and Brevitas models on in-memory data."""

import numpy as np


def _value(out):
    from brevitas.quant_tensor import _unpack_quant_tensor

    return _unpack_quant_tensor(out)


def fit(model, x, y, epochs: int, lr: float = 1e-2, batch_size: int = 64, seed: int = 0,
        weight_decay: float = 0.0):
    """Adam with cross-entropy and a cosine learning-rate decay; returns the model (trained)."""
    import torch

    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * -(-len(x) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(_value(model(x[idx])), y[idx])
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def predict(model, x) -> np.ndarray:
    """Float outputs of a model (eval mode, no gradients)."""
    import torch

    model.eval()
    with torch.no_grad():
        return _value(model(torch.as_tensor(np.asarray(x, dtype=np.float32)))).numpy()


def accuracy(model, x, y) -> float:
    return float(np.mean(predict(model, x).argmax(axis=1) == np.asarray(y)))
