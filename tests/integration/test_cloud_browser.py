"""Cloud mode through the real page: headless Chromium, fake camera playing a real face photo,
WebRTC to a real `hybridlib serve --mode cloud` process on loopback."""
from __future__ import annotations

import pytest

from hybridlib import browser
from hybridlib.serving import media
from hybridlib.data import CLASS_NAMES

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]

WAIT_MS = 120_000

_RETURNED_GREEN = """async () => {
  const s = window.hlCloud && window.hlCloud.returned.stream;
  if (!s) return -1;
  const v = document.createElement('video');
  v.muted = true; v.playsInline = true; v.srcObject = s;
  await v.play();
  for (let i = 0; i < 50 && (v.videoWidth === 0 || v.currentTime === 0); i++) await new Promise(r => setTimeout(r, 100));
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 180 && d[i] < 90 && d[i + 2] < 90) n++;
  return n;
}"""


@pytest.fixture(scope="module")
def cloud_url(untrained_h5, work_dir):
    from hybridlib.study import load

    with load.server("cloud", untrained_h5, max_sessions=2, log_path=work_dir / "cloud_browser.log") as s:
        yield s


def test_page_streams_to_the_server_and_shows_results(cloud_url, clip):
    with browser.launch(fake_video=clip("astronaut")) as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{cloud_url.url}/")
        page.wait_for_function("() => window.hlState && (hlState.error || (hlState.mode === 'cloud' && "
                               "hlState.faces.length > 0 && hlState.rtt_ms != null))", timeout=WAIT_MS)
        st = page.evaluate("() => ({error: hlState.error, faces: hlState.faces, label: hlState.label,"
                           " rtt: hlState.rtt_ms, last: window.hlCloud.last,"
                           " rtt_text: document.getElementById('ms-rtt').textContent})")
        assert st["error"] is None, st["error"]
        assert not errors, errors
        msg = st["last"]
        assert msg["faces"], msg
        face = msg["faces"][0]
        assert face["emotion"] in CLASS_NAMES
        # the box is in the pixels of the frame as the server received it (Chromium may scale)
        w, h = msg["size"]
        sx, sy = 640 / w, 480 / h
        box = [face["box"][0] * sx, face["box"][1] * sy, face["box"][2] * sx, face["box"][3] * sy]
        truth = [b for b in media.face_clip_boxes("astronaut", size=(640, 480), n_frames=20, jitter=3.0) if b]
        assert any(media.contains_point(t, *media.box_centre(box)) and media.iou(t, box) >= 0.4 for t in truth)
        assert st["rtt"] > 0 and st["rtt_text"] not in ("", "–")
        # the returned video track carries the overlay drawn by the server
        assert page.evaluate(_RETURNED_GREEN) > 100
        m = cloud_url.metrics()
        assert m["sessions"] == 1 and m["frames_out"] > 0
        page.close()
