# preprod serve, as a non-root user, with a health check on /healthz: liveness (the
# process answers). Not /readyz: an orchestrator replaces an unhealthy container, and a
# database or Slack outage must not restart every bot. Readiness (/readyz) is for load
# balancers, Kubernetes' readinessProbe and compose.yml's dependants.
#
# BASE chooses the base image: python:3.11-slim where a registry is reachable (the
# default), or any Debian-like image with python3 and python3-venv (bench/image.sh builds
# one with mmdebstrap where no registry is). The app goes into a venv, so both bases
# install it the same way (Debian's own python refuses a system-wide pip install).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY checks ./checks
COPY handlers ./handlers
# Behind a proxy that re-signs TLS, pass its CA bundle as a build secret:
#   docker build --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt .
RUN --mount=type=secret,id=pip_ca \
    if [ -f /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && python3 -m venv /opt/preprod \
    && /opt/preprod/bin/pip install ".[postgres]" \
    && useradd --create-home --uid 10001 preprod \
    && mkdir -p /data && chown preprod /data

USER preprod
WORKDIR /home/preprod
# PREPROD_PORT: where the bot listens and the health check asks (3000 unless changed).
ENV PATH=/opt/preprod/bin:$PATH \
    PREPROD_CONFIG=/config/preprod.yml \
    DATABASE_URL=sqlite:////data/preprod.db \
    PREPROD_PORT=3000

EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PREPROD_PORT', '3000')}/healthz\", timeout=2).status != 200)"]

# exec: preprod is PID 1 and gets SIGTERM itself (the graceful stop hands runs over).
CMD ["sh", "-c", "exec preprod serve --host 0.0.0.0 --port \"${PREPROD_PORT:-3000}\""]
