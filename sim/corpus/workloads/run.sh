#!/bin/sh
# sim/corpus/workloads/run.sh NAME — one corpus workload, run inside the
# Debian guest root (chrooted by the corpus image's init). Unmodified
# Debian programs; the data they work on is generated here, in /tmp
# (tmpfs, i.e. guest RAM). Each one is bounded in time, since TCG runs
# 15-30x slower than native.
set -e
cd /tmp
export PYTHONHASHSEED=0 OMP_NUM_THREADS=1 HOME=/tmp
W=/opt/pvmw
case "$1" in
numpy-mlp)  python3 $W/numpy_mlp.py ;;
torch-mlp)  python3 $W/torch_mlp.py ;;
linear-sgd) python3 $W/linear_sgd.py ;;
sqlite)     sqlite3 /tmp/bench.db < $W/sqlite.sql ;;
xz)
	python3 $W/gen_text.py 24 > /tmp/in.txt
	xz -6 -T1 -c /tmp/in.txt > /tmp/in.txt.xz
	xz -dc /tmp/in.txt.xz | cmp - /tmp/in.txt
	ls -l /tmp/in.txt /tmp/in.txt.xz ;;
zstd)
	python3 $W/gen_text.py 32 > /tmp/in.txt
	zstd -q -19 --long=26 -T1 /tmp/in.txt -o /tmp/in.txt.zst
	zstd -q -dc --long=26 /tmp/in.txt.zst | cmp - /tmp/in.txt ;;
gcc)
	mkdir -p /tmp/obj
	for f in $W/src/*.c; do
		gcc -O2 -std=c11 -D_GNU_SOURCE -I$W/src -I/usr/include/json-c \
			-c "$f" -o /tmp/obj/"$(basename "$f" .c)".o
	done
	ls /tmp/obj | wc -l ;;
sort)
	python3 -c 'import random; r = random.Random(1)
for i in range(1500000): print(r.randrange(10**12), r.randrange(10**6))' > /tmp/nums
	sort -n -k1,1 -S 96M -T /tmp /tmp/nums > /tmp/sorted
	sort -c -n -k1,1 /tmp/sorted
	wc -l /tmp/sorted ;;
redis)
	redis-server --port 6379 --dir /tmp --save "" --appendonly no --daemonize yes \
		--logfile /tmp/redis.log --pidfile /tmp/redis.pid || { cat /tmp/redis.log; exit 1; }
	i=0
	until redis-cli ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge 300 ]; then
			echo "redis-server did not answer within 60 s:"; cat /tmp/redis.log; exit 1
		fi
		sleep 0.2
	done
	redis-benchmark -q -n 150000 -r 150000 -d 512 -c 8 -P 4 -t set,get,lpush,lpop
	redis-cli info memory | grep used_memory_human
	redis-cli shutdown nosave || true ;;
graph)      python3 $W/graph_bfs.py ;;
*)          echo "run.sh: unknown workload '$1'" >&2; exit 2 ;;
esac
echo "pvm-corpus: $1 done"
