#!/usr/bin/env bash
# The README's run command: installs what Veil needs (idempotently), builds
# it and runs the live gateway on its embedded defaults: one "demo" camera
# (OpenCV's vtest.avi from opencv-doc, pedestrians, played in a loop), the
# embedded NATS server on 127.0.0.1:4222 and the viewer on
# http://127.0.0.1:8080. A ./veil.yml, if present, is used instead of the
# defaults; arguments are passed to `veil serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash hack/install-deps.sh
bash hack/setup-models.sh
mkdir -p bin
go build -o bin/veil ./cmd/veil
exec bin/veil serve "$@"
