# The image runs one gateway worker: `docker run -e REDIS_URL=redis://redis:6379/0 -v $PWD/gateway.toml:/etc/gateway.toml gateway`
# (Without REDIS_URL or redis_url it starts the embedded Redis instead: give it a volume, `serve --data-dir /data`.)
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY gateway ./gateway
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 gateway
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER gateway
ENV GATEWAY_CONFIG=/etc/gateway.toml
STOPSIGNAL SIGTERM
ENTRYPOINT ["gateway"]
CMD ["serve"]
