#!/usr/bin/env bash
# Fills the models directory from a local copy of the weights and checks every
# file against models/SHA256SUMS. Idempotent: files already present with the
# right sha256 are left alone. Nothing is downloaded.
#   VEIL_MODELS_SRC  where the weights are (default: ../shared/models beside the checkout)
#   VEIL_MODELS      the models directory to fill (default: models/ in the checkout)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=${VEIL_MODELS_SRC:-$root/../shared/models}
dst=${VEIL_MODELS:-$root/models}
sums=$root/models/SHA256SUMS

mkdir -p "$dst"
status=0
while read -r sum rel; do
	[ -n "$sum" ] || continue
	out=$dst/$rel
	if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$sum" ]; then
		continue
	fi
	if [ ! -f "$src/$rel" ]; then
		echo "veil: model $rel is missing: expected it at $src/$rel (upstream sources are listed in models/README.md)" >&2
		status=1
		continue
	fi
	got=$(sha256sum "$src/$rel" | cut -d' ' -f1)
	if [ "$got" != "$sum" ]; then
		echo "veil: model $src/$rel has sha256 $got, want $sum (see models/README.md)" >&2
		status=1
		continue
	fi
	mkdir -p "$(dirname "$out")"
	cp "$src/$rel" "$out.tmp" && mv "$out.tmp" "$out"
	echo "veil: installed model $rel" >&2
done <"$sums"
# Licences travel with the weights.
for lic in "$src"/*/LICENSE; do
	[ -f "$lic" ] || continue
	d=$dst/$(basename "$(dirname "$lic")")
	[ -d "$d" ] && cp -u "$lic" "$d/LICENSE" 2>/dev/null || true
done
exit $status
