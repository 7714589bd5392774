# syntax=docker/dockerfile:1
# Build:  docker build -t tradehook .
# Run:    docker run -p 8080:8080 -v tradehook-data:/data -e TRADEHOOK_ADMIN_KEY=... tradehook
# Requires BuildKit (the default in current Docker) for the cache mounts.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# The whole crates/ dir is needed: the server embeds config.default.toml and
# the store embeds its migrations at compile time.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# target/ lives in a cache mount, so copy the binary out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tradehook-server \
    && cp target/release/tradehook /tradehook
# Distroless has no shell or mkdir: prepare the data dir here.
RUN mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /tradehook /usr/local/bin/tradehook
COPY --from=builder --chown=65532:65532 /data /data
WORKDIR /data
ENV TRADEHOOK_LISTEN=0.0.0.0:8080 \
    TRADEHOOK_LOG_FORMAT=json \
    TRADEHOOK_DATABASE_URL=sqlite:///data/tradehook.db
VOLUME /data
EXPOSE 8080
USER nonroot
# No shell or curl here, so no HEALTHCHECK: have the orchestrator probe
# GET /ready (readiness, database answers) and GET /health (liveness).
# SIGTERM stops the server gracefully (exit 0).
ENTRYPOINT ["/usr/local/bin/tradehook"]
CMD ["serve"]
