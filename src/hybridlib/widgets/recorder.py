"""ipywebrtc's ``ImageRecorder``, measured: how many snapshots per second reach the kernel (the
reason :class:`hybridlib.widgets.CameraWidget` sends frames over anywidget's binary messages)."""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)


class RecorderProbe:
    """Measure how many ipywebrtc ``ImageRecorder`` snapshots reach the kernel per second.

    Each snapshot's arrival (the recorder's ``image.value`` changing) is timed, and the recorder
    is re-armed (``recording = True``) from the same observer — the only way to get a stream
    of frames out of it. ``label`` (an ipywidgets Label) shows the running count and rate.
    Re-arming is kernel → page → snapshot → page → kernel per frame, which is why it is slow.
    """

    def __init__(self, recorder: Any, max_frames: int = 300) -> None:
        import ipywidgets as W

        self.recorder = recorder
        self.max_frames = max_frames
        self.times: list[float] = []
        self.label = W.Label("ImageRecorder → kernel: no frames yet (needs a page with a camera)")
        recorder.image.observe(self._on_image, "value")
        # the page sets ``recording`` back to False after its snapshot (after the image): re-arm then
        recorder.observe(self._rearm, "recording")
        recorder.recording = True

    @property
    def rate(self) -> float | None:
        n = len(self.times)
        return (n - 1) / (self.times[-1] - self.times[0]) if n >= 2 and self.times[-1] > self.times[0] else None

    def _on_image(self, change: Any) -> None:
        try:
            if not change["new"]:
                return
            self.times.append(time.perf_counter())
            r = self.rate
            self.label.value = (f"ImageRecorder → kernel: {len(self.times)} frames"
                                + (f", {r:.2f} frames/s" if r else ""))
        except Exception:  # noqa: BLE001 - an observer's exception would be silent
            log.exception("ImageRecorder probe failed")

    def _rearm(self, change: Any) -> None:
        try:
            if not change["new"] and len(self.times) < self.max_frames:
                self.recorder.recording = True
        except Exception:  # noqa: BLE001
            log.exception("ImageRecorder probe: re-arming failed")
