// Video room demo for the Janus VideoRoom API (janus.plugin.videoroom, Janus 1.x
// multistream flavour): one publisher handle sending camera + microphone and
// ONE subscriber handle that receives every other publisher in the room.
//
// Query parameters: ?room=1234&display=alice&autojoin=1&server=ws://host:port&debug=1
// Test hooks: window.demo = { state, errors, remoteVideos() }.
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
		myId: null,
		feeds: () => [...feeds.keys()],
		remoteVideos: () => [...document.querySelectorAll('#videos .remote video')],
	};

	let janus = null;	// Janus session
	let pub = null;	// publisher handle
	let sub = null;	// the single (multistream) subscriber handle
	let room = null, display = null, privateId = null;
	const feeds = new Map();	// publisher id -> display name (others in the room)
	const subscribed = new Set();	// publisher ids our subscriber handle asked for
	const midFeed = new Map();	// subscriber mid -> publisher id
	let subBusy = false;	// a subscriber request / renegotiation is in flight
	let subJoined = false;	// the subscriber handle's "join" succeeded

	// Servers: ?server= wins, then /config.js, then same-host defaults.
	function servers() {
		if (qs.get('server')) return qs.get('server');
		const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
		const ws = cfg.ws || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${host}:8188`;
		const http = cfg.http || `${location.protocol}//${location.host}/janus`;
		return [ws, http];
	}

	function setState(s) {
		demo.state = s;
		$('status').textContent = s;
		$('join').disabled = janus !== null;
		$('leave').disabled = janus === null;
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
					await ensureRoom();
					pub.send({ message: { request: 'join', ptype: 'publisher', room, display } });
				} catch (e) { fail('room', e); }
			},
			error: (e) => fail('attach', e),
			webrtcState: (up) => { if (janus && demo.state !== 'error') setState(up ? 'publishing' : 'joined'); },
			onmessage: onPublisherMessage,
			onlocaltrack: (track, on) => {
				if (track.kind !== 'video') return;	// never play our own audio back
				const tile = $('local');
				tile.querySelector('video')?.remove();
				if (on) tile.prepend(mediaElement('video', track, true));
			},
			onremotetrack: () => {},	// publishers are sendonly
			oncleanup: () => $('local').querySelector('video')?.remove(),
		});
	}

	async function ensureRoom() {
		const found = await request(pub, { request: 'exists', room });
		if (!found || found.error) throw new Error(found ? found.error : 'no reply to "exists"');
		if (found.exists) return;
		const created = await request(pub, {
			request: 'create', room, publishers: 16, description: `Room ${room}`,
			videocodec: 'vp8,h264', audiocodec: 'opus',
		});
		// 427 = room already exists (someone else created it meanwhile): fine.
		if (!created || (created.error && created.error_code !== 427)) throw new Error(created ? created.error : 'no reply to "create"');
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
				{ type: 'video', capture: true, recv: false },
			],
			success: (jsep) => pub.send({ message: { request: 'configure', audio: true, video: true }, jsep }),
			error: (e) => fail('getUserMedia/offer', e),
		});
	}

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

	// Bring the subscriber handle in line with `feeds`, one request at a time.
	function syncSubscriptions() {
		if (subBusy || !janus) return;
		const add = [...feeds.keys()].filter((id) => !subscribed.has(id));
		const drop = [...subscribed].filter((id) => !feeds.has(id));
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
			tile.className = 'tile remote';
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
		document.querySelectorAll('#videos .remote').forEach((el) => el.remove());
		$('local').querySelector('video')?.remove();
		session.destroy({ cleanupHandles: true });
		setState('left');
	}

	// Wire up the page.
	$('room').value = qs.get('room') || $('room').value;
	$('display').value = qs.get('display') || '';
	$('server').textContent = `(${[].concat(servers()).join(' or ')})`;
	$('join-form').addEventListener('submit', (e) => { e.preventDefault(); join(); });
	$('leave').addEventListener('click', leave);
	Janus.init({
		debug: qs.get('debug') ? 'all' : ['warn', 'error'],
		callback: () => {
			if (!Janus.isWebrtcSupported()) return fail('init', 'this browser has no WebRTC support');
			setState('idle');
			if (qs.get('autojoin') === '1') join();
		},
	});
})();
