# Logistic regression trained with minibatch SGD over a dataset kept in
# RAM, epoch after epoch in the order it is stored (as plain numpy
# training loops and unshuffled data loaders read it): per byte it computes
# little, so when the dataset does not fit in local memory, paging decides
# its speed. Stops after a time budget.
import os
import time
import numpy as np

BUDGET_S = int(os.environ.get("PVM_BUDGET", "60"))   # PVM_BUDGET=N on the kernel command line
MIB = int(os.environ.get("PVM_DATA_MIB", "256"))
rng = np.random.default_rng(0)
d, bs = 1024, 256
n = MIB * 1024 * 1024 // (4 * d)
X = np.empty((n, d), dtype=np.float32)
for i in range(0, n, 4096):
    X[i:i + 4096] = rng.standard_normal((min(4096, n - i), d), dtype=np.float32)
w_true = rng.standard_normal(d).astype(np.float32)
y = (X @ w_true > 0).astype(np.float32)
w = np.zeros(d, np.float32)
lr, t0, steps, epochs = 0.01, time.time(), 0, 0
while time.time() - t0 < BUDGET_S:
    for i in range(0, n, bs):
        xb, yb = X[i:i + bs], y[i:i + bs]
        p = 1 / (1 + np.exp(-(xb @ w)))
        w -= lr * (xb.T @ (p - yb)) / len(yb)
        steps += 1
        if time.time() - t0 >= BUDGET_S:
            break
    epochs += 1
acc = (((X[:4096] @ w) > 0) == (y[:4096] > 0)).mean()
print("linear-sgd: steps=%d epochs=%d acc=%.3f data=%dMiB" % (steps, epochs, acc, MIB))
