#!/usr/bin/env bash
# The README's run command: installs what Veil needs (idempotently), builds
# it and redacts the first 10 s of the bundled sample clip (OpenCV's
# vtest.avi, from opencv-doc) into out/ with the default, recall-first
# settings (about 2 s a frame on 2 cores until the speed work lands).
# Arguments are passed to `veil redact` instead.
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
ffmpeg -loglevel error -nostdin -y -i "$sample" -t 10 -c copy out/vtest-10s.avi
exec bin/veil redact out/vtest-10s.avi -o out/vtest-redacted.mp4 -overwrite -report out/vtest-report.json
