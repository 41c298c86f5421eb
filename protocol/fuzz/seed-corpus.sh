#!/bin/sh
# Seeds the decode_batch fuzz corpus from the golden vectors: each annotated hex file under
# protocol/tests/golden/ becomes one binary input (comments stripped, hex turned to bytes).
# Run from anywhere; needs `xxd` (vim-common / xxd package).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
golden="$here/../tests/golden"
corpus="$here/corpus/decode_batch"
mkdir -p "$corpus"
count=0
for vector in "$golden"/*.hex; do
    name=$(basename "$vector" .hex)
    sed 's/#.*//' "$vector" | xxd -r -p > "$corpus/golden-$name"
    count=$((count + 1))
done
echo "seeded $count inputs into $corpus"
