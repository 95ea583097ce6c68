# Container image for the lifecycle daemon.
#   docker build -t lifecycle .
#   docker run --env-file lifecycle.env -v $PWD/rules:/etc/lifecycle/rules:ro \
#              -v lifecycle-data:/var/lib/lifecycle -p 127.0.0.1:8787:8787 lifecycle
# Mount the rules *directory*, not the file: an editor that saves by writing a new file and
# renaming it over the old one changes which inode the name points to, and a bind mount of
# the single file keeps showing the old inode, so the daemon would never see the edit
# (README, Deploy: containers).
# It listens on 0.0.0.0 inside the container: set LIFECYCLE_WEBHOOK_TOKEN (or _FILE) and
# publish the port only where it must be reached (README, Deploy: protecting the HTTP port).
FROM python:3.12-slim
RUN useradd --system --create-home --home-dir /var/lib/lifecycle lifecycle
WORKDIR /opt/lifecycle
COPY pyproject.toml README.md ./
COPY lifecycle ./lifecycle
# Not editable: the image holds an installed package, migrations included, and no checkout.
RUN pip install --no-cache-dir . && rm -rf /opt/lifecycle/lifecycle /opt/lifecycle/build
COPY rules.yaml /etc/lifecycle/rules/rules.yaml
USER lifecycle
WORKDIR /var/lib/lifecycle
ENV LIFECYCLE_RULES=/etc/lifecycle/rules/rules.yaml \
    LIFECYCLE_DATABASE_URL=sqlite+aiosqlite:////var/lib/lifecycle/lifecycle.db \
    LIFECYCLE_HTTP=0.0.0.0:8787
EXPOSE 8787
# Asks the port LIFECYCLE_HTTP names (a wildcard host is asked on loopback), so a changed
# port never turns a healthy container unhealthy.
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import os,sys,urllib.request as u; h,_,p=os.environ.get('LIFECYCLE_HTTP','127.0.0.1:8787').rpartition(':'); h={'0.0.0.0':'127.0.0.1','[::]':'[::1]','':'127.0.0.1'}.get(h,h); sys.exit(0 if u.urlopen(f'http://{h}:{p}/healthz',timeout=4).status==200 else 1)"]
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "lifecycle db upgrade && exec lifecycle run"]
