# fxgw: forex tick gateway. Build: docker build -t fxgw .
# Run:   docker run --rm -e OANDA_PRACTICE_TOKEN -v $PWD/brokers.yaml:/etc/fxgw/brokers.yaml fxgw
# Demo:  docker run --rm -it fxgw demo
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY collectors ./collectors
COPY central_hub ./central_hub
RUN pip install --no-cache-dir . && useradd --system --uid 10001 fxgw
COPY brokers.yaml /etc/fxgw/brokers.yaml

USER fxgw
ENTRYPOINT ["fxgw"]
CMD ["run", "--config", "/etc/fxgw/brokers.yaml"]
