# Breadth-first searches over a random graph held as adjacency lists
# (power-law-ish degrees); stops after a time budget.
import os
import collections
import random
import time

BUDGET_S = int(os.environ.get("PVM_BUDGET", "60"))   # PVM_BUDGET=N on the kernel command line
r = random.Random(3)
n, m = 200000, 1200000
adj = [[] for _ in range(n)]
for _ in range(m):
    a = int(n * r.random() ** 2)     # skewed: low ids are hubs
    b = r.randrange(n)
    adj[a].append(b)
    adj[b].append(a)
t0, runs, reached = time.time(), 0, 0
while time.time() - t0 < BUDGET_S:
    src = r.randrange(n)
    dist = {src: 0}
    q = collections.deque([src])
    while q:
        u = q.popleft()
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    runs += 1
    reached += len(dist)
print("graph: bfs runs=%d reached=%d" % (runs, reached))
