#!/usr/bin/env bash
# Instructions per record of picket's user-space pipeline (decoding, parsing, enrichment,
# detection, the OCSF line), counted by callgrind over the overhead benchmark's file
# workload, stage by stage, and against a baseline binary over the same events.
#
# The overhead benchmark decides the targets, in time; its same-round ratios resolve
# changes of about 3 % and more (docs/COMPARISON.md §3). Instruction counts of the same
# binary repeat to 0.1 % within a run and 0.3 % between runs, so a change of 1 % shows
# here. They are not time: a change that saves instructions may still cost time (the
# output buffer's size went the other way, docs/COMPARISON.md §3), so a verdict still
# needs the benchmark.
#
#   usermode-client/crates/fanotify/benches/instructions.sh [--live] [--baseline BIN] [options...]
#   PICKET_CAPTURE=run.cap .../instructions.sh --baseline /tmp/picket-before --alerts-only
#   sudo .../instructions.sh --live --baseline /tmp/picket-before
#
# By default the workload is recorded once (root: fanotify), or taken from PICKET_CAPTURE,
# and `picket replay` of it is counted: the same records for both binaries, but not the
# fanotify source, which a replay does not run. With --live, `picket watch` itself is
# counted while the workload runs (root; PICKET_BENCH_FILES defaults to 4 000 here, since
# callgrind slows picket about fifty times and the kernel's queue must hold the run):
# every stage, the source included, but each binary sees its own run of the workload, and
# the records of programs started meanwhile count too (run it on a quiet machine).
# Start-up (loading the rules) is never counted: only the reading loop and the output
# writer are. Other options go to `picket replay` or `picket watch`. Needs valgrind and
# python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)
cd "$top"
for tool in valgrind callgrind_annotate callgrind_control python3; do
    command -v "$tool" >/dev/null || { echo "instructions: needs $tool" >&2; exit 1; }
done
baseline=""
live=0
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline)
            baseline=${2:?"instructions: --baseline needs a picket binary"}
            [ -x "$baseline" ] || { echo "instructions: $baseline is not an executable" >&2; exit 1; }
            shift 2
            ;;
        --live)
            live=1
            shift
            ;;
        *) break ;;
    esac
done
if [ "$live" = 1 ] || [ -z "${PICKET_CAPTURE:-}" ]; then
    [ "$(id -u)" = 0 ] || {
        echo "instructions: the live workload needs root (fanotify); or replay PICKET_CAPTURE" >&2
        exit 1
    }
fi

