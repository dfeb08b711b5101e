#!/usr/bin/env bash
# Kills the trainer with SIGKILL while it writes checkpoints, resumes it each time, and checks that every resume
# continues from a complete checkpoint and that the losses of the killed-and-resumed run equal those of an
# uninterrupted run bit for bit.
#
#   samples/Luffy.Trainer/scripts/kill-resume-check.sh [kills] [steps]     (defaults: 25 kills, 150 steps)
#
# A kill counts as "during a checkpoint write" when, right after it, the run folder holds a save that did not finish
# (a checkpoints/*.partial folder, checkpoint.json.tmp, or an old checkpoint folder not yet removed).
set -euo pipefail
kills=${1:-25}
steps=${2:-150}
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/luffy-kill-check.XXXXXX)
trap 'kill -9 "${pid:-0}" 2>/dev/null || true' EXIT

dotnet build "$root/samples/Luffy.Trainer" -c Release -v q -nologo >/dev/null
trainer=("dotnet" "$root/samples/Luffy.Trainer/bin/Release/net10.0/Luffy.Trainer.dll")
settings=(--steps "$steps" --prompts-per-step 8 --checkpoint-every 1 --eval-every 100000 --eval-per-level 10 --pass-k 2
          --pretrain-steps 200 --cache "$work/cache" --tensorboard false)

echo "reference: $steps uninterrupted steps"
"${trainer[@]}" "${settings[@]}" --output "$work/reference" >"$work/reference.log" 2>&1

run="$work/killed/luffy-seed1"
mid_write=0 attempts=0 resumes=0
while (( mid_write < kills )); do
  resume=()
  [[ -f "$run/checkpoint.json" ]] && resume=(--resume)
  "${trainer[@]}" "${settings[@]}" --output "$work/killed" "${resume[@]}" >>"$work/killed.log" 2>&1 &
  pid=$!
  (( ${#resume[@]} )) && resumes=$((resumes + 1))
  # let 0-4 s of training (and saves) pass, wait for the next save to start, then kill it after 0-30 ms
  sleep "$(( RANDOM % 4 )).$(( RANDOM % 10 ))"
  until compgen -G "$run/checkpoints/*.partial" >/dev/null || ! kill -0 "$pid" 2>/dev/null; do sleep 0.005; done
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" || true; echo "the run finished before $kills kills; use more steps"; exit 1; fi
  sleep "0.0$(( RANDOM % 30 ))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  attempts=$((attempts + 1))
  folders=$(find "$run/checkpoints" -mindepth 1 -maxdepth 1 -type d | wc -l)
  if compgen -G "$run/checkpoints/*.partial" >/dev/null || [[ -f "$run/checkpoint.json.tmp" ]] || (( folders > 1 )); then
    mid_write=$((mid_write + 1))
  fi
  committed=$(sed -n 's/.*"folder": *"\([^"]*\)".*/\1/p' "$run/checkpoint.json" 2>/dev/null || true)
  echo "kill $attempts: ${committed:-no commit yet}; $mid_write of $kills during a checkpoint write"
done

echo "finishing with --resume"
if ! "${trainer[@]}" "${settings[@]}" --output "$work/killed" --resume >>"$work/killed.log" 2>&1; then
  echo "FAIL: the final resume failed:"; tail -5 "$work/killed.log"; exit 1
fi
resumes=$((resumes + 1))

extract() { sed -E 's/.*"step":([0-9]+).*"loss":([^,]+),.*"grad-norm":([^,]+),.*"on-policy-reward":([^,]+),.*/\1 \2 \3 \4/' "$1"; }
if ! grep -q "resumed from" "$work/killed.log"; then echo "FAIL: no resume happened"; exit 1; fi
bad=$(grep -c "error:" "$work/killed.log" || true)
if diff <(extract "$work/reference/luffy-seed1/metrics.jsonl") <(extract "$run/metrics.jsonl") >"$work/diff.txt"; then
  echo "PASS: $attempts kills ($mid_write during a checkpoint write), $resumes resumes, $bad errors; the $steps steps' loss, gradient norm and reward equal the uninterrupted run's bit for bit"
else
  echo "FAIL: the resumed run differs from the uninterrupted one (see $work/diff.txt)"; exit 1
fi
grep -o "resumed from [^ ]* at step [0-9]*" "$work/killed.log" | sed 's/.*checkpoints\///' | tr '\n' ';' | head -c 2000; echo
rm -rf "$work"
