#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotently),
# then runs formatting and vet checks, the Mat leak test, short benchmarks and
# fuzzing (so they cannot rot), and the whole test suite last.
set -euo pipefail
cd "$(dirname "$0")/.."

VEIL_WITH_BROWSER=1 bash hack/install-deps.sh
bash hack/setup-models.sh
# Browser tests must run here, never skip.
export VEIL_REQUIRE_BROWSER=1

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

echo "== Mat leak check (-tags matprofile)"
go test -count=1 -tags matprofile -run 'NoMatLeaks' ./pipeline

echo "== benchmarks (short)"
go test -run '^$' -bench . -benchtime 20x -benchmem ./redact ./track ./count ./detect ./transport/vp8 ./pipeline

echo "== fuzzing (short)"
go test -run '^$' -fuzz '^FuzzParseCSV$' -fuzztime 10s ./eval
CGO_ENABLED=0 go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 10s ./eval/linetruth
go test -run '^$' -fuzz '^FuzzParsePasses$' -fuzztime 10s ./pipeline
go test -run '^$' -fuzz '^FuzzParseSums$' -fuzztime 10s ./models
# A count, not a duration: a time-bounded run of this target once ended in
# "context deadline exceeded" from the fuzzing engine itself (no failing input).
go test -run '^$' -fuzz '^FuzzInterleave$' -fuzztime 40000x ./cmd/veil
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 10s ./config
CGO_ENABLED=0 go test -run '^$' -fuzz '^FuzzOffer$' -fuzztime 10s ./transport/whep
CGO_ENABLED=0 go test -run '^$' -fuzz '^FuzzCounter$' -fuzztime 10s ./count

echo "== network side without cgo (no image library can reach it)"
CGO_ENABLED=0 go test -count=1 ./transport/whep ./transport/media ./transport/natsbus ./count ./eval/linetruth

# The third-party WHEP client TestServeThirdPartyWHEP plays a camera with
# (pinned by testdata/whepclient/package-lock.json; node_modules is not
# committed): installed when missing or when the lock file changed.
if [ ! -f testdata/whepclient/node_modules/.package-lock.json ] ||
	[ testdata/whepclient/package-lock.json -nt testdata/whepclient/node_modules/.package-lock.json ]; then
	npm ci --prefix testdata/whepclient --no-audit --no-fund
fi

echo "== tests"
go test -count=1 -timeout 30m ./...
