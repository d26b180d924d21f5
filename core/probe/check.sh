#!/usr/bin/env bash
# Builds the no_std probe (fails if alloc or std reach serf-core), links it into
# a C program, runs it, and prints the code size the core adds.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet
if cargo tree -e features -p serf-core 2>/dev/null | grep -E 'feature "(std|alloc)"'; then
    echo "serf-core pulls in std or alloc" >&2; exit 1
fi
out=target/probe
mkdir -p "$out"
gcc -Os -ffunction-sections -fdata-sections main.c target/release/libserf_core_probe.a \
    -Wl,--gc-sections -o "$out/probe"
printf 'int main(void){return 0;}\n' > "$out/empty.c"
gcc -Os -Wl,--gc-sections "$out/empty.c" -o "$out/empty"
"$out/probe"
read -r pt pd pb _ < <(size "$out/probe" | tail -1)
read -r et ed eb _ < <(size "$out/empty" | tail -1)
echo "no_std probe: text+data added by serf-core = $(( (pt + pd) - (et + ed) )) bytes (text $((pt - et)), data $((pd - ed)))"
