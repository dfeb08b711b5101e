#!/usr/bin/env bash
# Counts the ATen operator dispatches of one loss step (forward + backward) per option set and kernel, for development
# (never part of the tests or CI). A perf uprobe on at::getStepCallbacksUnlessEmpty, which the dispatcher calls once per
# operator call (the record-function check), counts the calls of `--loss-steps SET KERNEL N` for N = 10 and N = 30;
# the difference / 20 is one step's count (setup and warm-up cancel out). Needs root (uprobes) and perf.
# Usage: [SETS="luffy gpg"] benchmarks/scripts/count-aten-ops.sh [Release build folder of Luffy.Objectives.Benchmarks]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-benchmarks/Luffy.Objectives.Benchmarks/bin/Release/net10.0}
[ -f "$out/Luffy.Objectives.Benchmarks.dll" ] || dotnet build benchmarks/Luffy.Objectives.Benchmarks -c Release -o "$out" > /dev/null
lib=$(readlink -f "$out/runtimes/linux-x64/native/libtorch_cpu.so")
addr=$(readelf -Ws "$lib" | awk '$8 == "_ZN2at27getStepCallbacksUnlessEmptyENS_11RecordScopeE" && !found { print $2; found = 1 }')
event=luffy_dispatch_$$
perf probe -q -f -x "$lib" --add "$event=0x$addr"
trap 'perf probe -q -d "probe_libtorch_cpu:$event" || true' EXIT
count() { perf stat -x, -e "probe_libtorch_cpu:$event" dotnet "$out/Luffy.Objectives.Benchmarks.dll" --loss-steps "$@" 2>&1 >/dev/null | awk -F, '/probe_libtorch_cpu/ { print $1 }'; }
printf '%-8s %-9s %9s %22s\n' set kernel per-step 'per-step, metrics read'
for set in ${SETS:-luffy ppo gspo cispo ppo-tis sapo gpg gmpo}; do
  for kernel in composed fused; do
    case "$kernel:$set" in fused:gspo|fused:cispo|fused:sapo|fused:gpg|fused:gmpo) continue;; esac
    a=$(count $set $kernel 10); c=$(count $set $kernel 30)
    am=$(count $set $kernel 10 metrics); cm=$(count $set $kernel 30 metrics)
    printf '%-8s %-9s %9d %22d\n' $set $kernel $(( (c - a) / 20 )) $(( (cm - am) / 20 ))
  done
done
