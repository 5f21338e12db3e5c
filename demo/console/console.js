// The operator console: everything it shows and does goes through the
// Janus Admin API at this page's own base path (POST <admin_base>), with the
// plugins' requests sent as `message_plugin`. It refreshes every 2 s.
//
// Shows: rooms (mode, participants, who is talking, each stream's bitrate
// and loss from handle_info), ingests and restreams, recordings (running and
// finished, with play and download links), streaming mountpoints and their
// viewers. Does: kick, mute/unmute a stream (moderate), room recording on
// and off (enable_recording), RTMP restream start/stop, ingest add/remove,
// layout, room destroy.

const API = location.pathname.replace(/\/+$/, "");
const VIDEOROOM = "janus.plugin.videoroom";
const STREAMING = "janus.plugin.streaming";
const REFRESH_MS = 2000;

const $ = (sel) => document.querySelector(sel);
let secret = sessionStorage.getItem("console-admin-secret") || "";
let roomSecret = sessionStorage.getItem("console-room-secret") || "";
let timer = null;
let busy = false;
/** When an action last reported; refreshes leave its message up a while. */
let reportedAt = 0;

function status(text, error = false, action = false) {
  if (!action && Date.now() - reportedAt < 4000) return;
  if (action) reportedAt = Date.now();
  const s = $("#status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

async function admin(body) {
  const req = { transaction: Math.random().toString(36).slice(2), ...body };
  if (secret) req.admin_secret = secret;
  const r = await fetch(API, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(req),
  });
  const v = await r.json();
  if (v.janus === "error") throw new Error(`${v.error.code} ${v.error.reason}`);
  return v;
}

/** A plugin's synchronous request; throws on the plugin's own error too. */
async function plugin(name, request) {
  if (roomSecret && request.room !== undefined && request.secret === undefined) {
    request = { ...request, secret: roomSecret };
  }
  const v = await admin({ janus: "message_plugin", plugin: name, request });
  const resp = v.response || {};
  if (resp.error_code) throw new Error(`${resp.error_code} ${resp.error}`);
  return resp;
}

/** handle_info of every videoroom publisher handle: (room, feed id) →
 * its streams (plugin_specific) and inbound media stats by mid. */
async function streamStats() {
  const out = new Map();
  const sessions = (await admin({ janus: "list_sessions" })).sessions || [];
  for (const session_id of sessions) {
    let handles = [];
    try {
      handles = (await admin({ janus: "list_handles", session_id })).handles || [];
    } catch { continue; }
    for (const handle_id of handles) {
      let info;
      try {
        info = (await admin({ janus: "handle_info", session_id, handle_id })).info;
      } catch { continue; }
      const ps = info && info.plugin_specific;
      if (!ps || ps.type !== "publisher" || ps.id === undefined) continue;
      const media = (info.webrtc && info.webrtc.media) || {};
      const byMid = {};
      for (const m of Object.values(media)) {
        if (m.direction === "inbound" && m.mid !== undefined) byMid[m.mid] = m;
      }
      out.set(`${ps.room}/${ps.id}`, { streams: ps.streams || [], byMid });
    }
  }
  return out;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function button(label, data, run) {
  return el("button", {
    ...Object.fromEntries(Object.entries(data).map(([k, v]) => [`data-${k}`, v])),
    onclick: async () => {
      try {
        await run();
        status(`${label}: done`, false, true);
      } catch (e) {
        status(`${label}: ${e.message}`, true, true);
      }
      refresh();
    },
  }, label);
}

function kbps(bps) {
  return bps === undefined ? "–" : `${Math.round(bps / 1000)} kbps`;
}

function roomCard(room, participants, stats, ingests) {
  const id = room.room;
  const mcu = room.mixing && room.mixing !== "sfu";
  const card = el("div", { class: "room", "data-room": id });
  card.append(el("h3", {}, `${id} ${room.description || ""} (${room.mixing || "sfu"}${mcu ? `, layout ${room.layout}` : ""}, ${participants.length} participants)`));
  const urlInput = el("input", { placeholder: "rtmp://host/app/key or rtsp://…", size: 40, "data-room": id, class: "url" });
  const layout = el("select", { "data-room": id, class: "layout" },
    ...["grid", "speaker"].map((l) => el("option", { value: l, ...(l === room.layout ? { selected: "" } : {}) }, l)));
  card.append(el("div", { class: "actions" },
    button(room.record ? "Stop recording" : "Start recording", { action: "record", room: id },
      () => plugin(VIDEOROOM, { request: "enable_recording", room: id, record: !room.record })),
    urlInput,
    button("Start RTMP", { action: "start-rtmp", room: id },
      () => plugin(VIDEOROOM, { request: "start_rtmp", room: id, url: urlInput.value, source: mcu ? "mix" : Number(participants.find((p) => p.publisher)?.id) })),
    button("Add ingest", { action: "add-ingest", room: id },
      () => plugin(VIDEOROOM, { request: "add_ingest", room: id, url: urlInput.value })),
    ...(mcu ? [layout, button("Set layout", { action: "layout", room: id },
      () => plugin(VIDEOROOM, { request: "set_layout", room: id, layout: layout.value }))] : []),
    button("Destroy room", { action: "destroy", room: id },
      () => plugin(VIDEOROOM, { request: "destroy", room: id }))));

  const rows = participants.map((p) => {
    const info = stats.get(`${id}/${p.id}`) || { streams: [], byMid: {} };
    const cells = info.streams.map((s) => {
      const st = info.byMid[s.mid] || {};
      const muted = s.moderated === true;
      return el("div", { class: `stream${muted ? " muted" : ""}` },
        `${s.type} ${s.codec || ""} mid ${s.mid}: ${kbps(st["bitrate-bps"])}, lost ${st["packets-lost"] ?? 0} `,
        button(muted ? "Unmute" : "Mute", { action: muted ? "unmute" : "mute", room: id, id: p.id, mid: s.mid, kind: s.type },
          () => plugin(VIDEOROOM, { request: "moderate", room: id, id: p.id, mid: s.mid, mute: !muted })));
    });
    return el("tr", { "data-participant": p.id },
      el("td", {}, p.id), el("td", {}, p.display || ""),
      el("td", { class: p.talking ? "talking" : "" }, p.talking ? "talking" : ""),
      el("td", {}, ...cells),
      el("td", {}, button("Kick", { action: "kick", room: id, id: p.id },
        () => plugin(VIDEOROOM, { request: "kick", room: id, id: p.id }))));
  });
  card.append(el("table", { class: "participants" },
    el("thead", {}, el("tr", {}, ...["id", "display", "", "streams", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows)));

  const ing = (ingests.ingests || []).map((i) => el("tr", { "data-ingest": i.id },
    el("td", {}, "ingest"), el("td", {}, i.url), el("td", {}, i.state),
    el("td", {}, button("Remove", { action: "remove-ingest", room: id, id: i.id },
      () => plugin(VIDEOROOM, { request: "remove_ingest", room: id, id: i.id })))));
  const res = (ingests.restreams || []).map((r) => el("tr", { "data-restream": r.id },
    el("td", {}, "restream"), el("td", {}, r.url), el("td", {}, r.state),
    el("td", {}, button("Stop", { action: "stop-rtmp", room: id, id: r.id },
      () => plugin(VIDEOROOM, { request: "stop_rtmp", room: id, id: r.id })))));
  if (ing.length || res.length) card.append(el("table", { class: "ingests" }, el("tbody", {}, ...ing, ...res)));
  return card;
}

function fileUrl(file) {
  const q = secret ? `?admin_secret=${encodeURIComponent(secret)}` : "";
  return `${API}/recordings${file.split("/").map(encodeURIComponent).join("/")}${q}`;
}

function recordingRow(r, state) {
  const url = fileUrl(r.file);
  return el("tr", { "data-file": r.file, "data-state": state },
    el("td", {}, state), el("td", {}, r.room), el("td", {}, r.feed), el("td", {}, r.file),
    el("td", {}, `${Number(r.duration).toFixed(1)} s`), el("td", {}, `${Math.round(r.size / 1024)} KiB`),
    el("td", {},
      el("a", { href: url, download: r.file.split("/").pop() }, "download"), " ",
      el("a", { href: "#", onclick: (e) => { e.preventDefault(); const v = $("#player"); v.hidden = false; v.src = url; v.play(); } }, "play")));
}

async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const rooms = (await plugin(VIDEOROOM, { request: "list" })).list || [];
    const stats = await streamStats();
    const cards = [];
    for (const room of rooms) {
      const parts = await plugin(VIDEOROOM, { request: "listparticipants", room: room.room }).catch(() => ({}));
      const ingests = await plugin(VIDEOROOM, { request: "list_ingests", room: room.room }).catch(() => ({}));
      cards.push(roomCard(room, parts.participants || [], stats, ingests));
    }
    $("#rooms").replaceChildren(...cards);
    const recs = await plugin(VIDEOROOM, { request: "list_recordings" });
    $("#recordings tbody").replaceChildren(
      ...(recs.running || []).map((r) => recordingRow(r, "recording")),
      ...(recs.recordings || []).map((r) => recordingRow(r, "done")));
    const mps = (await plugin(STREAMING, { request: "list" }).catch(() => ({}))).list || [];
    const mpRows = [];
    for (const m of mps) {
      const info = (await plugin(STREAMING, { request: "info", id: m.id }).catch(() => ({}))).info || {};
      mpRows.push(el("tr", { "data-mountpoint": m.id },
        el("td", {}, m.id), el("td", {}, m.description || ""), el("td", {}, m.type || ""),
        el("td", {}, (info.source && info.source.state) || ""), el("td", {}, info.viewers ?? "")));
    }
    $("#mountpoints tbody").replaceChildren(...mpRows);
    status(`updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.ready = "true";
  } catch (e) {
    status(e.message, true);
  } finally {
    busy = false;
  }
}

$("#secret").value = secret;
$("#room-secret").value = roomSecret;
$("#login").addEventListener("submit", (e) => {
  e.preventDefault();
  secret = $("#secret").value;
  roomSecret = $("#room-secret").value;
  sessionStorage.setItem("console-admin-secret", secret);
  sessionStorage.setItem("console-room-secret", roomSecret);
  status("");
  clearInterval(timer);
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
});
refresh();
timer = setInterval(refresh, REFRESH_MS);
