#!/usr/bin/env bash
# Instructions per record of picket's user-space pipeline (decoding, parsing, enrichment,
# detection, the OCSF line), counted by callgrind over a replay of the overhead benchmark's
# file workload, stage by stage, and against a baseline binary over the same capture.
#
# The overhead benchmark decides the targets, in time; its same-round ratios resolve
# changes of about 3 % and more (docs/COMPARISON.md §3). Instruction counts of the same
# binary repeat to 0.1 % within a run and 0.3 % between runs, so a change of 1 % shows
# here. They are not time: a change that saves instructions may still cost time (the
# output buffer's size went the other way, docs/COMPARISON.md §3), so a verdict still
# needs the benchmark.
#
#   usermode-client/crates/fanotify/benches/instructions.sh [--baseline BIN] [replay options...]
#   PICKET_CAPTURE=run.cap .../instructions.sh --baseline /tmp/picket-before --alerts-only
#
# Without PICKET_CAPTURE the workload is recorded live first (root: fanotify), with the
# benchmark's settings (PICKET_BENCH_FILES, _SHAPE, _WRITERS). Replay options go to both
# binaries. Start-up (loading the rules) is not counted: only the reading loop and the
# output writer are, and the capture's own reading is shown apart, as the live source
# (fanotify) is not replayed. Needs valgrind and python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)
cd "$top"
for tool in valgrind callgrind_annotate python3; do
    command -v "$tool" >/dev/null || { echo "instructions: needs $tool" >&2; exit 1; }
done
baseline=""
if [ "${1:-}" = "--baseline" ]; then
    baseline=${2:?"instructions: --baseline needs a picket binary"}
    [ -x "$baseline" ] || { echo "instructions: $baseline is not an executable" >&2; exit 1; }
    shift 2
fi

echo "building picket (release)..." >&2
cargo build --quiet --release -p picket
picket="$top/target/release/picket"
work=$(mktemp -d /tmp/picket-instructions.XXXXXX)
cleanup() {
    umount "$work/watched" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

capture=${PICKET_CAPTURE:-}
if [ -z "$capture" ]; then
    [ "$(id -u)" = 0 ] || {
        echo "instructions: recording the workload needs root (or set PICKET_CAPTURE)" >&2
        exit 1
    }
    bench=$(cargo bench --quiet -p picket-fanotify --bench overhead --no-run \
        --message-format=json | python3 -c 'import json,sys
for line in sys.stdin:
    m=json.loads(line)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="overhead":
        print(m["executable"])' | tail -n 1)
    capture="$work/workload.cap"
    mkdir -p "$work/watched"
    mount -t tmpfs -o size=1g picket-instructions "$work/watched"
    "$picket" record --path "$work/watched" "$capture" 2>"$work/record.err" &
    recorder=$!
    sleep 2
    "$bench" --workload "$work/watched" >&2
    sleep 1
    kill -INT "$recorder"
    wait "$recorder" || { cat "$work/record.err" >&2; exit 1; }
fi
[ -r "$capture" ] || { echo "instructions: cannot read $capture" >&2; exit 1; }

cat > "$work/stages.py" <<'PY'
import re, sys
# callgrind_annotate --inclusive=yes: "  1,234 (5.6%)  file:function [object]". Only the
# entries naming their object are whole functions (the others are code inlined from a file).
ENTRY = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(?:\*\s+)?[^:]*:(.*) \[[^\]]*\]$")
def functions(path):
    costs = {}
    for line in open(path):
        m = ENTRY.match(line.rstrip("\n"))
        if m:
            name = m.group(2)
            costs[name] = max(costs.get(name, 0), int(m.group(1).replace(",", "")))
    return costs
def largest(costs, pattern):
    found = [v for k, v in costs.items() if re.search(pattern, k)]
    return max(found) if found else 0
def stages(path):
    f = functions(path)
    pull = largest(f, r"^picket_pipeline::run::Reading::pull$")
    line = largest(f, r"^picket_pipeline::run::write_chunk$")
    if not pull or not line:
        sys.exit(f"instructions: no reading loop or output writer in {path} (renamed?)")
    capture = largest(f, r"ReplaySource<.*BatchSource>::next_batch$")
    detection = largest(f, r"as picket_model::alert::Detector>::on_event$")
    sigma = largest(f, r"^<picket_detect::detector::SigmaDetector as .*>::on_event$")
    behaviour = largest(f, r"^<picket_behaviour::detector::BehaviourDetector as .*>::on_event$")
    rows = [
        ("decoding, parsing, enrichment, the loop", pull - capture - detection),
        ("detection", detection),
        ("  Sigma", sigma),
        ("  behaviour", behaviour),
        ("OCSF line", line),
        ("total", pull - capture + line),
        ("reading the capture (not counted)", capture),
    ]
    return rows
records = int(sys.argv[1])
mine = [(label, n / records) for label, n in stages(sys.argv[2])]
base = None
if len(sys.argv) > 4:
    base = [n / int(sys.argv[3]) for _, n in stages(sys.argv[4])]
print(f"{records} records replayed; instructions per record")
head = f"{'stage':42} {'picket':>9}"
if base:
    head += f" {'baseline':>9} {'change':>8}"
print(head)
for i, (label, n) in enumerate(mine):
    row = f"{label:42} {n:9.0f}"
    if base:
        b = base[i]
        change = f"{100 * (n - b) / b:+7.2f}%" if b else "      -"
        row += f" {b:9.0f} {change}"
    print(row)
PY

# Runs `picket replay` of the capture under callgrind; prints the record count.
count() {
    local bin=$1 name=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
        "$bin" replay "$capture" --output /dev/null "$@" 2>"$work/$name.err" >/dev/null ||
        { tail -n 5 "$work/$name.err" >&2; exit 1; }
    callgrind_annotate --inclusive=yes --threshold=99.99 "$work/$name.out" >"$work/$name.txt" 2>/dev/null
    sed -n 's/.*: \([0-9]*\) events (.*/\1/p' "$work/$name.err" | tail -n 1
}
echo "counting picket's instructions (callgrind)..." >&2
records=$(count "$picket" picket "$@")
[ -n "$records" ] && [ "$records" -gt 0 ] || { echo "instructions: no records replayed" >&2; exit 1; }
if [ -n "$baseline" ]; then
    echo "counting the baseline's..." >&2
    base_records=$(count "$baseline" baseline "$@")
    [ "$base_records" = "$records" ] ||
        echo "instructions: the baseline replayed $base_records records, picket $records" >&2
    python3 "$work/stages.py" "$records" "$work/picket.txt" "$base_records" "$work/baseline.txt"
else
    python3 "$work/stages.py" "$records" "$work/picket.txt"
fi
