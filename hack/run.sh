#!/usr/bin/env bash
# The README's run command: installs what Veil needs (idempotently), builds
# it and redacts the bundled sample clip (OpenCV's vtest.avi, from opencv-doc)
# into out/. Arguments are passed to `veil redact` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash hack/install-deps.sh
bash hack/setup-models.sh
mkdir -p bin out
go build -o bin/veil ./cmd/veil

if [ $# -gt 0 ]; then
	exec bin/veil redact "$@"
fi
sample=/usr/share/doc/opencv-doc/examples/data/vtest.avi
exec bin/veil redact "$sample" -o out/vtest-redacted.mp4 -overwrite -report out/vtest-report.json
