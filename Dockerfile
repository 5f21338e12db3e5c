# webrtc-gateway on Debian 12 (bookworm): GStreamer 1.22.
# Build:  docker build -t webrtc-gateway .
# Run:    docker run --rm --network host webrtc-gateway
#         (or -p 8088:8088 -p 8188:8188 -p 8554:8554 -p 20000-20200:20000-20200/udp and set
#          nat.nat_1_1_mapping in conf/docker.toml to the host's address)

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libglib2.0-dev \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev \
      libgstrtspserver-1.0-dev npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The pipeline catalogs are built into the binary too (include_str!).
COPY pipelines ./pipelines
RUN cargo build --release --locked --bin webrtc-gateway
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
      gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice libgstrtspserver-1.0-0 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/webrtc-gateway /usr/local/bin/webrtc-gateway
COPY --from=build /src/node_modules ./node_modules
COPY conf ./conf
COPY demo ./demo
COPY pipelines ./pipelines
# GLib 2.74's slice allocator keeps per-thread magazines; plain malloc saves
# about 0.2 MB per subscriber (docs/testing.md, SFU load).
ENV G_SLICE=always-malloc
EXPOSE 8088/tcp 8188/tcp 8554/tcp 20000-20200/udp
CMD ["webrtc-gateway", "--config", "conf/docker.toml"]
