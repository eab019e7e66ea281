# syntax=docker/dockerfile:1
# tailwatch container image: `docker build -t tailwatch:0.1.0 .` (BuildKit, the default since
# Docker 23, is needed for the cache mounts). deploy/README.md explains the choices.

# ---- build: Rust plus what librdkafka's cmake build links against (TLS, SASL, zlib, zstd)
FROM rust:1-bookworm AS builder
# Package versions are not pinned (hadolint DL3008): the image tag fixes the Debian release,
# and pinning would drop security updates or break the build when Debian replaces a version.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        cmake g++ make pkg-config libssl-dev libsasl2-dev zlib1g-dev libzstd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the crate registry and target/ between builds, so a source change rebuilds
# tailwatch, not librdkafka and every dependency. The binary is copied out of the cache in the
# same step (cache mounts are not part of the image).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tailwatch \
 && install -D -m 0755 target/release/tailwatch /out/tailwatch

# ---- runtime: glibc and the shared libraries the binary links, nothing else
# debian:bookworm-slim rather than distroless/cc: distroless has no libsasl2 (and no zstd),
# and the builder is bookworm too, so the libraries match what the binary was linked against.
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        ca-certificates libssl3 libsasl2-2 zlib1g libzstd1 \
 && rm -rf /var/lib/apt/lists/*
# Rules and the approximate Beijing boundary are compiled into the binary; overrides come from
# the ConfigMap mounted at /etc/tailwatch, so the image carries no configuration of its own.
COPY --from=builder /out/tailwatch /usr/local/bin/tailwatch
# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry.
USER 65532:65532
EXPOSE 9464
LABEL org.opencontainers.image.title="tailwatch" \
      org.opencontainers.image.description="Heavy-truck emission enforcement from Kafka streams" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/usr/local/bin/tailwatch"]
CMD ["run", "--config", "/etc/tailwatch/tailwatch.toml"]
