#!/usr/bin/env bash
# Starts N agents of a serf binary on 127.0.<block>.x (LAN profile), then
# measures: time until every agent lists all N alive, idle RSS and CPU per
# agent over IDLE seconds, and time until every survivor lists a kill -9'd
# agent as failed. Works for our binary and HashiCorp's (same flags).
#   scripts/compare-agents.sh BINARY [N=40] [IDLE=60] [BLOCK=200]
# Environment:
#   AGENT_FLAGS="-wire=native"  extra flags for BINARY's agents
#   MIX=/usr/bin/serf           every even-numbered agent runs this binary
#                               instead (a mixed cluster; figures per binary)
set -u
BIN=${1:?binary}; N=${2:-40}; IDLE=${3:-60}; BLOCK=${4:-200}
MIX=${MIX:-}
read -r -a FLAGS <<< "${AGENT_FLAGS:-}"
RPCBASE=$((30000 + BLOCK * 10))
pids=(); kinds=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
now() { date +%s.%N; }
start=$(now)
for i in $(seq 1 "$N"); do
  join=()
  [ "$i" -gt 1 ] && join=(-join "127.0.$BLOCK.1")
  if [ -n "$MIX" ] && [ $((i % 2)) = 0 ]; then
    bin=$MIX; extra=()
  else
    bin=$BIN; extra=("${FLAGS[@]}")
  fi
  "$bin" agent -node "a$i" -bind "127.0.$BLOCK.$i:7946" -rpc-addr "127.0.0.1:$((RPCBASE + i))" "${extra[@]}" "${join[@]}" >/dev/null 2>&1 &
  pids+=($!); kinds+=("$bin")
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
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -A t0
for p in "${pids[@]}"; do t0[$p]=$(ticks "$p"); done
sleep "$IDLE"
hz=$(getconf CLK_TCK)
for bin in $(printf '%s\n' "${kinds[@]}" | sort -u); do
  used=0; count=0; rss=()
  for k in "${!pids[@]}"; do
    [ "${kinds[$k]}" = "$bin" ] || continue
    p=${pids[$k]}
    used=$((used + $(ticks "$p") - t0[$p])); count=$((count + 1))
    rss+=("$(awk '/VmRSS/ {print $2}' "/proc/$p/status")")
  done
  median=$(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$bin ($count agents): idle cpu $(echo "scale=3; $used / $hz / $count * 60 / $IDLE" | bc) s per minute per agent; idle rss median $(echo "scale=1; $median / 1024" | bc) MB"
done
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
echo "kill -9 of a$N (${kinds[$((N - 1))]}) seen as failed by all $((N - 1)) survivors after $(echo "$(now) - $k" | bc) s"
