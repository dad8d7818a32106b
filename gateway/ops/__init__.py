"""Operations: /health, /metrics and the status line, rendered from one snapshot of the gateway taken when asked.

- ``snapshot``: the read model, frozen values the gateway fills (``Gateway.snapshot``).
- ``activity``: tick rates and recent drops, from snapshots sampled over time.
- ``health``: the /health status, problems and document (pure).
- ``metrics``: the Prometheus metrics (pure) and their prometheus-client collector.
- ``status_line``: the one-line status of ``fxgw run --status`` and ``fxgw demo``.
- ``server``: FastAPI on uvicorn in the gateway's event loop, serving /health and /metrics.

Nothing here imports the gateway's parts (app, pipeline, kafka, collectors): only their snapshot.
"""
