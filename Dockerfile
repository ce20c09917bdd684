# ECR Lifeguard: the Slack bot (`ecr-lifeguard run`) and its CLI.
#
#   bash scripts/build_wheels.sh                       # optional: wheels for an offline build
#   docker build -t ecr-lifeguard .
#   docker run --read-only --tmpfs /tmp -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN ecr-lifeguard
#
# BASE must be a Debian-like image with python3 (3.11+) and its venv module; CI builds on a local
# debootstrap image with --build-arg BASE=localhost/debian-py:bookworm --build-arg PIP_NO_INDEX=1.
# Two stages: the builder installs the locked, hash-checked dependencies and the project into a
# venv; the final stage is the base plus that venv (no compiler, no pip, no caches) in one layer.
ARG BASE=python:3.11-slim

FROM ${BASE} AS builder
# Set to 1 to install only from dist/wheels (scripts/build_wheels.sh), without a package index.
ARG PIP_NO_INDEX
COPY . /src
RUN export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
      PIP_FIND_LINKS=/src/dist/wheels \
 && python3 -m venv /opt/lifeguard \
 && /opt/lifeguard/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
      -r /src/requirements/runtime.txt \
 && /opt/lifeguard/bin/pip install --no-cache-dir --no-deps /src \
 && /opt/lifeguard/bin/pip uninstall --yes pip setuptools \
 && mkdir -p /rootfs/opt /rootfs/etc \
 && mv /opt/lifeguard /rootfs/opt/ \
 && install -m 0755 /src/scripts/container_healthcheck.py \
      /rootfs/opt/lifeguard/bin/lifeguard-healthcheck \
 && cp /etc/passwd /etc/group /rootfs/etc/ \
 && echo 'lifeguard:x:10001:10001:ECR Lifeguard:/tmp:/usr/sbin/nologin' >> /rootfs/etc/passwd \
 && echo 'lifeguard:x:10001:' >> /rootfs/etc/group

# The settings that never change come before the venv, so they stay cached; every instruction
# costs a copy of the whole filesystem on some storage drivers (vfs).
FROM ${BASE}
# Read-only root filesystem: nothing is written but /tmp (an emptyDir in the chart).
ENV PATH=/opt/lifeguard/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# 8080: /healthz, /readyz, /metrics in Socket Mode; 3000: /slack/events and the same with --http.
EXPOSE 8080 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/opt/lifeguard/bin/python", "/opt/lifeguard/bin/lifeguard-healthcheck"]
ENTRYPOINT ["ecr-lifeguard"]
CMD ["run"]
COPY --from=builder /rootfs/ /
ARG BASE VERSION=0.1.0 REVISION=unknown CREATED=unknown
LABEL org.opencontainers.image.title="ecr-lifeguard" \
      org.opencontainers.image.description="Stops Amazon ECR lifecycle policies from deleting container images that running services still need." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE}"
