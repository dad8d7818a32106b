"""External-data collectors: market context published on ``market.external.<type>`` and to Kafka.

One module per provider (``economic_calendar``, ``fred``, ``coingecko``, ``fear_greed``,
``yahoo_commodities``, ``market_sessions``, ``news``, ``cot``), each with a ``<Name>Config``, pure
parsing functions (bytes in, :class:`gateway.events.Parsed` out, time passed in) and a ``<Name>Collector``
on the shared bases: :mod:`collectors.external.base` (change detection, publishing, status, counters)
and :mod:`collectors.polling` (HTTP schedule, rate limits, conditional requests, retries).
"""
