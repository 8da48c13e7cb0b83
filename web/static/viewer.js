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
    this.svg = this.el.querySelector('.geometry');
    this.frame = this.el.querySelector('.frame');
    this.video.addEventListener('loadedmetadata', () => {
      if (this.video.videoWidth) this.frame.style.aspectRatio = this.video.videoWidth + ' / ' + this.video.videoHeight;
    });
    this.geometryKey = '';
    this.setupDrawing();
    this.watchVideo();
    this.connect();
  }

  // Counting lines and zones, in fractions of the frame, drawn over the video.
  drawGeometry(cam) {
    const key = JSON.stringify([cam.count_lines, cam.count_zones]);
    if (key === this.geometryKey) return;
    this.geometryKey = key;
    this.svg.querySelectorAll('.conf').forEach((n) => n.remove());
    const ns = 'http://www.w3.org/2000/svg';
    for (const z of cam.count_zones || []) {
      const p = document.createElementNS(ns, 'polygon');
      p.setAttribute('points', z.polygon.map((q) => q.join(',')).join(' '));
      p.classList.add('conf');
      this.svg.appendChild(p);
    }
    for (const l of cam.count_lines || []) {
      const e = document.createElementNS(ns, 'line');
      [['x1', l.a[0]], ['y1', l.a[1]], ['x2', l.b[0]], ['y2', l.b[1]]].forEach(([k, v]) => e.setAttribute(k, v));
      e.classList.add('conf');
      this.svg.appendChild(e);
      const t = document.createElementNS(ns, 'text');
      t.setAttribute('x', l.b[0]); t.setAttribute('y', l.b[1]);
      t.textContent = l.name;
      t.classList.add('conf');
      this.svg.appendChild(t);
    }
  }

  // "draw line": two clicks on the video give a line to paste into veil.yml
  // (the gateway's config is a file an operator reviews; the page does not
  // change it).
  setupDrawing() {
    const btn = this.el.querySelector('button.draw');
    const snippet = this.el.querySelector('.snippet');
    let pts = null;
    btn.addEventListener('click', () => {
      pts = [];
      this.frame.classList.add('drawing');
      snippet.hidden = false;
      snippet.textContent = 'click the start of the line, then its end ("in" is a crossing from its left to its right)';
    });
    this.frame.addEventListener('click', (ev) => {
      if (!pts) return;
      const r = this.video.getBoundingClientRect();
      const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
      const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
      pts.push([+x.toFixed(3), +y.toFixed(3)]);
      if (pts.length < 2) return;
      const ns = 'http://www.w3.org/2000/svg';
      const e = document.createElementNS(ns, 'line');
      [['x1', pts[0][0]], ['y1', pts[0][1]], ['x2', pts[1][0]], ['y2', pts[1][1]]].forEach(([k, v]) => e.setAttribute(k, v));
      e.classList.add('draft');
      this.svg.querySelectorAll('.draft').forEach((n) => n.remove());
      this.svg.appendChild(e);
      snippet.textContent = `# add under cameras: - name: ${this.name} ... count: lines:\n` +
        `      - {name: line1, a: [${pts[0]}], b: [${pts[1]}]}`;
      pts = null;
      this.frame.classList.remove('drawing');
    });
  }

  showCounts(cam) {
    const box = this.el.querySelector('.counts');
    if (!cam.counts) { box.hidden = true; return; }
    box.hidden = false;
    this.drawGeometry(cam);
    const parts = [];
    for (const l of cam.counts.lines || []) {
      const cls = Object.entries(l.classes || {}).map(([c, v]) => `${c} in ${v.in} out ${v.out}`).join(', ');
      parts.push(`<span><b>${esc(l.line)}</b>${esc(cls || 'none yet')}</span>`);
    }
    for (const z of cam.counts.zones || []) {
      const cls = Object.entries(z.classes || {}).map(([c, v]) => `${c} ${v}`).join(', ');
      parts.push(`<span><b>${esc(z.zone)}</b>${esc(cls || 'empty')}</span>`);
    }
    const objs = Object.entries(cam.counts.objects || {}).map(([c, v]) => `${c} ${v}`).join(', ');
    parts.push(`<span><b>in view</b>${esc(objs || 'nobody')}</span>`);
    this.el.querySelector('.count-list').innerHTML = parts.join('');
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
      const session = new URL(res.headers.get('Location'), location.href).href;
      if (pc !== this.pc) { // superseded while the offer was answered: leave that session
        fetch(session, { method: 'DELETE' }).catch(() => {});
        return;
      }
      this.session = session;
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
      this.lastProgress = now; // no frames are expected: do not count this as a stall
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
    this.showCounts(cam);
  }
}

function set(el, sel, v) { el.querySelector(sel).textContent = v; }

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

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
