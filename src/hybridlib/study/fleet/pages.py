"""Real Chromium pages of the app in split mode beside the lightweight clients.

Each page is the app itself (fake camera playing a real face photo, face detection and the
head in TF.js, the tail posted to the server, re-planning when the link or the load moves),
slowed to a device class with DevTools CPU throttling; during a run its link follows the same
trace as the lightweight phones (DevTools network emulation), so the server sees real browsers
and the pages' own planner reacts to the same changes. Playwright's sync API runs in a thread
of its own, apart from the clients' event loop. Chromium missing → a logged warning, no pages.
"""
from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hybridlib import browser
from hybridlib.profiling import devices
from hybridlib.serving import media
from hybridlib.study.fleet.clients import LinkTrace

log = logging.getLogger(__name__)

_STATE_JS = ("() => ({ready: hlState.ready, error: hlState.error, cut: hlState.split && hlState.split.cut,"
             " plan: hlState.plan && hlState.plan.cut, kind: hlState.plan && hlState.plan.kind,"
             " plans: hlState.plans, frames: hlState.frames, load: hlState.load === undefined ? null : hlState.load,"
             " label: hlState.label})")


class PageFleet:
    """``n`` app pages of a split-mode server; :meth:`start` opens them and waits until each is
    ready (planned, head loaded), :meth:`begin` starts following ``trace`` from a run's zero,
    :meth:`stop` closes them and returns what was sampled (twice a second). ``reprobe_s``: how
    often each page re-measures its link and the server's load (the app's ``?reprobe_ms``)."""

    def __init__(self, url: str, n: int, device: str = "phone", trace: LinkTrace | None = None,
                 ready_timeout_s: float = 120.0, reprobe_s: float = 2.0):
        self.url, self.n, self.device, self.trace = url, int(n), devices.get_device(device), trace
        self.ready_timeout_s, self.reprobe_s = ready_timeout_s, reprobe_s
        self.samples: list[dict[str, Any]] = []
        self.error: str | None = None
        self.ready_s: float | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._t0: float | None = None
        self._thread: threading.Thread | None = None

    def available(self) -> str | None:
        """Why pages cannot run here (None when they can)."""
        if self.n <= 0:
            return "pages = 0"
        if not browser.have_chromium():
            return "Chromium not installed"
        missing = browser.missing_vendor_files()
        return f"npm assets missing ({', '.join(missing[:3])})" if missing else None

    def start(self) -> bool:
        why = self.available()
        if why is not None:
            if self.n > 0:
                log.warning("fleet: no Chromium pages (%s); lightweight clients only", why)
            self.error = why
            return False
        self._thread = threading.Thread(target=self._main, name="hl-fleet-pages", daemon=True)
        self._thread.start()
        self._ready.wait(self.ready_timeout_s + 30)
        return self.error is None and self.ready_s is not None

    def begin(self, t0: float) -> None:
        self._t0 = t0

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        return {"pages": self.n, "device": self.device.name, "ready_s": self.ready_s, "error": self.error,
                "samples": self.samples}

    def _main(self) -> None:
        t_open = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="hl-fleet-") as d:
                clip = media.make_y4m("astronaut", Path(d) / "face.y4m", size=(640, 480), n_frames=20, fps=15,
                                      jitter=3.0)
                with browser.launch(fake_video=clip) as ctx:
                    pages = []
                    for _ in range(self.n):
                        page = ctx.new_page()
                        cdp = ctx.new_cdp_session(page)
                        devices.apply_device(cdp, self.device)
                        page.goto(f"{self.url}/?reprobe_ms={int(self.reprobe_s * 1000)}")
                        pages.append((page, cdp))
                    for page, _ in pages:
                        page.wait_for_function("() => window.hlState && (hlState.ready || hlState.error)",
                                               timeout=self.ready_timeout_s * 1000)
                        err = page.evaluate("() => hlState.error")
                        if err:
                            raise RuntimeError(f"page error: {err}")
                    self.ready_s = round(time.perf_counter() - t_open, 2)
                    self._ready.set()
                    self._follow(pages)
        except Exception as e:  # noqa: BLE001 - a failed page run is recorded, the clients go on
            self.error = f"{type(e).__name__}: {e}"[:300]
            log.warning("fleet pages failed: %s", self.error)
        finally:
            self._ready.set()

    def _follow(self, pages: list[tuple[Any, Any]]) -> None:
        applied: str | None = None
        while not self._stop.is_set():
            t = None if self._t0 is None else time.perf_counter() - self._t0
            if t is not None and self.trace is not None:
                link = self.trace.at(t)
                if link != applied:
                    for _, cdp in pages:
                        devices.apply_network(cdp, link)
                    applied = link
            for i, (page, _) in enumerate(pages):
                st = page.evaluate(_STATE_JS)
                self.samples.append({"t": None if t is None else round(t, 3), "page": i, "link": applied, **st})
            self._stop.wait(0.5)
