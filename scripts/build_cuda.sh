#!/usr/bin/env bash
# Builds relex with the `cuda` feature on a machine without a CUDA toolkit, GPU or driver:
# nvcc, the CUDA 13.0 headers and the runtime libraries come from NVIDIA's Python wheels,
# and the driver library (libcuda.so, which only a GPU machine has) is replaced at link
# time by a stub that exports the same symbols; the real one is loaded at run time.
#
#   scripts/build_cuda.sh                 # -> target/release/relex (stripped copy in dist/)
#
# Environment:
#   CUDA_COMPUTE_CAP     GPU architecture the kernels are compiled for (default 90:
#                        H100/H200; 80 A100, 86 RTX 30xx/A6000, 89 L4/L40/RTX 40xx,
#                        100 B200, 120 RTX 50xx). candle's kernels are PTX, so a newer
#                        GPU than the one named also runs them (the driver JIT-compiles).
#   RELEX_CUDA_TOOLKIT   where the wheels are installed (default .cuda-toolkit/, ignored by git)
#   RELEX_CUDA_PROFILE   cargo profile (default release)
#   RELEX_CUDA_TARGET_DIR  cargo target dir (default target/)
#
# On the GPU machine the binary needs libcublas.so.13, libcublasLt.so.13, libcurand.so.10,
# libnvrtc.so.13 and libcudart.so.13 on LD_LIBRARY_PATH: a CUDA 13 toolkit's lib64, or the
# same wheels PyTorch installs (site-packages/nvidia/cu13/lib), and a driver >= 580.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLKIT="${RELEX_CUDA_TOOLKIT:-$PWD/.cuda-toolkit}"
PROFILE="${RELEX_CUDA_PROFILE:-release}"
TARGET_DIR="${RELEX_CUDA_TARGET_DIR:-$PWD/target}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# 13.0, not newer: PTX from a newer nvcc is refused by a CUDA 13.0 driver (580).
CUDA_PINS=(
    "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*"
    "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-nvrtc==13.0.*" "nvidia-cuda-cccl==13.0.*"
    "nvidia-cublas==13.0.*" "nvidia-curand==10.4.*"
)

if [ ! -x "$TOOLKIT/venv/bin/pip" ]; then
    echo "installing the CUDA 13.0 compiler and libraries into $TOOLKIT (about 1 GB)" >&2
    python3 -m venv "$TOOLKIT/venv"
fi
"$TOOLKIT/venv/bin/pip" install --quiet "${CUDA_PINS[@]}"
CU="$(find "$TOOLKIT/venv" -type d -path '*site-packages/nvidia/cu13' | head -n 1)"
[ -x "$CU/bin/nvcc" ] || { echo "nvcc not found under $TOOLKIT" >&2; exit 1; }

# A toolkit root in the layout build scripts expect: bin/ include/ nvvm/ lib/.
ROOT="$TOOLKIT/root"
mkdir -p "$ROOT/lib"
for d in bin include nvvm; do ln -sfn "$CU/$d" "$ROOT/$d"; done
for f in "$CU"/lib/*; do ln -sf "$f" "$ROOT/lib/$(basename "$f")"; done
# Unversioned names for the linker (-lcublas finds libcublas.so).
for lib in cudart cublas cublasLt curand nvrtc; do
    versioned="$(ls "$CU"/lib/lib"$lib".so.* | sort | head -n 1)"
    ln -sf "$versioned" "$ROOT/lib/lib$lib.so"
done

# The driver stub: every cu* entry point cudarc declares, as an empty function in a
# library named like the driver's (soname libcuda.so.1), so the link resolves and the
# loader picks the real driver on the GPU machine.
CUDARC_DIR="$(cargo metadata --format-version 1 --features cuda 2>/dev/null |
    python3 -c 'import json,sys,os; m=json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="cudarc"))')"
grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$CUDARC_DIR/src/driver/sys/mod.rs" |
    awk '{print $4}' | sort -u | awk '{print "void " $1 "(void) {}"}' >"$ROOT/libcuda_stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$ROOT/lib/libcuda.so" "$ROOT/libcuda_stub.c"

export PATH="$ROOT/bin:$PATH"
export CUDA_HOME="$ROOT" CUDA_PATH="$ROOT" CUDARC_CUDA_VERSION=13000
export CARGO_TARGET_DIR="$TARGET_DIR"
echo "building relex (profile $PROFILE, compute capability $CUDA_COMPUTE_CAP)" >&2
cargo build --locked --profile "$PROFILE" --features cuda --bin relex

PROFILE_DIR="$PROFILE"
[ "$PROFILE" = dev ] && PROFILE_DIR=debug
mkdir -p dist
strip -o dist/relex-cuda "$TARGET_DIR/$PROFILE_DIR/relex"
echo "built dist/relex-cuda ($(du -h dist/relex-cuda | cut -f1)); needs LD_LIBRARY_PATH with the CUDA 13 libraries" >&2
