# One image for every Census service: the command picks it.
#   docker build -t census .
#   docker run census ingest | aggregate | retention [--once] | dashboard | migrate
# Configuration is CENSUS_* environment variables; `docker run census <command> --help` lists them.

# Build stage: install the distribution into a self-contained virtualenv. Every dependency ships
# manylinux wheels, so no compiler is needed; the stage only keeps pip's work out of the image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/census
WORKDIR /src
COPY pyproject.toml README.md requirements-runtime.lock ./
COPY schemas/ schemas/
COPY services/ services/
# The runtime subset of the lock, exact versions with hashes; then Census itself with nothing
# resolved on the day (the lock holds the build backend too).
RUN /opt/census/bin/pip install --require-hashes --no-deps -r requirements-runtime.lock \
 && /opt/census/bin/pip install --no-deps --no-build-isolation .

FROM python:3.11-slim
# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without a name lookup.
RUN groupadd --system --gid 10001 census \
 && useradd --system --uid 10001 --gid census --no-create-home --shell /usr/sbin/nologin census
COPY --from=build /opt/census /opt/census
ENV PATH=/opt/census/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CENSUS_INGEST_HOST=0.0.0.0 \
    CENSUS_DASHBOARD_HOST=0.0.0.0 \
    CENSUS_OPS_HOST=0.0.0.0
# Public ports of ingest and the dashboard, then the ops ports (/metrics /healthz /readyz) of ingest,
# aggregator, retention and the dashboard. The dashboard's pages, styles and charts are served from
# the package itself (services/dashboard/static, server-rendered SVG): nothing from another host.
EXPOSE 8080 8081 9101 9102 9103 9104
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["census"]
CMD ["--help"]
