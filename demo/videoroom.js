// Video room demo for the Janus VideoRoom API (janus.plugin.videoroom, Janus 1.x
// multistream flavour): one publisher handle sending camera + microphone and
// ONE subscriber handle that receives every other publisher in the room, or
// just the mix in MCU/hybrid rooms (see wanted()).
//
// Query parameters: ?room=1234&display=alice&mode=sfu|mcu|hybrid&autojoin=1&server=ws://host:port&debug=1
// (mode is used when this page creates the room; an existing room keeps its own).
// Test hooks: window.demo = { state, errors, mode, remoteVideos() }.
/* global Janus */
'use strict';

(function () {
	const qs = new URLSearchParams(location.search);
	const cfg = window.GATEWAY_CONFIG || {};
	const $ = (id) => document.getElementById(id);

	const demo = window.demo = {
		state: 'idle',	// idle | connecting | joining | joined | publishing | left | error
		errors: [],
		room: null,
		mode: null,	// the room's mixing mode: sfu | mcu | hybrid
		myId: null,
		feeds: () => [...feeds.keys()],
		remoteVideos: () => [...document.querySelectorAll('#videos .remote video')],
		// Simulcast: the layer each subscribed mid relays (from the server's
		// `substream` events), and the picker's action.
		layers: {},
		setSubstream: (mid, substream) => setSubstream(mid, substream),
		screenMid: null,	// the mid of our screen share (set when the button is used)
		// An ICE restart of our publisher PeerConnection, as apps do after a
		// network change (janus.js `iceRestart`: a new offer with new
		// credentials, sent with `configure`). Resolves once answered.
		restartIce: () => restartIce(),
		// Our camera's capture settings (width, height, frameRate).
		captureSettings: () => {
			const pc = pub && pub.webrtcStuff && pub.webrtcStuff.pc;
			const s = pc && pc.getSenders().find((x) => x.track && x.track.kind === 'video');
			return s ? s.track.getSettings() : null;
		},
		// Our publisher's local ICE ufrag and ICE connection state.
		iceUfrag: () => {
			const pc = pub && pub.webrtcStuff && pub.webrtcStuff.pc;
			const sdp = pc && pc.localDescription && pc.localDescription.sdp;
			return sdp ? (sdp.match(/a=ice-ufrag:(\S+)/) || [])[1] || null : null;
		},
		iceState: () => {
			const pc = pub && pub.webrtcStuff && pub.webrtcStuff.pc;
			return pc ? pc.iceConnectionState : null;
		},
		talking: () => [...document.querySelectorAll('#videos .tile.talking')].map((t) => t.dataset.feed),
	};
	// ?simulcast=1 (or the checkbox): publish 1280x720 as three layers.
	const simulcast = () => qs.get('simulcast') === '1' || ($('simulcast') && $('simulcast').checked);

	let janus = null;	// Janus session
	let pub = null;	// publisher handle
	let sub = null;	// the single (multistream) subscriber handle
	let room = null, display = null, mode = 'sfu', privateId = null;
	const MIX = 0;	// the mix of an MCU/hybrid room: a virtual publisher with id 0 (falsy: compare with ===)
	// Mix settings for rooms this page creates: small, to stay cheap on the server.
	const MIX_CONFIG = { mix_width: 640, mix_height: 360, mix_fps: 15, mix_videocodec: 'h264' };
	const feeds = new Map();	// publisher id -> display name (others in the room)
	const subscribed = new Set();	// publisher ids our subscriber handle asked for
	const midFeed = new Map();	// subscriber mid -> publisher id
	let subBusy = false;	// a subscriber request / renegotiation is in flight
	let subJoined = false;	// the subscriber handle's "join" succeeded

	// Servers: ?server= wins, then /config.js, then same-host defaults.
	function servers() {
		if (qs.get('server')) return qs.get('server');
		const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
		// /config.js gives the ports; the host is the page's own, so the page
		// works from another machine too. Over https://, the WSS port.
		const secure = location.protocol === 'https:';
		const port = secure ? (cfg.wss_port || 8989) : (cfg.ws_port || 8188);
		const ws = `${secure ? 'wss' : 'ws'}://${host}:${port}`;
		const http = `${location.protocol}//${location.host}${cfg.base_path || '/janus'}`;
		return [ws, http];
	}

	function setState(s) {
		demo.state = s;
		$('status').textContent = s;
		$('join').disabled = janus !== null;
		$('leave').disabled = janus === null;
		$('mode').disabled = janus !== null;
	}

	function fail(what, err) {
		const text = `${what}: ${err && err.message ? err.message : err}`;
		demo.errors.push(text);
		console.error(text);
		$('error').textContent = text;
		$('error').hidden = false;
		setState('error');
	}

	// Promise wrapper for synchronous plugin requests (exists, create, ...).
	function request(handle, message) {
		return new Promise((resolve, reject) => handle.send({ message, success: resolve, error: reject }));
	}

	function join() {
		room = parseInt($('room').value, 10);
		display = $('display').value.trim() || `guest${Janus.randomString(4)}`;
		mode = $('mode').value;
		if (!(room > 0)) return fail('join', 'invalid room number');
		demo.room = room;
		demo.errors.length = 0;
		$('error').hidden = true;
		janus = new Janus({
			server: servers(),
			iceServers: cfg.iceServers || [],	// no public STUN by default
			success: attachPublisher,
			error: (e) => fail('session', e),
		});
		setState('connecting');
	}

	function attachPublisher() {
		janus.attach({
			plugin: 'janus.plugin.videoroom',
			success: async (handle) => {
				pub = handle;
				setState('joining');
				try {
					showMode(await ensureRoom());
					pub.send({ message: { request: 'join', ptype: 'publisher', room, display } });
				} catch (e) { fail('room', e); }
			},
			error: (e) => fail('attach', e),
			webrtcState: (up) => {
				if (janus && demo.state !== 'error') setState(up ? 'publishing' : 'joined');
				for (const id of ['mute', 'camera', 'screen']) $(id).disabled = !up;
			},
			onmessage: onPublisherMessage,
			onlocaltrack: (track, on) => {
				if (track.kind !== 'video') return;	// never play our own audio back
				const screen = (track.getSettings && track.getSettings().displaySurface !== undefined)
					|| /screen/i.test(track.label) || track === screenTrack;
				if (screen) {
					screenTrack = on ? track : null;
					return;	// the local tile shows the camera
				}
				const tile = $('local');
				tile.querySelector('video')?.remove();
				if (on) tile.prepend(mediaElement('video', track, true));
			},
			onremotetrack: () => {},	// publishers are sendonly
			oncleanup: () => $('local').querySelector('video')?.remove(),
		});
	}

	// Creates the room (in the selected mode) unless it exists; resolves with the room's mode.
	async function ensureRoom() {
		const found = await request(pub, { request: 'exists', room });
		if (!found || found.error) throw new Error(found ? found.error : 'no reply to "exists"');
		if (!found.exists) {
			const created = await request(pub, {
				request: 'create', room, publishers: 16, description: `Room ${room}`,
				videocodec: 'vp8,h264', audiocodec: 'opus', audiolevel_event: true,
				mixing: mode, ...(mode === 'sfu' ? {} : MIX_CONFIG),
			});
			// 427 = room already exists (someone else created it meanwhile): fine.
			if (!created || (created.error && created.error_code !== 427)) throw new Error(created ? created.error : 'no reply to "create"');
			if (!created.error) return mode;
		}
		// An existing room keeps its mode: `list` tells which (no `mixing` there: a plain SFU).
		const listed = await request(pub, { request: 'list' });
		const entry = ((listed && listed.list) || []).find((r) => String(r.room) === String(room));
		return entry ? entry.mixing || 'sfu' : null;	// null: a private room, not listed
	}

	function showMode(m) {
		demo.mode = m;
		$('room-mode').textContent = m ? `(${m.toUpperCase()} room)` : '';
	}

	function onPublisherMessage(msg, jsep) {
		const ev = msg.videoroom;
		if (msg.error) return fail(`videoroom ${msg.error_code || ''}`, msg.error);
		if (ev === 'joined') {
			demo.myId = msg.id;
			privateId = msg.private_id;
			setState('joined');
			publish();
			addFeeds(msg.publishers);
		} else if (ev === 'talking' || ev === 'stopped-talking') {
			const tile = msg.id === demo.myId ? $('local')
				: document.querySelector(`#videos .remote[data-feed="${CSS.escape(String(msg.id))}"]`);
			tile?.classList.toggle('talking', ev === 'talking');
		} else if (ev === 'event') {
			if (msg.publishers) addFeeds(msg.publishers);
			if (msg.leaving !== undefined) removeFeed(msg.leaving);
			if (msg.unpublished !== undefined) removeFeed(msg.unpublished);
		} else if (ev === 'destroyed') {
			fail('videoroom', 'the room was destroyed');
		}
		if (jsep) pub.handleRemoteJsep({ jsep });
	}

	function publish() {
		pub.createOffer({
			tracks: [
				{ type: 'audio', capture: true, recv: false },
				simulcast()
					? { type: 'video', capture: { width: 1280, height: 720 }, recv: false, simulcast: true }
					: { type: 'video', capture: true, recv: false },
			],
			success: (jsep) => pub.send({ message: { request: 'configure', audio: true, video: true }, jsep }),
			error: (e) => fail('getUserMedia/offer', e),
		});
	}

	// Mute and camera: the local tracks stop sending (janus.js mutes the sender).
	function toggleMute() {
		if (!pub) return;
		if (pub.isAudioMuted()) pub.unmuteAudio(); else pub.muteAudio();
		$('mute').textContent = pub.isAudioMuted() ? 'Unmute' : 'Mute';
	}

	function toggleCamera() {
		if (!pub) return;
		if (pub.isVideoMuted()) pub.unmuteVideo(); else pub.muteVideo();
		$('camera').textContent = pub.isVideoMuted() ? 'Camera on' : 'Camera off';
	}

	// Screen share next to the camera: a new track on the same
	// PeerConnection, renegotiated with `configure` (the gateway adds it to
	// the room and to everyone subscribed to us); stopping removes it.
	let screenTrack = null;	// our screen share's track while it runs
	function screenMid() {
		const pc = pub && pub.webrtcStuff && pub.webrtcStuff.pc;
		const t = screenTrack && pc && pc.getTransceivers().find((x) => x.sender.track === screenTrack);
		return t ? t.mid : null;
	}

	function toggleScreen() {
		if (!pub) return;
		demo.screenMid = screenMid();
		const sharing = demo.screenMid !== null;
		const tracks = sharing
			? [{ type: 'screen', mid: demo.screenMid, remove: true }]
			: [{ type: 'screen', capture: true, recv: false, add: true }];
		pub.createOffer({
			tracks,
			success: (jsep) => {
				pub.send({ message: { request: 'configure' }, jsep });
				if (sharing) demo.screenMid = null;
				$('screen').textContent = sharing ? 'Share screen' : 'Stop sharing';
			},
			error: (e) => fail('screen share', e),
		});
	}

	function restartIce() {
		return new Promise((resolve, reject) => {
			if (!pub) return reject(new Error('not publishing'));
			pub.createOffer({
				iceRestart: true,
				success: (jsep) => { pub.send({ message: { request: 'configure' }, jsep, success: resolve, error: reject }); },
				error: reject,
			});
		});
	}

	// Each remote video's receive bitrate, once a second (janus.js getBitrate).
	setInterval(() => {
		if (!sub) return;
		for (const v of document.querySelectorAll('#videos .remote video')) {
			const label = $(`rate-${v.dataset.mid}`);
			if (label) label.textContent = sub.getBitrate(v.dataset.mid) || '';
		}
	}, 1000);

	function addFeeds(list) {
		for (const p of list || []) {
			if (p.dummy || p.id === demo.myId) continue;
			feeds.set(p.id, p.display || String(p.id));
		}
		syncSubscriptions();
	}

	function removeFeed(id) {
		if (!feeds.delete(id)) return;	// 'ok' (ourselves) or unknown
		document.querySelector(`#videos .remote[data-feed="${CSS.escape(String(id))}"]`)?.remove();
		syncSubscriptions();
	}

	// The feeds to receive. MCU rooms list just the mix, SFU rooms no mix. Hybrid
	// rooms list both the mix and the individual feeds: take the mix only (one
	// stream to decode here, and no extra forwarding on the server).
	function wanted() {
		return feeds.has(MIX) ? [MIX] : [...feeds.keys()];
	}

	// Bring the subscriber handle in line with wanted(), one request at a time.
	function syncSubscriptions() {
		if (subBusy || !janus) return;
		const want = wanted();
		const add = want.filter((id) => !subscribed.has(id));
		const drop = [...subscribed].filter((id) => !want.includes(id));
		if (!sub) {
			if (add.length) attachSubscriber(add);
			return;
		}
		let message = null;
		if (drop.length) {
			drop.forEach((id) => subscribed.delete(id));
			message = { request: 'unsubscribe', streams: drop.map((feed) => ({ feed })) };
		} else if (add.length) {
			add.forEach((id) => subscribed.add(id));
			message = { request: 'subscribe', streams: add.map((feed) => ({ feed })) };
		}
		if (!message) return;
		subBusy = true;
		sub.send({ message });
	}

	function attachSubscriber(ids) {
		subBusy = true;
		ids.forEach((id) => subscribed.add(id));
		janus.attach({
			plugin: 'janus.plugin.videoroom',
			success: (handle) => {
				sub = handle;
				sub.send({ message: {
					request: 'join', ptype: 'subscriber', room, private_id: privateId,
					streams: ids.map((feed) => ({ feed })),
				} });
			},
			error: (e) => { subBusy = false; fail('attach subscriber', e); },
			onmessage: onSubscriberMessage,
			onlocaltrack: () => {},	// subscribers are recvonly
			onremotetrack: onRemoteTrack,
			oncleanup: () => document.querySelectorAll('#videos .remote').forEach((el) => el.remove()),
		});
	}

	function onSubscriberMessage(msg, jsep) {
		if (msg.videoroom === 'attached') subJoined = true;
		if (msg.error) {
			// e.g. a publisher that left meanwhile: not fatal
			console.warn('subscriber:', msg.error_code, msg.error);
			demo.errors.push(`subscriber ${msg.error_code}: ${msg.error}`);
			if (!subJoined) {
				// The join itself failed: drop this handle, retry with a fresh one.
				const handle = sub;
				sub = null;
				subscribed.clear();
				midFeed.clear();
				subBusy = false;
				handle.detach();
				setTimeout(syncSubscriptions, 1000);
				return;
			}
		}
		for (const s of msg.streams || []) {
			if (s.feed_id !== undefined) midFeed.set(s.mid, s.feed_id);
		}
		if (msg.substream !== undefined && msg.mid !== undefined) {
			// The relayed simulcast layer changed (Janus's event).
			demo.layers[msg.mid] = msg.substream;
			const picker = document.querySelector(`#videos select[data-mid="${CSS.escape(String(msg.mid))}"]`);
			if (picker) picker.title = `relaying layer ${msg.substream}`;
			const label = $(`layer-${msg.mid}`);
			if (label) label.textContent = `layer ${msg.substream}`;
		}
		if (!jsep) {
			// Plain reply (e.g. "started", or an update needing no renegotiation).
			subBusy = false;
			syncSubscriptions();
			return;
		}
		subBusy = true;
		sub.createAnswer({
			jsep,
			tracks: [],	// capture nothing: offered audio/video are accepted as recvonly
			success: (answer) => sub.send({ message: { request: 'start', room }, jsep: answer }),
			error: (e) => { subBusy = false; fail('subscriber answer', e); },
		});
	}

	function onRemoteTrack(track, mid, on) {
		const feed = midFeed.get(mid);
		const id = `remote-${mid}`;
		if (!on) {
			$(id)?.remove();
			return;
		}
		if ($(id) || feed === undefined || !feeds.has(feed)) return;
		let tile = document.querySelector(`#videos .remote[data-feed="${CSS.escape(String(feed))}"]`);
		if (!tile) {
			tile = document.createElement('figure');
			tile.className = feed === MIX ? 'tile remote mix' : 'tile remote';
			tile.dataset.feed = feed;
			const caption = document.createElement('figcaption');
			caption.textContent = feeds.get(feed);
			tile.append(caption);
			$('videos').append(tile);
		}
		const el = mediaElement(track.kind === 'video' ? 'video' : 'audio', track, false);
		el.id = id;
		el.dataset.feed = feed;
		el.dataset.mid = mid;
		tile.prepend(el);
		if (track.kind === 'video') {
			const rate = document.createElement('small');
			rate.className = 'bitrate';
			rate.id = `rate-${mid}`;
			tile.append(rate);
			if (feed !== MIX) tile.append(layerPicker(mid));
		}
	}

	// A simulcast layer picker for one remote video: auto (the gateway picks
	// the layer from this browser's loss and bandwidth reports, starting at
	// the top) or a pinned substream.
	function layerPicker(mid) {
		const wrap = document.createElement('span');
		wrap.className = 'layers';
		const picker = document.createElement('select');
		picker.dataset.mid = mid;
		for (const [value, text] of [['auto', 'auto'], ['0', 'low'], ['1', 'medium'], ['2', 'high']]) {
			const o = document.createElement('option');
			o.value = value;
			o.textContent = text;
			picker.append(o);
		}
		picker.addEventListener('change', () => setSubstream(mid, picker.value === 'auto' ? 'auto' : Number(picker.value)));
		const label = document.createElement('small');
		label.id = `layer-${mid}`;
		wrap.append(picker, label);
		return wrap;
	}

	function setSubstream(mid, substream) {
		if (!sub) return;
		sub.send({ message: { request: 'configure', streams: [{ mid, substream }] } });
	}

	function mediaElement(kind, track, muted) {
		const el = document.createElement(kind);
		el.autoplay = true;
		el.playsInline = true;
		el.muted = muted;
		el.srcObject = new MediaStream([track]);
		el.play().catch(() => {});	// autoplay policies may refuse audio until a click
		return el;
	}

	function leave() {
		if (!janus) return;
		if (pub) pub.send({ message: { request: 'leave' } });
		pub?.hangup();
		sub?.hangup();
		const session = janus;
		janus = pub = sub = null;
		feeds.clear();
		subscribed.clear();
		midFeed.clear();
		subBusy = subJoined = false;
		demo.myId = null;
		showMode(null);
		document.querySelectorAll('#videos .remote').forEach((el) => el.remove());
		$('local').querySelector('video')?.remove();
		session.destroy({ cleanupHandles: true });
		setState('left');
	}

	// Wire up the page.
	$('room').value = qs.get('room') || $('room').value;
	$('display').value = qs.get('display') || '';
	if (['sfu', 'mcu', 'hybrid'].includes(qs.get('mode'))) $('mode').value = qs.get('mode');
	$('server').textContent = `(${[].concat(servers()).join(' or ')})`;
	$('join-form').addEventListener('submit', (e) => { e.preventDefault(); join(); });
	$('leave').addEventListener('click', leave);
	$('mute').addEventListener('click', toggleMute);
	$('camera').addEventListener('click', toggleCamera);
	$('screen').addEventListener('click', toggleScreen);
	Janus.init({
		debug: qs.get('debug') ? 'all' : ['warn', 'error'],
		callback: () => {
			if (!Janus.isWebrtcSupported()) return fail('init', 'this browser has no WebRTC support');
			setState('idle');
			if (qs.get('autojoin') === '1') join();
		},
	});
})();
