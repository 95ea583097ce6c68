# Container image for the lifecycle daemon.
#   docker build -t lifecycle .
#   docker run --env-file lifecycle.env -v $PWD/rules.yaml:/etc/lifecycle/rules.yaml:ro \
#              -v lifecycle-data:/var/lib/lifecycle -p 127.0.0.1:8787:8787 lifecycle
# It listens on 0.0.0.0 inside the container: set LIFECYCLE_WEBHOOK_TOKEN (or _FILE) and
# publish the port only where it must be reached (README, Deploy: protecting the HTTP port).
FROM python:3.12-slim
RUN useradd --system --create-home --home-dir /var/lib/lifecycle lifecycle
WORKDIR /opt/lifecycle
COPY pyproject.toml README.md alembic.ini ./
COPY lifecycle ./lifecycle
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
COPY rules.yaml /etc/lifecycle/rules.yaml
USER lifecycle
WORKDIR /var/lib/lifecycle
ENV LIFECYCLE_RULES=/etc/lifecycle/rules.yaml \
    LIFECYCLE_DATABASE_URL=sqlite+aiosqlite:////var/lib/lifecycle/lifecycle.db \
    LIFECYCLE_HTTP=0.0.0.0:8787
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8787/healthz').status==200 else 1)"
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "lifecycle db upgrade && exec lifecycle run"]
