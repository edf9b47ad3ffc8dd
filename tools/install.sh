#!/usr/bin/env bash
# One-command set-up for mmdfkd: torch, mmcv 2.1.0 with compiled ops, mmdet, the
# rest of the requirements, and `pip install -e .`.
#
#   bash tools/install.sh
#
# Installs into the Python that `python` (or $PYTHON) points at; use a virtualenv
# or conda env if you do not want to touch the system one. Safe to run again:
# every step checks whether its work is already done.
#
# Environment knobs:
#   PYTHON              interpreter to install into (default: python)
#   MMDFKD_CACHE        where built mmcv wheels are kept (default: ~/.cache/mmdfkd)
#   MMDFKD_TORCH_SPEC   torch pins used when torch is absent
#                       (default: "torch==2.14.1 torchvision==0.29.1", the tested pair)
#   MAX_JOBS            parallel compile jobs for mmcv (default: number of cores)
set -Eeuo pipefail

PYTHON=${PYTHON:-python}
CACHE_DIR=${MMDFKD_CACHE:-${HOME}/.cache/mmdfkd}
TORCH_SPEC=${MMDFKD_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
MMCV_VERSION=2.1.0
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIP=("$PYTHON" -m pip --disable-pip-version-check)

START=$(date +%s)
STEP_NAME=""
step() {
    STEP_NAME=$1
    printf '\n[mmdfkd install %3ds] %s (expected: %s)\n' "$(( $(date +%s) - START ))" "$1" "$2"
}
info() { printf '    %s\n' "$*"; }
fail() {
    printf '\n[mmdfkd install] FAILED at step "%s".\n' "$STEP_NAME" >&2
    printf '    %s\n' "$@" >&2
    exit 1
}
trap 'fail "The command above exited with an error; read its last lines." "Fix the cause and run: bash tools/install.sh (finished steps are skipped)."' ERR

py_ok() { "$PYTHON" -c "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------
step "check Python" "1 s"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 8), sys.version' \
    || fail "mmdfkd needs Python >= 3.8 (tested: 3.11); set PYTHON=/path/to/python3.11."
info "$("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

# ---------------------------------------------------------------------------
step "torch and torchvision" "1-2 min if absent, else 1 s"
if py_ok 'import torch, torchvision'; then
    info "already installed: $("$PYTHON" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)')"
else
    info "installing ${TORCH_SPEC}"
    # shellcheck disable=SC2086
    "${PIP[@]}" install ${TORCH_SPEC} \
        || fail "Could not install ${TORCH_SPEC}." \
                "Install a matching torch/torchvision pair yourself (https://pytorch.org) or set" \
                "MMDFKD_TORCH_SPEC, then run this script again."
    py_ok 'import torch, torchvision' \
        || fail "torch or torchvision does not import after installing." \
                "They must be a matching pair, e.g. torch==2.14.1 with torchvision==0.29.1."
fi

# ---------------------------------------------------------------------------
step "mmcv ${MMCV_VERSION} with compiled ops" "1 s if installed or cached, ~18 min to compile on 2 CPU cores"
if py_ok "import mmcv, mmcv.ops; assert mmcv.__version__ == '${MMCV_VERSION}'"; then
    info "already installed with ops"
else
    # Everything that decides binary compatibility goes into the cache key.
    read -r TORCH_VER CUDA_TAG GPU PY_TAG < <("$PYTHON" - <<'EOF'
import sys, torch
gpu = torch.cuda.is_available()
cuda = torch.version.cuda if gpu and torch.version.cuda else None
print(torch.__version__.split('+')[0], f"cu{cuda.replace('.', '')}" if cuda else 'cpu',
      int(gpu), f"py{sys.version_info.major}{sys.version_info.minor}")
EOF
)
    if [ "$CUDA_TAG" != cpu ] && ! command -v nvcc >/dev/null 2>&1 && [ -z "${CUDA_HOME:-}" ]; then
        info "a GPU is visible but no CUDA toolkit (nvcc / CUDA_HOME) was found: building CPU-only ops"
        CUDA_TAG=cpu
    fi
    WHEEL_DIR="${CACHE_DIR}/wheels/mmcv-${MMCV_VERSION}_torch-${TORCH_VER}_${CUDA_TAG}_${PY_TAG}"
    WHEEL=$(ls "${WHEEL_DIR}"/mmcv-*.whl 2>/dev/null | head -n 1 || true)
    if [ -n "$WHEEL" ]; then
        info "using cached wheel ${WHEEL}"
    else
        info "no cached wheel in ${WHEEL_DIR}; compiling (${CUDA_TAG})"
        BUILD_DIR=$(mktemp -d)
        # Build tools go into a private folder, not the user's environment: mmcv's
        # setup.py imports pkg_resources (setuptools < 70), while torch wants a newer one.
        "${PIP[@]}" install -q --target "$BUILD_DIR/tools" -r "${REPO_ROOT}/requirements/build.txt" \
            || fail "Could not install the build tools in requirements/build.txt."
        BUILD_ENV=(env PYTHONPATH="$BUILD_DIR/tools${PYTHONPATH:+:$PYTHONPATH}" PATH="$BUILD_DIR/tools/bin:$PATH")
        "${BUILD_ENV[@]}" "${PIP[@]}" download --no-deps --no-binary :all: "mmcv==${MMCV_VERSION}" -d "$BUILD_DIR" \
            || fail "Could not download the mmcv ${MMCV_VERSION} source distribution from PyPI." \
                    "Check network access to PyPI, or place mmcv-${MMCV_VERSION}.tar.gz in $BUILD_DIR."
        tar -xzf "$BUILD_DIR"/mmcv-"${MMCV_VERSION}".tar.gz -C "$BUILD_DIR"
        SRC="$BUILD_DIR/mmcv-${MMCV_VERSION}"
        # mmcv 2.1.0 hard-codes -std=c++17; torch >= 2.10 headers refuse anything below
        # C++20. Read the minimum from the `__cplusplus < ...L` guards in torch's headers.
        CXX_STD=$("$PYTHON" - <<'EOF'
import os, re, torch
inc = os.path.join(os.path.dirname(torch.__file__), 'include')
need = 201703
for header in ('ATen/ATen.h', 'c10/macros/Macros.h', 'torch/extension.h'):
    path = os.path.join(inc, header)
    if os.path.exists(path):
        text = open(path, errors='ignore').read()
        need = max([need] + [int(v) for v in re.findall(r'__cplusplus\s*<\s*(\d{6})L', text)])
print('c++17' if need <= 201703 else 'c++20' if need <= 202002 else 'c++23')
EOF
)
        info "torch headers need ${CXX_STD}; patching mmcv's setup.py"
        sed -i "s/-std=c++1[47]/-std=${CXX_STD}/g" "$SRC/setup.py"
        if [ "$CUDA_TAG" = cpu ]; then
            export FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=""   # mmcv picks CUDA when torch sees a GPU
        else
            export FORCE_CUDA=1
        fi
        info "compiling with MAX_JOBS=${MAX_JOBS:=$(nproc)}; the log is ${BUILD_DIR}/build.log"
        export MAX_JOBS
        if ! MMCV_WITH_OPS=1 "${BUILD_ENV[@]}" "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$BUILD_DIR/dist" "$SRC" \
                >"$BUILD_DIR/build.log" 2>&1; then
            tail -n 40 "$BUILD_DIR/build.log" >&2
            fail "Compiling mmcv ${MMCV_VERSION} failed; the full log is $BUILD_DIR/build.log." \
                 "Common causes: no C++ compiler (install g++), a CUDA toolkit that does not match" \
                 "torch.version.cuda, or too little memory (set MAX_JOBS=1)."
        fi
        mkdir -p "$WHEEL_DIR"
        # Copy then rename so an interrupted run never leaves a half-written wheel in the cache.
        for w in "$BUILD_DIR"/dist/mmcv-*.whl; do
            cp "$w" "$WHEEL_DIR/.$(basename "$w").part" && mv "$WHEEL_DIR/.$(basename "$w").part" "$WHEEL_DIR/$(basename "$w")"
        done
        WHEEL=$(ls "${WHEEL_DIR}"/mmcv-*.whl | head -n 1)
        info "cached ${WHEEL}"
        rm -rf "$BUILD_DIR"
    fi
    "${PIP[@]}" install "$WHEEL" \
        || fail "Could not install the mmcv wheel ${WHEEL}." "Delete ${WHEEL_DIR} to force a rebuild."
fi

# ---------------------------------------------------------------------------
step "mmengine, mmdet, timm, pycocotools, scikit-learn, onnx/onnxruntime and mmdfkd (pip install -e .)" "1-3 min the first time, ~20 s after"
# requirements/export.txt (onnx, onnxruntime: prebuilt wheels) is optional for users, but the tests
# check tools/export_student.py --onnx, so the set-up installs it.
"${PIP[@]}" install -r "${REPO_ROOT}/requirements/runtime.txt" -r "${REPO_ROOT}/requirements/tests.txt" \
    -r "${REPO_ROOT}/requirements/export.txt" \
    || fail "Could not install requirements/runtime.txt, requirements/tests.txt and requirements/export.txt."
"${PIP[@]}" install --no-build-isolation --no-deps -e "$REPO_ROOT" \
    || fail "pip install -e . failed."

# ---------------------------------------------------------------------------
step "verify the stack" "10 s"
"$PYTHON" - <<'EOF' || fail "The stack does not import; read the traceback above."
import torch
import mmcv, mmcv.ops, mmdet, mmengine, timm, pycocotools, sklearn, onnx, onnxruntime  # noqa: F401
import mmdfkd
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = mmcv.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)[1]
assert keep.tolist() == [0], keep
print(f'    mmdfkd {mmdfkd.__version__} | torch {torch.__version__} | mmcv {mmcv.__version__} (ops ok) '
      f'| mmdet {mmdet.__version__} | mmengine {mmengine.__version__} | timm {timm.__version__}')
EOF
printf '\n[mmdfkd install %3ds] done.\n' "$(( $(date +%s) - START ))"
