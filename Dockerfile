# syntax=docker/dockerfile:1
# One image for all five services and the website (services.web); docker-compose.yml chooses the service with `command:`
# (`python -m services.<name>`). Build: docker build -t citizen-appeals .

# --- build: a virtualenv with the pinned dependencies and the project, no build tools in the final image
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml or constraints.txt change.
COPY pyproject.toml constraints.txt LICENSE ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt

COPY libs ./libs
COPY services ./services
COPY devstack ./devstack
RUN pip install -c constraints.txt .

# The website's front-end libraries (htmx, Leaflet) from the npm registry, exactly as its
# package-lock.json pins them; only node_modules reaches the final image, not node itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends npm \
    && rm -rf /var/lib/apt/lists/* \
    && cd services/web && npm ci --no-audit --no-fund

# --- runtime
FROM python:3.11-slim

LABEL org.opencontainers.image.title="citizen-appeals" \
      org.opencontainers.image.description="Citizen appeals platform: intake, routing, deadlines, notify and media services" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APPEALS_LOG_JSON=true \
    APPEALS_HTTP_HOST=0.0.0.0

RUN groupadd --system --gid 10001 appeals \
    && useradd --system --uid 10001 --gid appeals --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin appeals

COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/services/web/node_modules /app/web/node_modules
ENV WEB_NODE_MODULES=/app/web/node_modules

WORKDIR /app
# The event catalogue the gateway serves at /api/v1/events/asyncapi.yaml.
COPY docs/asyncapi.yaml ./docs/asyncapi.yaml
# Numeric, so that orchestrators enforcing runAsNonRoot can verify it.
USER 10001:10001

# intake (public gateway) 8000; routing 8001, deadlines 8002, notify 8003, media 8004 (internal); web 8080.
EXPOSE 8000 8001 8002 8003 8004 8080

CMD ["python", "-m", "services.intake"]
