# A three-layer MLP trained with PyTorch (Adam, minibatches) on a
# synthetic regression set; stops after a time budget.
import os
import time
import torch

BUDGET_S = int(os.environ.get("PVM_BUDGET", "60"))   # PVM_BUDGET=N on the kernel command line
torch.manual_seed(0)
torch.set_num_threads(1)
n, d = 50000, 128
X = torch.randn(n, d)
y = torch.sin(X[:, :16].sum(1, keepdim=True))
model = torch.nn.Sequential(torch.nn.Linear(d, 512), torch.nn.ReLU(),
                            torch.nn.Linear(512, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
t0, steps = time.time(), 0
while time.time() - t0 < BUDGET_S:
    perm = torch.randperm(n)
    for i in range(0, n, 256):
        idx = perm[i:i + 256]
        loss = torch.nn.functional.mse_loss(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        if time.time() - t0 >= BUDGET_S:
            break
print("torch-mlp: steps=%d loss=%.4f" % (steps, loss.item()))
