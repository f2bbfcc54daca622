# Compressible text of N MiB: words drawn from a Zipf-like vocabulary.
import random
import sys

mib = int(sys.argv[1])
r = random.Random(7)
words = ["".join(r.choice("etaoinshrdlucmfwyp") for _ in range(r.randint(2, 9)))
         for _ in range(20000)]
cum, total = [], 0.0
for i in range(len(words)):
    total += 1.0 / (i + 1)
    cum.append(total)
out, size = sys.stdout, 0
while size < mib << 20:
    line = " ".join(r.choices(words, cum_weights=cum, k=12)) + "\n"
    out.write(line)
    size += len(line)
