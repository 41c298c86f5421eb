# Sourced by the profiling scripts beside it: builds the overhead benchmark (without running
# it) and prints the path of its binary, whose `--workload DIR` runs the file workload alone.
overhead_binary() {
    cargo bench --quiet -p picket-fanotify --bench overhead --no-run --message-format=json |
        python3 -c 'import json,sys
for line in sys.stdin:
    m=json.loads(line)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="overhead":
        print(m["executable"])' | tail -n 1
}
