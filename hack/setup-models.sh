#!/usr/bin/env bash
# Fills the models directory from a local copy of the weights and checks every
# file against models/SHA256SUMS. Idempotent: files already present with the
# right sha256 are left alone. The weights are not downloaded. ONNX Runtime's
# shared library (onnxruntime/linux-<arch>/, the faster engine for the ONNX
# detectors) is taken from the npm package onnxruntime-node, fetched once from
# the npm registry into a cache and checked by sha256 too; only this machine's
# architecture is installed (none where the package has none: Veil then runs
# every network on OpenCV).
#   VEIL_MODELS_SRC  where the weights are (default: ../shared/models beside the checkout)
#   VEIL_MODELS      the models directory to fill (default: models/ in the checkout)
#   VEIL_ORT_TGZ     the onnxruntime-node 1.30.0 package, if already at hand
#                    (default: fetched into ~/.cache/veil/)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=${VEIL_MODELS_SRC:-$root/../shared/models}
dst=${VEIL_MODELS:-$root/models}
sums=$root/models/SHA256SUMS

case $(uname -m) in
x86_64) ortarch=x64 ;;
aarch64) ortarch=arm64 ;;
*) ortarch=none ;;
esac
ort_version=1.30.0
ort_tgz_sha256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
ort_url=https://registry.npmjs.org/onnxruntime-node/-/onnxruntime-node-$ort_version.tgz

# ort_tgz prints the path of the checked onnxruntime-node package, fetching it
# into the cache first if need be.
ort_tgz() {
	local tgz=${VEIL_ORT_TGZ:-${XDG_CACHE_HOME:-$HOME/.cache}/veil/onnxruntime-node-$ort_version.tgz}
	# A package given by hand is checked, never replaced by a download.
	if [ -z "${VEIL_ORT_TGZ:-}" ] && { [ ! -f "$tgz" ] || [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$ort_tgz_sha256" ]; }; then
		mkdir -p "$(dirname "$tgz")"
		echo "veil: fetching $ort_url" >&2
		if ! curl -fsSL --retry 3 -o "$tgz.tmp" "$ort_url"; then
			rm -f "$tgz.tmp"
			echo "veil: could not fetch $ort_url: ONNX Runtime not installed; the detectors will run on OpenCV (dnn: auto), at about twice the CPU" >&2
			return 2
		fi
		mv "$tgz.tmp" "$tgz"
	fi
	local got
	got=$(sha256sum "$tgz" 2>/dev/null | cut -d' ' -f1) || true
	if [ "$got" != "$ort_tgz_sha256" ]; then
		echo "veil: $tgz has sha256 $got, want $ort_tgz_sha256" >&2
		return 1
	fi
	echo "$tgz"
}

mkdir -p "$dst"
status=0
while read -r sum rel; do
	[ -n "$sum" ] || continue
	out=$dst/$rel
	if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$sum" ]; then
		continue
	fi
	case $rel in
	onnxruntime/*)
		[ "$rel" = "onnxruntime/linux-$ortarch/libonnxruntime.so.$ort_version" ] || continue
		# Unreachable registry: a warning (auto falls back to OpenCV); a
		# package that fails its check: an error.
		rc=0
		tgz=$(ort_tgz) || rc=$?
		if [ "$rc" = 2 ]; then
			continue
		elif [ "$rc" != 0 ]; then
			status=1
			continue
		fi
		mkdir -p "$(dirname "$out")"
		if ! tar -xzf "$tgz" -O "package/bin/napi-v6/linux/$ortarch/libonnxruntime.so.1" >"$out.tmp"; then
			rm -f "$out.tmp"
			echo "veil: $tgz holds no linux/$ortarch library" >&2
			status=1
			continue
		fi
		got=$(sha256sum "$out.tmp" | cut -d' ' -f1)
		if [ "$got" != "$sum" ]; then
			rm -f "$out.tmp"
			echo "veil: $rel from $tgz has sha256 $got, want $sum" >&2
			status=1
			continue
		fi
		mv "$out.tmp" "$out"
		echo "veil: installed $rel (ONNX Runtime $ort_version, MIT, from npm onnxruntime-node)" >&2
		continue
		;;
	esac
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
