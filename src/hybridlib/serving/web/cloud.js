// hybridlib cloud mode client: the camera goes to the server over WebRTC, results come back.
//
// startCloud(stream, {onResult, onStats}) → Promise<stop()>
//   * adds the camera track (sendrecv: the ours and seed pipelines return the video with the overlay
//     drawn; --pipeline fast returns none — its answer makes the transceiver recvonly — and the
//     page draws from the results messages in every case; `returned` stays null then),
//   * opens the data channel "results" (the server answers one JSON message per processed
//     frame: {frame, pts, faces: [{box, emotion, probs}], server_ms}),
//   * POSTs the offer to /offer (503 = server full: the error says so and carries .status,
//     .body = {error, reason, max_sessions} and .retryAfter),
//   * calls onResult(msg) with msg.rtt_ms added, and onStats({rtt_ms, ping_ms, lag_ms,
//     answered, fps, connection}) about once a second.
//
// Round trip: a browser cannot tag its camera frames, so rtt_ms is estimated as
//   data-channel ping RTT + server_ms + lag, where lag is how much later than its fastest
//   frame this frame's answer arrived (from the frame's RTP time `pts`, 90 kHz, that the
//   server echoes). It shows lag building up; the load generator measures exact round trips.

const CLOCK = 90000;

function waitIce(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
    });
  });
}

export async function startCloud(stream, { onResult = () => {}, onStats = () => {}, url = "" } = {}) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const track = stream.getVideoTracks()[0];
  if (!track) throw new Error("no camera track to send");
  pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
  const channel = pc.createDataChannel("results", { ordered: false, maxRetransmits: 0 });

  let pingMs = null, minOffset = Infinity, answered = 0, lastTick = performance.now(), tickCount = 0, fps = 0;
  let lastRtt = null, lastLag = null;
  const returned = { stream: null };
  pc.addEventListener("track", (ev) => { returned.stream = ev.streams[0] || new MediaStream([ev.track]); });

  channel.addEventListener("message", (ev) => {
    const now = performance.now();
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.pong != null) { pingMs = now - msg.pong; return; }
    if (!Array.isArray(msg.faces)) return;
    answered += 1;
    tickCount += 1;
    if (msg.pts != null) {
      const offset = now - (msg.pts / CLOCK) * 1000;  // arrival time minus capture time + const
      minOffset = Math.min(minOffset, offset);
      lastLag = offset - minOffset;
    }
    lastRtt = (pingMs ?? 0) + (msg.server_ms ?? 0) + (lastLag ?? 0);
    msg.rtt_ms = lastRtt;
    msg.lag_ms = lastLag;
    if (window.hlCloud) window.hlCloud.last = msg;
    onResult(msg);
  });

  const timer = setInterval(() => {
    if (channel.readyState === "open") channel.send(JSON.stringify({ ping: performance.now() }));
    const now = performance.now();
    fps = (tickCount * 1000) / Math.max(1, now - lastTick);
    lastTick = now; tickCount = 0;
    onStats({ rtt_ms: lastRtt, ping_ms: pingMs, lag_ms: lastLag, answered, fps,
              connection: pc.connectionState, returned: returned.stream });
  }, 1000);

  const stop = () => {
    clearInterval(timer);
    try { channel.close(); } catch {}
    try { pc.close(); } catch {}
  };

  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitIce(pc);
    const res = await fetch(`${url}/offer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
    });
    let body = null;
    try { body = await res.json(); } catch {}
    if (!res.ok) {
      const why = (body && body.error) || `HTTP ${res.status}`;
      const err = new Error(res.status === 503 ? `Server is full, try again later (${why})` : why);
      err.status = res.status;  // 503: admission control said no (app.js shows it and retries)
      err.body = body;
      err.retryAfter = Number(res.headers.get("Retry-After")) || null;
      throw err;
    }
    await pc.setRemoteDescription(body);
  } catch (e) {
    stop();
    throw e;
  }
  window.hlCloud = { pc, channel, returned, stop };  // for tests and the curious
  return stop;
}
