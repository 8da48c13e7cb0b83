#!/usr/bin/env bash
# Installs the Debian packages Veil needs to build, run and test. Idempotent:
# packages already present are not fetched again.
#   VEIL_WITH_BROWSER=1  also installs Chromium and gst-rtsp-server (browser
#                        tests; the RTSP test builds testdata/rtspserver).
set -euo pipefail

pkgs=(build-essential pkg-config libopencv-dev opencv-data opencv-doc ffmpeg libvpx-dev curl ca-certificates)
if [ "${VEIL_WITH_BROWSER:-0}" = 1 ]; then
	pkgs+=(chromium)
	# testdata/rtspserver: gst-rtsp-server, multifilesrc and rtpjpegpay
	# (good), jpegparse (bad), appsink for RTSP over TCP (base).
	pkgs+=(libgstrtspserver-1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi
echo "veil: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
