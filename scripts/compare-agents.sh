#!/usr/bin/env bash
# Starts N agents of a serf binary on 127.0.<block>.x (LAN profile), then
# measures: time until the first agent lists all N alive, idle RSS and CPU per
# agent over IDLE seconds, and time until every survivor lists a kill -9'd
# agent as failed. Works for our binary and HashiCorp's (same flags).
#   scripts/compare-agents.sh BINARY [N=40] [IDLE=60] [BLOCK=200]
set -u
BIN=${1:?binary}; N=${2:-40}; IDLE=${3:-60}; BLOCK=${4:-200}
RPCBASE=$((30000 + BLOCK * 10))
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
now() { date +%s.%N; }
start=$(now)
for i in $(seq 1 "$N"); do
  join=()
  [ "$i" -gt 1 ] && join=(-join "127.0.$BLOCK.1")
  "$BIN" agent -node "a$i" -bind "127.0.$BLOCK.$i:7946" -rpc-addr "127.0.0.1:$((RPCBASE + i))" "${join[@]}" >/dev/null 2>&1 &
  pids+=($!)
  # The seed must be up before the others join (HashiCorp's agent exits when -join fails).
  [ "$i" = 1 ] && until "$BIN" members "-rpc-addr=127.0.0.1:$((RPCBASE + 1))" >/dev/null 2>&1; do sleep 0.01; done
done
all_see() {
  for i in $(seq 1 "$N"); do
    [ "$("$BIN" members "-rpc-addr=127.0.0.1:$((RPCBASE + i))" -status=alive 2>/dev/null | wc -l)" -ge "$N" ] || return 1
  done
}
until all_see; do sleep 0.05; done
echo "converged: all $N agents see all $N alive after $(echo "$(now) - $start" | bc) s"
sleep 5
t0=$(for p in "${pids[@]}"; do awk '{print $14+$15}' /proc/$p/stat; done | paste -sd+ | bc)
sleep "$IDLE"
t1=$(for p in "${pids[@]}"; do awk '{print $14+$15}' /proc/$p/stat; done | paste -sd+ | bc)
hz=$(getconf CLK_TCK)
echo "idle cpu: $(echo "scale=3; ($t1 - $t0) / $hz / $N * 60 / $IDLE" | bc) s per minute per agent"
rss=$(for p in "${pids[@]}"; do awk '/VmRSS/ {print $2}' /proc/$p/status; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "idle rss: median $(echo "scale=1; $rss / 1024" | bc) MB per agent"
victim=${pids[$((N - 1))]}
kill -9 "$victim"
k=$(now)
while :; do
  ok=1
  for i in $(seq 1 $((N - 1))); do
    if ! "$BIN" members "-rpc-addr=127.0.0.1:$((RPCBASE + i))" 2>/dev/null | grep -q "^a$N .*failed"; then ok=0; break; fi
  done
  [ $ok = 1 ] && break
  sleep 0.2
done
echo "kill -9 of a$N seen as failed by all $((N - 1)) survivors after $(echo "$(now) - $k" | bc) s"