echo "building picket (release)..." >&2
cargo build --quiet --release -p picket
picket="$top/target/release/picket"
# shellcheck source=overhead-binary.sh
. "$here/overhead-binary.sh"
bench=$(overhead_binary)
work=$(mktemp -d /tmp/picket-instructions.XXXXXX)
cleanup() {
    umount "$work/watched" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A fresh tmpfs for one run of the workload.
fresh_dir() {
    umount "$work/watched" 2>/dev/null || true
    mkdir -p "$work/watched"
    mount -t tmpfs -o size=1g picket-instructions "$work/watched"
}

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
def stages(path, live):
    f = functions(path)
    pull = largest(f, r"^picket_pipeline::run::Reading::pull$")
    if not pull:
        sys.exit(f"instructions: no reading loop in {path} (renamed?)")
    # No output writer with --alerts-only and no alert: the line costs nothing then.
    line = largest(f, r"^picket_pipeline::run::write_chunk$")
    source = largest(f, r"(FanotifySource|ReplaySource<.*>) as .*BatchSource>::next_batch$")
    detection = largest(f, r"as picket_model::alert::Detector>::on_event$")
    sigma = largest(f, r"^<picket_detect::detector::SigmaDetector as .*>::on_event$")
    behaviour = largest(f, r"^<picket_behaviour::detector::BehaviourDetector as .*>::on_event$")
    rows = [
        ("decoding, parsing, enrichment, the loop", pull - source - detection),
        ("detection", detection),
        ("  Sigma", sigma),
        ("  behaviour", behaviour),
        ("OCSF line", line),
    ]
    if live:
        rows.insert(0, ("fanotify source", source))
        rows.append(("total", pull + line))
    else:
        rows.append(("total, without a source", pull - source + line))
        rows.append(("reading the capture (not counted)", source))
    return rows
live = sys.argv[1] == "live"
runs = [(int(n), path) for n, path in zip(sys.argv[2::2], sys.argv[3::2])]
(records, mine), base = runs[0], runs[1:]
mine = [(label, n / records) for label, n in stages(mine, live)]
if base:
    n, path = base[0]
    base = [v / n for _, v in stages(path, live)]
what = "records of picket watch" if live else "records replayed"
print(f"{records} {what}" + (f" ({runs[1][0]} for the baseline)" if base else "")
      + "; instructions per record")
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

# Counts `picket replay` of the capture; prints the records replayed.
count_replay() {
    local bin=$1 name=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
        "$bin" replay "$capture" --output /dev/null "$@" 2>"$work/$name.err" >/dev/null ||
        { tail -n 5 "$work/$name.err" >&2; exit 1; }
    sed -n 's/.*: \([0-9]*\) events (.*/\1/p' "$work/$name.err" | tail -n 1
}

# Counts `picket watch` while the workload runs; prints the file records it wrote.
count_live() {
    local bin=$1 name=$2 out
    shift 2
    out="$work/$name.json"
    fresh_dir
    valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
        "$bin" watch "$work/watched" --output "$out" "$@" 2>"$work/$name.err" &
    local sensor=$!
    # Up once its first line (the source's hello) is written.
    for _ in $(seq 600); do
        [ -s "$out" ] && break
        kill -0 "$sensor" 2>/dev/null || { tail -n 5 "$work/$name.err" >&2; exit 1; }
        sleep 0.1
    done
    [ -s "$out" ] || {
        echo "instructions: picket watch wrote nothing in a minute" >&2
        kill -INT "$sensor"
        exit 1
    }
    sleep 1
    callgrind_control -z "$sensor" >/dev/null
    PICKET_BENCH_FILES=${PICKET_BENCH_FILES:-4000} PICKET_BENCH_LOAD=0 \
        "$bench" --workload "$work/watched" >&2
    # Done once it writes no more file records (process records go on as programs start).
    local files=-1
    while [ "$(file_records "$out")" != "$files" ]; do
        files=$(file_records "$out")
        sleep 2
    done
    kill -INT "$sensor"
    wait "$sensor" || { tail -n 5 "$work/$name.err" >&2; exit 1; }
    file_records "$out"
}

file_records() {
    grep -c '^{"class_uid":1001,' "$1" || true
}

# The counts of a finished run, for stages.py.
annotate() {
    callgrind_annotate --inclusive=yes --threshold=99.99 "$work/$1.out" >"$work/$1.txt" 2>/dev/null
}

# Counts one build the chosen way; prints its records.
count() {
    if [ "$live" = 1 ]; then count_live "$@"; else count_replay "$@"; fi
}

mode="picket watch"
if [ "$live" = 0 ]; then
    mode="picket replay"
    capture=${PICKET_CAPTURE:-}
    if [ -z "$capture" ]; then
        capture="$work/workload.cap"
        fresh_dir
        "$picket" record --path "$work/watched" "$capture" 2>"$work/record.err" &
        recorder=$!
        sleep 2
        "$bench" --workload "$work/watched" >&2
        sleep 1
        kill -INT "$recorder"
        wait "$recorder" || { cat "$work/record.err" >&2; exit 1; }
    fi
    [ -r "$capture" ] || { echo "instructions: cannot read $capture" >&2; exit 1; }
fi
echo "counting $mode (callgrind)..." >&2
records=$(count "$picket" picket "$@")
annotate picket
runs=("$records" "$work/picket.txt")
if [ -n "$baseline" ]; then
    echo "counting the baseline's..." >&2
    base_records=$(count "$baseline" baseline "$@")
    annotate baseline
    [ "$live" = 1 ] || [ "$base_records" = "$records" ] ||
        echo "instructions: the baseline replayed $base_records records, picket $records" >&2
    runs+=("$base_records" "$work/baseline.txt")
fi
[ "${runs[0]}" -gt 0 ] 2>/dev/null || { echo "instructions: no records counted" >&2; exit 1; }
python3 "$work/stages.py" "$([ "$live" = 1 ] && echo live || echo replay)" "${runs[@]}"
