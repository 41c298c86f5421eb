#!/usr/bin/env bash
# Cross-builds the RELEASE driver image on Linux:
#     target/x86_64-pc-windows-msvc/release/picket_driver.sys
#   .ci/build-sys.sh          build the image (the default)
#   .ci/build-sys.sh lint     instead: cargo check and cargo clippy -D warnings of the driver
#                             with --features kernel, for the Linux shadow target
#                             (x86_64-unknown-linux-gnu) and for x86_64-pc-windows-msvc
#
# Needs a Linux WDK kit (headers + the wdk crates patched for a Linux host), see
# docs/VM-TESTING.md ("Building the .sys on Linux"):
#   PICKET_WDK          the kit (default ../shared/wdk, relative to the workspace root), with
#                       crates/wdk-build-*/ and crates/wdk-sys-*/ (the Linux-host patch) and a
#                       WDKContentRoot in content/ (or c/, the layout of Microsoft's WDK NuGet
#                       package, whose Include/<ver>/ must also hold the SDK's shared/ headers).
#   PICKET_WDK_CONTENT  overrides the WDKContentRoot (Include/<version>/{km,shared}).
#   Version_Number      overrides the WDK version (default: the newest under Include/).
#   PICKET_REQUIRE_WDK=1 a missing kit is an error instead of a skip (not tied to CI=true:
#                       the GitHub Linux runner has no kit and must still pass).
# Tools: clang + libclang-dev (bindgen), llvm (llvm-dlltool, llvm-lib), the rustup target
# x86_64-pc-windows-msvc (rust-lld ships with the toolchain). .ci/run installs them.
#
# The import libraries come from the project's own export lists, driver/defs/*.def: the kit
# has none, and linking against exactly the exports we allow makes a new import a deliberate
# edit there (with its minimum Windows build). hal, wmilib and BufferOverflowFastFailK (which
# wdk-build always names) are empty libraries: the driver imports nothing from them.
set -euo pipefail
MODE=${1:-build}
case "$MODE" in build | lint) ;; *) echo "usage: $0 [build|lint]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
ROOT=$PWD
TRIPLE=x86_64-pc-windows-msvc
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
OUT=$TARGET_DIR/$TRIPLE/release
SYS=$OUT/picket_driver.sys

strict=0
if [ "${PICKET_REQUIRE_WDK:-0}" = 1 ]; then strict=1; fi

KIT=${PICKET_WDK:-../shared/wdk}
skip() {
    if [ "$strict" = 1 ]; then
        echo "error: cannot cross-build picket_driver.sys: $1" >&2
        exit 1
    fi
    echo "picket: skipped the Linux cross-build ($MODE) of picket_driver.sys: $1"
    exit 0
}
fail() { echo "error: build-sys: $1" >&2; exit 1; }

[ -d "$KIT" ] || skip "no WDK kit at $KIT (set PICKET_WDK; see docs/VM-TESTING.md)"
KIT=$(cd "$KIT" && pwd)
if [ -n "${PICKET_WDK_CONTENT:-}" ]; then
    CONTENT=$(cd "$PICKET_WDK_CONTENT" && pwd)
elif [ -d "$KIT/content/Include" ]; then
    CONTENT=$KIT/content
elif [ -d "$KIT/c/Include" ]; then
    CONTENT=$KIT/c
else
    skip "the kit at $KIT has no WDKContentRoot (content/Include or c/Include)"
fi
WDK_BUILD=$(find "$KIT/crates" -maxdepth 1 -type d -name 'wdk-build-*' 2>/dev/null | sort -V | tail -n1)
WDK_SYS=$(find "$KIT/crates" -maxdepth 1 -type d -name 'wdk-sys-*' 2>/dev/null | sort -V | tail -n1)
[ -n "$WDK_BUILD" ] && [ -n "$WDK_SYS" ] ||
    skip "the kit at $KIT has no Linux-patched crates/wdk-build-*/ and crates/wdk-sys-*/"
if [ -z "${Version_Number:-}" ]; then
    Version_Number=$(find "$CONTENT/Include" -mindepth 2 -maxdepth 2 -type d -name km |
        sed 's|/km$||; s|.*/||' | sort -V | tail -n1)
fi
[ -n "$Version_Number" ] && [ -d "$CONTENT/Include/$Version_Number/km" ] ||
    skip "no Include/<version>/km under $CONTENT"
# wdk-build requires the km lib directory even though the libraries come from driver/defs.
[ -d "$CONTENT/Lib/$Version_Number/km/x64" ] || fail "$CONTENT/Lib/$Version_Number/km/x64 is missing"

