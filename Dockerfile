# Multi-stage image: build a wheel, install it into a slim runtime, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --upgrade pip build && python -m build --wheel --outdir /wheels

FROM python:3.11-slim AS runtime
# The embedded SQLite default lives in /data, the one directory the runtime user may write
# (the code and migrations in /srv/homework stay root's); mount a volume there to keep it.
# With PostgreSQL (compose.yaml) DATABASE_URL names the server instead and /data stays empty.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 APP_ENV=production \
    DATABASE_URL=sqlite+aiosqlite:////data/homework.db
RUN useradd --create-home --uid 10001 homework \
    && mkdir -p /data && chown homework:homework /data && chmod 0700 /data
WORKDIR /srv/homework
COPY --from=build /wheels /wheels
# The exact versions the suite passed with (constraints.txt, `make lock`), not the newest.
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir -c /tmp/constraints.txt /wheels/*.whl \
    && rm -rf /wheels /tmp/constraints.txt
# Migrations are run by `homework-api migrate` / `serve`, which look in the working directory.
COPY migrations ./migrations
COPY alembic.ini ./
USER homework
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["homework-api", "serve", "--host", "0.0.0.0", "--port", "8000", "--migrate"]
