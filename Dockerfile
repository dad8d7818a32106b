# fxgw: forex tick gateway. Build: docker build -t fxgw .
# Run:   docker run --rm -e OANDA_PRACTICE_TOKEN -v $PWD/brokers.yaml:/etc/fxgw/brokers.yaml fxgw
# Demo:  docker run --rm -it fxgw demo
# Hub:   docker run --rm -p 7000:7000 fxgw hub --nats nats://NATS_HOST:4222 --host 0.0.0.0 (nats-server -js)
# Kafka: set kafka.spool.dir to /var/lib/fxgw/spool and keep that volume across restarts: an undelivered
#        spool is sent to Kafka when the gateway starts again.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY gateway ./gateway
COPY collectors ./collectors
COPY central_hub ./central_hub
RUN pip install --no-cache-dir . && useradd --system --uid 10001 fxgw \
    && mkdir -p /var/lib/fxgw && chown fxgw /var/lib/fxgw
VOLUME /var/lib/fxgw
COPY brokers.yaml /etc/fxgw/brokers.yaml

USER fxgw
# /health answers 503 when NATS is lost or no source delivers (http.port in the config, 8080 by default).
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8080/health').status != 200)"]
ENTRYPOINT ["fxgw"]
CMD ["run", "--config", "/etc/fxgw/brokers.yaml"]
