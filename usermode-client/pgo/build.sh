#!/usr/bin/env bash
# A profile-guided (PGO) release build of picket for Linux: the same code, laid out by the
# compiler for the paths a sensor actually runs.
#
#   sudo usermode-client/pgo/build.sh          # -> target/pgo/picket
#   cargo make release-pgo
#
# 1. picket is built with -Cprofile-generate (target/pgo/gen).
# 2. That build runs a training mix (below) and writes its execution counts.
# 3. llvm-profdata merges them (target/pgo/picket.profdata).
# 4. picket is built again with -Cprofile-use (target/pgo/use), copied to target/pgo/picket.
#
# The training mix, on purpose not the overhead benchmark's workload (which judges the
# result): the shipped captures replayed (Windows and Linux records, edge cases, OCSF and
# ECS), and the live sensor (`picket watch`, default flags: the built-in pack and the
# behaviour detectors) on a private tmpfs while every `picket-ransim` family but slow-rate
# and every benign workload run, and a copy, archive and deletion of this repository's
# client sources. Root is needed for the live part (fanotify), as for `picket watch`.
#
# Needs llvm-profdata matching rustc's LLVM: rustup's llvm-tools component, which this
# script adds when it is missing (rustup component add llvm-tools). A release rebuild takes
# a few minutes each time (fat LTO); the whole run takes about eight.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || {
    echo "release-pgo: the training runs the live sensor (fanotify): run as root" >&2
    exit 1
}

host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
    echo "release-pgo: adding rustup's llvm-tools (llvm-profdata)..." >&2
    rustup component add llvm-tools >&2
fi
[ -x "$profdata" ] || { echo "release-pgo: no llvm-profdata at $profdata" >&2; exit 1; }

work="$top/target/pgo"
raw="$work/raw"
rm -rf "$raw" "$work/picket.profdata"
mkdir -p "$raw"
# RUSTFLAGS replaces the config's flags for this target; Linux has none in .cargo/config.toml.
base_flags=${RUSTFLAGS:-}

echo "release-pgo: building the instrumented picket..." >&2
RUSTFLAGS="$base_flags -Cprofile-generate=$raw" \
    cargo build --quiet --release -p picket --target-dir "$work/gen"
cargo build --quiet --release -p picket-ransim
gen="$work/gen/release/picket"
ransim="$top/target/release/picket-ransim"
# %m: every run of the same binary merges into one file.
export LLVM_PROFILE_FILE="$raw/picket-%m.profraw"

echo "release-pgo: training on the shipped captures..." >&2
for capture in tests/captures/*.pkcap; do
    for _ in $(seq 1 40); do
        "$gen" replay "$capture" -o /dev/null 2>/dev/null
    done
    "$gen" replay "$capture" --format ecs -o /dev/null 2>/dev/null
done

echo "release-pgo: training on the live sensor..." >&2
train=$(mktemp -d /tmp/picket-pgo.XXXXXX)
watcher=""
cleanup() {
    if [ -n "$watcher" ]; then
        kill -INT "$watcher" 2>/dev/null || true
        wait "$watcher" 2>/dev/null || true
    fi
    umount "$train" 2>/dev/null || true
    rm -rf "$train"
}
trap cleanup EXIT
mount -t tmpfs -o size=2g picket-pgo "$train"
mkdir "$train/out" "$train/w"
"$gen" watch "$train/w" -o "$train/out/events.jsonl" 2>"$train/out/watch.err" &
watcher=$!
# Live once the sensor reports a marker file (the group is marked before the first read).
for _ in $(seq 1 300); do
    touch "$train/w/pgo-marker"
    grep -q pgo-marker "$train/out/events.jsonl" 2>/dev/null && break
    kill -0 "$watcher" 2>/dev/null || { cat "$train/out/watch.err" >&2; exit 1; }
    sleep 0.1
done
grep -q pgo-marker "$train/out/events.jsonl" || {
    echo "release-pgo: the instrumented sensor never reported its marker" >&2
    exit 1
}
n=0
for family in $("$ransim" list | awk '$1 == "family" && $2 != "slow-rate" { print $2 }'); do
    n=$((n + 1))
    "$ransim" seed "$train/w/family$n" --files 25 >/dev/null
    "$ransim" run "$family" "$train/w/family$n" >/dev/null
done
# A benign workload needs its tool (zip, perl, make, git…): one that is missing is skipped.
for workload in $("$ransim" list | awk '$1 == "benign" { print $2 }'); do
    n=$((n + 1))
    "$ransim" benign "$workload" "$train/w/benign$n" >/dev/null 2>&1 ||
        echo "release-pgo: benign workload $workload skipped (it failed here)" >&2
done
cp -r usermode-client "$train/w/sources"
tar -cf "$train/w/sources.tar" -C "$train/w" sources
mkdir "$train/w/unpacked"
tar -xf "$train/w/sources.tar" -C "$train/w/unpacked"
rm -rf "$train/w/sources" "$train/w/unpacked" "$train/w/sources.tar"
sleep 1
kill -INT "$watcher"
wait "$watcher" || { cat "$train/out/watch.err" >&2; exit 1; }
watcher=""
tail -n 1 "$train/out/watch.err" >&2

"$profdata" merge -o "$work/picket.profdata" "$raw"/*.profraw
echo "release-pgo: building picket with the profile..." >&2
RUSTFLAGS="$base_flags -Cprofile-use=$work/picket.profdata" \
    cargo build --quiet --release -p picket --target-dir "$work/use"
cp "$work/use/release/picket" "$work/picket"
echo "$work/picket"
echo "release-pgo: compare it with target/release/picket in the same rounds:" >&2
echo "  PICKET_BENCH_BASELINE=target/release/picket PICKET_BENCH_PICKET=$work/picket \\" >&2
echo "    cargo bench -p picket-fanotify --bench overhead" >&2
