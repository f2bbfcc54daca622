# A two-layer MLP trained with plain numpy (SGD, minibatches) on a
# synthetic classification set; stops after a time budget.
import os
import time
import numpy as np

BUDGET_S = int(os.environ.get("PVM_BUDGET", "60"))   # PVM_BUDGET=N on the kernel command line
rng = np.random.default_rng(0)
n, d, h = 60000, 128, 256
X = rng.standard_normal((n, d), dtype=np.float32)
w_true = rng.standard_normal((d,), dtype=np.float32)
y = (X @ w_true > 0).astype(np.float32)
W1 = (rng.standard_normal((d, h)) * 0.05).astype(np.float32)
b1 = np.zeros(h, np.float32)
W2 = (rng.standard_normal((h, 1)) * 0.05).astype(np.float32)
lr, bs, t0, steps = 0.05, 256, time.time(), 0
while time.time() - t0 < BUDGET_S:
    order = rng.permutation(n)
    for i in range(0, n, bs):
        idx = order[i:i + bs]
        xb, yb = X[idx], y[idx][:, None]
        a1 = np.maximum(xb @ W1 + b1, 0)
        p = 1 / (1 + np.exp(-(a1 @ W2)))
        g = (p - yb) / len(idx)
        gW2 = a1.T @ g
        ga1 = (g @ W2.T) * (a1 > 0)
        W2 -= lr * gW2
        W1 -= lr * (xb.T @ ga1)
        b1 -= lr * ga1.sum(0)
        steps += 1
        if time.time() - t0 >= BUDGET_S:
            break
acc = (((np.maximum(X[:5000] @ W1 + b1, 0) @ W2)[:, 0] > 0) == (y[:5000] > 0)).mean()
print("numpy-mlp: steps=%d acc=%.3f" % (steps, acc))
