"""Comparing two tick feeds over one window (``fxgw validate``): pure analysis of :class:`TickSeries`."""
