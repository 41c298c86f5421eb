#!/bin/sh
# Seeds the fuzz corpora from the shipped captures (tests/captures) and their batches.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
captures="$here/../../tests/captures"
mkdir -p "$here/corpus/pipeline" "$here/corpus/batch"
cp "$captures"/*.pkcap "$here/corpus/pipeline/"
# Each batch frame of each capture as a batch seed: frame header is 16 bytes (kind u16,
# flags u16, len u32, time u64) after a header whose length is at bytes 12..16.
python3 - "$captures" "$here/corpus/batch" <<'PY'
import struct, sys, pathlib
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for cap in sorted(src.glob("*.pkcap")):
    data = cap.read_bytes()
    at = struct.unpack_from("<I", data, 12)[0]
    n = 0
    while at + 16 <= len(data):
        kind, _flags, length, _time = struct.unpack_from("<HHIQ", data, at)
        payload = data[at + 16 : at + 16 + length]
        if kind == 1:
            (dst / f"{cap.stem}-{n}").write_bytes(payload)
            n += 1
        at += 16 + length
PY
echo "seeded $(ls "$here/corpus/pipeline" | wc -l) captures and $(ls "$here/corpus/batch" | wc -l) batches"