# Case aliases (e.g. shared/DriverSpecs.h -> driverspecs.h) are symlinks in the kit. A copy
# made without symlink support turns them into small text files naming their target, which
# clang then reads as C. If any such file exists, build a link farm of the content root in
# target/ (symlinks only: nothing is copied) where each alias is a real symlink again.
alias_target() { # prints the sibling a pseudo-symlink names, or fails
    local f=$1 t
    [ "$(stat -c %s "$f")" -lt 128 ] || return 1
    t=$(head -c 128 "$f")
    case "$t" in */* | *[[:space:]]* | '') return 1 ;; esac
    [ -f "$(dirname "$f")/$t" ] && [ "$t" != "$(basename "$f")" ] && printf '%s' "$t"
}
PSEUDO=$(find "$CONTENT/Include" -type f -size -128c 2>/dev/null | while read -r f; do
    alias_target "$f" >/dev/null && printf '%s\n' "$f"; done || true)
farm() { # farm SRC DST: DST mirrors SRC with symlinks, aliases repaired
    local src=$1 dst=$2 e name t
    if ! printf '%s\n' "$PSEUDO" | grep -q "^$src/"; then ln -s "$src" "$dst"; return; fi
    mkdir -p "$dst"
    for e in "$src"/* "$src"/.[!.]*; do
        [ -e "$e" ] || continue
        name=$(basename "$e")
        if [ -d "$e" ]; then farm "$e" "$dst/$name"
        elif t=$(alias_target "$e"); then ln -s "$t" "$dst/$name"
        else ln -s "$e" "$dst/$name"; fi
    done
}
if [ -n "$PSEUDO" ]; then
    FARM=$TARGET_DIR/wdk-content
    # Rebuilt only when the kit it mirrors changes, so the headers keep their identity.
    if [ "$(cat "$FARM.source" 2>/dev/null)" != "$CONTENT" ] || [ ! -d "$FARM" ]; then
        rm -rf "$FARM" "$FARM.source"
        farm "$CONTENT" "$FARM"
        printf '%s' "$CONTENT" > "$FARM.source"
    fi
    echo "picket: $(printf '%s\n' "$PSEUDO" | wc -l) case-alias symlinks of $CONTENT are plain files; using the link farm $FARM"
    CONTENT=$FARM
fi

for tool in llvm-dlltool llvm-lib clang; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install -y clang libclang-dev llvm)"
done
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TRIPLE"; then
    fail "the Rust target $TRIPLE is missing (rustup target add $TRIPLE)"
fi

# The patch turns wdk-build/wdk-sys into path dependencies, and Cargo rewrites their entries
# in Cargo.lock (no source, no checksum). Put the committed lock file back on exit, so the
# working tree stays clean and later --locked builds keep working.
mkdir -p "$TARGET_DIR"
if [ -f Cargo.lock ]; then
    cp -p Cargo.lock "$TARGET_DIR/Cargo.lock.before-wdk-patch"
    trap 'cp -p "$TARGET_DIR/Cargo.lock.before-wdk-patch" Cargo.lock' EXIT
fi
export WDKContentRoot=$CONTENT Version_Number
PATCH=(--config "patch.crates-io.wdk-build.path=\"$WDK_BUILD\""
       --config "patch.crates-io.wdk-sys.path=\"$WDK_SYS\"")
if [ "$MODE" = lint ]; then
    # panic=abort as in the real build (wdk-panic provides the handler); +crt-static for the
    # Windows target comes from .cargo/config.toml. Cargo.lock is left as it is by the patch.
    export CARGO_PROFILE_DEV_PANIC=abort
    for target in x86_64-unknown-linux-gnu $TRIPLE; do
        cargo check "${PATCH[@]}" -p picket-driver --features kernel --target "$target"
        cargo clippy "${PATCH[@]}" -p picket-driver --features kernel --target "$target" -- -D warnings
    done
    echo "picket: the driver's kernel feature type-checks and passes clippy for x86_64-unknown-linux-gnu and $TRIPLE"
    exit 0
fi

# Import libraries: one per .def file, plus the empty ones wdk-build names.
LIBS=$TARGET_DIR/implibs
mkdir -p "$LIBS"
for def in "$ROOT"/driver/defs/*.def; do
    llvm-dlltool -m i386:x86-64 -d "$def" -l "$LIBS/$(basename "$def" .def).lib"
done
printf 'typedef int picket_empty;\n' > "$LIBS/empty.c"
clang --target=$TRIPLE -c "$LIBS/empty.c" -o "$LIBS/empty.obj"
for lib in hal wmilib BufferOverflowFastFailK; do
    rm -f "$LIBS/$lib.lib"
    llvm-lib /out:"$LIBS/$lib.lib" "$LIBS/empty.obj"
done

export CARGO_PROFILE_RELEASE_PANIC=abort
# /RELEASE: the PE checksum. /INTEGRITYCHECK (FORCE_INTEGRITY) also comes from wdk-build;
# repeated here so the image test's requirement does not hang on a dependency's choice.
cargo build "${PATCH[@]}" \
    --config "target.$TRIPLE.linker=\"rust-lld\"" \
    --config "target.$TRIPLE.rustflags=[\"-C\",\"target-feature=+crt-static\",\"-C\",\"link-arg=/RELEASE\",\"-C\",\"link-arg=/INTEGRITYCHECK\",\"-L\",\"native=$LIBS\"]" \
    -p picket-driver --features kernel --target $TRIPLE --release

[ -f "$OUT/picket_driver.dll" ] || fail "cargo produced no $OUT/picket_driver.dll"
cp -f "$OUT/picket_driver.dll" "$SYS"
echo "picket: built $SYS ($(stat -c %s "$SYS") bytes)"
