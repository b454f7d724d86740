# preprod serve, as a non-root user, with a health check on /healthz: liveness (the
# process answers). Not /readyz: an orchestrator replaces an unhealthy container, and a
# database or Slack outage must not restart every bot. Readiness (/readyz) is for load
# balancers, Kubernetes' readinessProbe and compose.yml's dependants.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY checks ./checks
COPY handlers ./handlers
RUN pip install ".[postgres]" \
    && useradd --create-home --uid 10001 preprod \
    && mkdir -p /data && chown preprod /data

USER preprod
WORKDIR /home/preprod
ENV PREPROD_CONFIG=/config/preprod.yml \
    DATABASE_URL=sqlite:////data/preprod.db

EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2).status != 200)"]

CMD ["preprod", "serve", "--host", "0.0.0.0", "--port", "3000"]
