"""The standalone best-price aggregator (``fxgw aggregate``): one best price across gateways sharded by broker.

- :mod:`gateway.aggregate.config`: the typed config file (``aggregate.yaml``);
- :mod:`gateway.aggregate.feed`: what gateways publish, read into the aggregator, with gaps found from ``batch_seq``;
- :mod:`gateway.aggregate.lease`: whether this aggregator may publish (the lease and the takeover);
- :mod:`gateway.aggregate.service`: NATS, the lease task, the expiry timer, the publisher and the Kafka spool.
"""
