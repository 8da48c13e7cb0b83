// Veil viewer: one WHEP player per camera, reconnecting by itself.
'use strict';

const grid = document.getElementById('grid');
const summary = document.getElementById('summary');
const tmpl = document.getElementById('card');
const players = new Map(); // camera name -> Player

// Stats the page exposes (tests and operators read window.veil.stats).
window.veil = { stats: {}, players };

const U32 = 4294967296;

class Player {
  constructor(cam) {
    this.name = cam.name;
    this.url = cam.whep_url;
    this.el = tmpl.content.firstElementChild.cloneNode(true);
    this.el.dataset.camera = cam.name;
    this.video = this.el.querySelector('video');
    this.overlay = this.el.querySelector('.overlay');
    this.el.querySelector('.name').textContent = cam.name;
    grid.appendChild(this.el);
    this.stats = window.veil.stats[cam.name] = {
      state: 'connecting', frames: 0, ttffMs: null, latencies: [], connects: 0, reconnects: 0,
    };
    this.backoff = 1000;
    this.pc = null;
    this.session = null;
    this.lastFrames = 0;
    this.lastProgress = performance.now();
    this.watchVideo();
    this.connect();
  }

  setLink(state) {
    this.stats.state = state;
    this.el.querySelector('.link').textContent = state;
  }

  async connect() {
    this.close();
    this.stats.connects++;
    const started = performance.now();
    this.started = started;
    this.stats.ttffMs = null;
    this.setLink('connecting');
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.ontrack = (ev) => { this.video.srcObject = ev.streams[0] || new MediaStream([ev.track]); };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      this.setLink(pc.connectionState);
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.retry('connection ' + pc.connectionState);
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, 2000);
      const res = await fetch(this.url, {
        method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
      });
      if (res.status !== 201) throw new Error('WHEP ' + res.status + ': ' + (await res.text()).trim());
      this.session = new URL(res.headers.get('Location'), location.href).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      this.lastProgress = performance.now();
    } catch (e) {
      if (pc === this.pc) this.retry(e.message);
    }
  }

  retry(why) {
    if (this.timer) return;
    this.setLink('reconnecting');
    this.overlay.textContent = 'reconnecting: ' + why;
    this.stats.reconnects++;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 8000);
    this.timer = setTimeout(() => { this.timer = null; this.connect(); }, wait);
  }

  close() {
    if (this.session) {
      fetch(this.session, { method: 'DELETE' }).catch(() => {});
      this.session = null;
    }
    if (this.pc) { this.pc.close(); this.pc = null; }
  }

  // Frames, time to first frame and capture-to-display latency. The gateway
  // stamps each frame's RTP timestamp with its capture time (90 kHz wall
  // clock), so on the same host latency is display time minus that.
  watchVideo() {
    const v = this.video;
    if (!v.requestVideoFrameCallback) return;
    const onFrame = (now, md) => {
      this.stats.frames++;
      if (this.stats.ttffMs === null) {
        this.stats.ttffMs = Math.round(performance.now() - this.started);
        this.overlay.textContent = '';
        this.backoff = 1000;
      }
      if (md.rtpTimestamp !== undefined) {
        const shown = performance.timeOrigin + (md.expectedDisplayTime || now);
        const lat = (((shown * 90 - md.rtpTimestamp) % U32) + U32) % U32 / 90;
        if (lat < 60000) {
          const l = this.stats.latencies;
          l.push(lat);
          if (l.length > 600) l.shift();
        }
      }
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }

  // Called every second: reconnect a stream whose frames stopped.
  tick(cam) {
    const q = this.video.getVideoPlaybackQuality ? this.video.getVideoPlaybackQuality().totalVideoFrames : this.stats.frames;
    const now = performance.now();
    if (q !== this.lastFrames) { this.lastFrames = q; this.lastProgress = now; }
    const stalled = now - this.lastProgress > 6000;
    if (cam.state !== 'running') {
      this.overlay.textContent = cam.state === 'reconnecting' ? 'source reconnecting' + (cam.error ? ': ' + cam.error : '') : cam.state;
    } else if (stalled && !this.timer) {
      this.retry('no frames for 6 s');
      this.lastProgress = now;
    } else if (!this.timer && this.stats.ttffMs !== null) {
      this.overlay.textContent = '';
    }
    const st = this.el.querySelector('.state');
    st.textContent = cam.state;
    st.className = 'state ' + cam.state;
    const l = this.stats.latencies.slice(-30).sort((a, b) => a - b);
    set(this.el, '.fps', cam.fps ? cam.fps.toFixed(1) : '0');
    set(this.el, '.latency', l.length ? Math.round(l[l.length >> 1]) + ' ms' : '-');
    set(this.el, '.faces', cam.faces_redacted);
    set(this.el, '.plates', cam.plates_redacted);
    set(this.el, '.dropped', cam.frames_dropped + cam.frames_dropped_late);
  }
}

function set(el, sel, v) { el.querySelector(sel).textContent = v; }

function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

async function poll() {
  try {
    const res = await fetch('api/cameras', { cache: 'no-store' });
    const cams = await res.json();
    let running = 0;
    for (const cam of cams) {
      if (!players.has(cam.name)) players.set(cam.name, new Player(cam));
      players.get(cam.name).tick(cam);
      if (cam.state === 'running') running++;
    }
    summary.textContent = `${running}/${cams.length} cameras running`;
  } catch (e) {
    summary.textContent = 'gateway unreachable: ' + e.message;
  }
  setTimeout(poll, 1000);
}

window.addEventListener('pagehide', () => { for (const p of players.values()) p.close(); });
poll();
