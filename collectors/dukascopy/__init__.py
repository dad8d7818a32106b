"""Dukascopy historical ticks: ``parsing`` (pure: symbols, paths, point sizes, hour decode), ``files`` (a window
read from a directory), ``fetch`` (``fxgw reference fetch``), ``config`` and ``collector`` (``kind: dukascopy``)."""
