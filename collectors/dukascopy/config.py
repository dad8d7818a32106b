"""Config of ``kind: dukascopy``: a directory of Dukascopy hourly tick files played as a source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from collectors.base import PlaybackConfig
from collectors.dukascopy.points import default_point_px, point_px_of
from gateway.errors import InputError


class DukascopyConfig(PlaybackConfig):
    """Dukascopy files under ``path`` (``SYMBOL/YYYY/MM/DD/HHh_ticks.bi5``, as ``fxgw reference fetch`` writes).

    ``speed``: 1 = recorded pace, 10 = ten times faster, ``max`` = as fast as the pipeline takes them.
    ``keep_times``: false (default) stamps each tick's event and receive times with now, so the quality gate
    treats the source as live; true keeps the historical event time (receive time is still now), for
    reproducing a window into Kafka. The gate rejects a tick older than ``quality.max_age_ms`` on receipt
    as STALE, so ``keep_times: true`` needs ``quality.max_age_ms`` above the age of the oldest tick played
    (e.g. 10 years = 315360000000); the collector logs a warning when it starts with it.
    ``point_size``: Dukascopy's point as a decimal string, overriding points.default_point_px (one for all
    the source's instruments).
    """

    kind: Literal["dukascopy"] = "dukascopy"
    keep_times: bool = False
    point_size: str | None = Field(default=None, description="Decimal string, e.g. '0.001'; default from the table.")

    @field_validator("point_size")
    @classmethod
    def _point_size(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                point_px_of(value)
            except InputError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _enabled_source_is_usable(self) -> DukascopyConfig:
        """A disabled source may point at files that are not on this machine."""
        if self.point_size is None:
            for instrument in self.instruments:
                try:
                    default_point_px(instrument)
                except InputError as exc:
                    raise ValueError(str(exc)) from exc
        if self.enabled and not self.path.is_dir():
            raise ValueError(f"path {str(self.path)!r} is not a directory")
        return self

    def point_px(self, instrument: str) -> int:
        """The point of ``instrument`` in 1e-9 units: ``point_size`` if set, else the table's."""
        return point_px_of(self.point_size) if self.point_size is not None else default_point_px(instrument)
