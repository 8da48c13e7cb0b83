# syntax=docker/dockerfile:1
#
# The model weights are not in this repository. Pass the directory that holds
# them as the named build context "shared":
#   docker build --build-context shared=../shared -t veil .
# ../shared/models must hold the files listed in models/SHA256SUMS (see models/README.md).

# Build the binary. It uses cgo and links Debian's OpenCV 4.6.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY hack/install-deps.sh hack/install-deps.sh
RUN bash hack/install-deps.sh
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/veil ./cmd/veil

# Fill /models from the "shared" context. setup-models.sh checks every sha256,
# the same check that is run outside Docker. It also fetches ONNX Runtime's
# library (npm onnxruntime-node, checked by sha256) with curl.
FROM debian:bookworm-slim AS models
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY hack/setup-models.sh hack/setup-models.sh
COPY models/SHA256SUMS models/SHA256SUMS
COPY --from=shared models /shared/models
RUN VEIL_MODELS_SRC=/shared/models VEIL_MODELS=/models bash hack/setup-models.sh

FROM debian:bookworm-slim
# Provides the OpenCV 4.6 and libvpx libraries that the binary links against,
# ffmpeg (audio when redacting video) and opencv-doc (the demo clip).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 \
      libopencv-videoio406 libopencv-dnn406 libopencv-objdetect406 \
      libopencv-video406 libopencv-calib3d406 libopencv-features2d406 \
      libopencv-highgui406 libopencv-photo406 \
      libvpx7 opencv-doc ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/veil /usr/local/bin/veil
COPY --from=models /models /models
# The binary has SHA256SUMS built in. This copy lets you run `sha256sum -c` in /models.
COPY models/SHA256SUMS /models/SHA256SUMS
ENV VEIL_MODELS=/models
RUN useradd --system --create-home --home-dir /var/lib/veil --shell /usr/sbin/nologin veil
USER veil
WORKDIR /var/lib/veil
# Inside a container the gateway must listen beyond loopback; publish the
# ports only where the viewer and NATS should be reachable.
ENV VEIL_HTTP_LISTEN=0.0.0.0:8080 VEIL_NATS_LISTEN=0.0.0.0:4222
EXPOSE 8080 4222
# UDP for WebRTC media uses ephemeral ports: run with --network host, or set
# http.ice_hosts to the host's address.
ENTRYPOINT ["veil"]
CMD ["serve"]
