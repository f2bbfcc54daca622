#!/bin/sh
# tests/fuzz/gen_etcd_corpus.sh DIR — seed inputs for fuzz_etcd_decode:
# answers of a real etcd 3.4 gateway and registry values as poolvm writes them.
set -eu
d=$1
mkdir -p "$d"
printf '%s' '{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"},"kvs":[{"key":"L3AvcmVzZXJ2YXRpb25zL2EveA==","create_revision":"2","mod_revision":"2","version":"1","value":"NQ=="}],"count":"1"}' >"$d/range"
printf '%s' '{"header":{"revision":"3"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}}]}' >"$d/txn"
printf '%s' '{"header":{"revision":"3"},"ID":"7587899117365735433","TTL":"5"}' >"$d/grant"
printf '%s' '{"result":{"header":{"revision":"3"},"ID":"1","TTL":"4"}}' >"$d/keepalive"
printf '%s' '{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}' >"$d/error"
printf '%s' '{"error":{"grpc_code":5,"http_code":404,"message":"lease not found"}}' >"$d/stream-error"
printf '%s' '{"address":"a:1","fabric":"tcp","pod_id":"pod1","total":268435456,"free":201326592,"started":1795489366,"version":"0.1.0","draining":false}' >"$d/pod"
printf '%s' '{"bytes":67108864}' >"$d/reservation"
printf '%s' 'L3Bvb2x2bS9wb2RzL2E=' >"$d/b64"
