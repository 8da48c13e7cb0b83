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
go test -count=1 -tags matprofile -run 'NoMatLeaks' ./pipeline ./bench

echo "== benchmarks (short)"
go test -run '^$' -bench . -benchtime 20x -benchmem ./redact ./track ./count ./detect ./transport/vp8 ./pipeline

echo "== fuzzing (short)"
# Counts, not durations: a time-bounded run can end in "context deadline
# exceeded" from the fuzzing engine itself, with no failing input
# (FuzzInterleave once, FuzzParseCSV in a later CI run). Each count is about
# what the target ran in 10 s on the 2-core CI machine.
go test -run '^$' -fuzz '^FuzzParseCSV$' -fuzztime 180000x ./eval
CGO_ENABLED=0 go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 500000x ./eval/linetruth
go test -run '^$' -fuzz '^FuzzParsePasses$' -fuzztime 180000x ./pipeline
go test -run '^$' -fuzz '^FuzzParseSums$' -fuzztime 150000x ./models
go test -run '^$' -fuzz '^FuzzDarknetONNX$' -fuzztime 30000x ./detect
go test -run '^$' -fuzz '^FuzzFoldONNX$' -fuzztime 30000x ./detect
go test -run '^$' -fuzz '^FuzzInterleave$' -fuzztime 40000x ./cmd/veil
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 15000x ./config
CGO_ENABLED=0 go test -run '^$' -fuzz '^FuzzOffer$' -fuzztime 2500x ./transport/whep
CGO_ENABLED=0 go test -run '^$' -fuzz '^FuzzCounter$' -fuzztime 400000x ./count

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
