#!/usr/bin/env bash
# Where the live sensor's CPU goes, stage by stage, in real time: `perf record -e cpu-clock`
# (software sampling: no hardware counters needed, so it works in a VM) of `picket watch` built
# with frame pointers, while the overhead benchmark's file workload runs under its concurrent
# CPU load. Instruction counts (callgrind) rank code by instructions, and a stage's share of
# them need not be its share of the time: this measures the time.
#
#   sudo usermode-client/crates/fanotify/benches/profile-live.sh [picket watch options...]
#   PICKET_BENCH_FILES=50000 sudo .../profile-live.sh --alerts-only
#
# Needs root (fanotify), perf and python3. The workload's settings are the benchmark's
# (PICKET_BENCH_FILES, _SHAPE, _WRITERS, _LOAD). PICKET_PROFILE_OUT keeps perf.data there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)
cd "$top"
for tool in perf python3; do
    command -v "$tool" >/dev/null || { echo "profile-live: needs $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "profile-live: needs root (fanotify)" >&2; exit 1; }

# Frame pointers give perf whole call chains cheaply; a target directory of its own keeps
# the normal build's artefacts.
echo "building picket with frame pointers (target/profile-fp) and the workload..." >&2
RUSTFLAGS="-C force-frame-pointers=yes" cargo build --quiet --release -p picket \
    --target-dir target/profile-fp
picket="$top/target/profile-fp/release/picket"
# shellcheck source=overhead-binary.sh
. "$here/overhead-binary.sh"
bench=$(overhead_binary)

work=$(mktemp -d /tmp/picket-profile.XXXXXX)
out=${PICKET_PROFILE_OUT:-$work/out}
mkdir -p "$work/watched" "$out"
mount -t tmpfs -o size=1g picket-profile "$work/watched"
picket_pid=""
cleanup() {
    [ -n "$picket_pid" ] && kill -INT "$picket_pid" 2>/dev/null && wait "$picket_pid" || true
    umount "$work/watched" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$picket" watch "$work/watched" --output /dev/null "$@" 2>"$out/picket.err" &
picket_pid=$!
sleep 3
perf record -q -e cpu-clock -F 10000 -g -p "$picket_pid" -o "$out/perf.data" 2>/dev/null &
perf_pid=$!
sleep 1
"$bench" --workload "$work/watched"
sleep 1
kill -INT "$perf_pid"
wait "$perf_pid" || true
kill -INT "$picket_pid"
wait "$picket_pid" || true
picket_pid=""
report=$(tail -n 1 "$out/picket.err")
echo "$report"
events=$(sed -n 's/.*: \([0-9]*\) events (.*/\1/p' <<<"$report")

cat > "$work/stages.py" <<'PY'
import sys, collections
events = int(sys.argv[1] or 0)
# A sample is a call chain, leaf first. Its stage is the first of these found in it.
USER = [
    ("detection (Sigma and behaviour)", "alert::Detector>::on_event"),
    ("output (OCSF lines)", "run::write_chunk"),
    ("source (fanotify records to protocol batches)", "BatchSource>::next_batch"),
    ("parsing and enrichment", "Pipeline::process_from"),
    ("other threads (process tracking)", "thread_start"),
]
KERNEL = [
    ("reading events (fanotify_read)", "fanotify_read"),
    ("writing output", "ksys_write"),
]
counts = collections.Counter()
chain = []
def close():
    if not chain:
        return
    names = [frame.split(None, 1)[1] if " " in frame else "?" for frame in chain]
    kernel = int(chain[0].split()[0], 16) >= 0xffff000000000000
    table = KERNEL if kernel else USER
    # The rest: in user space decoding batches and the reading loop's own work, and copies
    # whose caller a frame-pointer walk skips (libc's memcpy keeps no frame); in the kernel
    # page faults, the content sampler's opens and reads, polls.
    rest = "everything else" if kernel else "decoding, the loop, unattributed copies"
    stage = next((label for label, mark in table if any(mark in n for n in names)), rest)
    counts[("kernel" if kernel else "user", stage)] += 1
    chain.clear()
for line in sys.stdin:
    line = line.strip()
    if line:
        chain.append(line)
    else:
        close()
close()
total = sum(counts.values())
if not total:
    sys.exit("profile-live: no samples")
# -F 10000: a sample stands for 100 us of CPU.
print(f"picket CPU sampled: {total / 10000:.3f} s ({total} samples)"
      + (f", {total * 100 / events:.2f} us per record over {events} records" if events else ""))
print(f"{'where':54} {'share':>7} {'us/record':>10}")
for (side, stage), n in sorted(counts.items(), key=lambda kv: -kv[1]):
    per = f"{n * 100 / events:10.3f}" if events else ""
    where = side + ": " + stage
    print(f"{where:54} {100 * n / total:6.1f}% {per}")
PY
perf script -i "$out/perf.data" -F ip,sym 2>/dev/null | python3 "$work/stages.py" "$events"
[ -z "${PICKET_PROFILE_OUT:-}" ] || echo "perf data: $out/perf.data"
