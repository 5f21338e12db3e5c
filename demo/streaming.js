// Streaming demo for the Janus Streaming API (janus.plugin.streaming):
// lists mountpoints (RTSP cameras, RTMP streams, RTP), creates one from a
// URL, and watches one: `watch` → the gateway's offer → answer with `start`.
//
// Query parameters: ?id=<mountpoint>&autoplay=1&server=ws://host:port&debug=1
// Test hooks: window.demo = { state, errors, video() }.
/* global Janus */
'use strict';

(function () {
	const qs = new URLSearchParams(location.search);
	const cfg = window.GATEWAY_CONFIG || {};
	const $ = (id) => document.getElementById(id);
	const demo = window.demo = {
		state: 'idle',	// idle | connecting | ready | watching | playing | stopped | error
		errors: [],
		video: () => document.querySelector('#videos video'),
	};
	let janus = null, handle = null;
	const stream = new MediaStream();

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
		const ready = handle !== null;
		$('refresh').disabled = !ready;
		$('watch').disabled = !ready || s === 'watching' || s === 'playing';
		$('stop').disabled = !(s === 'watching' || s === 'playing');
		$('create').disabled = !ready;
	}

	function fail(what, err) {
		const text = `${what}: ${err && err.message ? err.message : JSON.stringify(err)}`;
		demo.errors.push(text);
		console.error(text);
		$('error').textContent = text;
		$('error').hidden = false;
		setState('error');
	}

	function request(message) {
		return new Promise((resolve, reject) => handle.send({
			message,
			success: (r) => (r && r.error_code ? reject(new Error(`${r.error_code} ${r.error}`)) : resolve(r)),
			error: reject,
		}));
	}

	async function refresh() {
		const r = await request({ request: 'list' });
		const list = $('list');
		list.textContent = '';
		for (const m of r.list || []) {
			const o = document.createElement('option');
			o.value = m.id;
			o.textContent = `${m.id}: ${m.description}${m.enabled ? '' : ' (disabled)'}`;
			list.appendChild(o);
		}
		if (qs.get('id')) list.value = qs.get('id');
	}

	async function create(ev) {
		ev.preventDefault();
		const url = $('url').value.trim();
		const type = url.toLowerCase().startsWith('rtmp') ? 'rtmp' : 'rtsp';
		try {
			const r = await request({ request: 'create', type, url, name: $('name').value.trim() || undefined });
			await refresh();
			$('list').value = r.stream.id;
		} catch (e) {
			fail('create', e);
		}
	}

	async function watch(ev) {
		if (ev) ev.preventDefault();
		const id = parseInt($('list').value || qs.get('id'), 10);
		if (!(id > 0)) return fail('watch', 'choose a mountpoint');
		$('error').hidden = true;
		try {
			const info = await request({ request: 'info', id });
			const media = (info.info.media || []).map((m) => `${m.type} ${m.codec}${m.transcoded ? ' (transcoded)' : ''}`);
			$('info').textContent = `${info.info.description}: ${media.join(', ')}`;
		} catch (e) {
			console.warn('info', e);
		}
		handle.send({ message: { request: 'watch', id } });
		setState('watching');
	}

	function stop() {
		handle.send({ message: { request: 'stop' } });
		handle.hangup();
		setState('stopped');
	}

	function onMessage(msg, jsep) {
		if (msg.error) return fail('streaming', `${msg.error_code} ${msg.error}`);
		const status = msg.result && msg.result.status;
		if (status === 'stopped') setState('stopped');
		if (jsep) {
			handle.createAnswer({
				jsep,
				tracks: [],	// capture nothing: the offered audio/video are accepted as recvonly
				success: (answer) => handle.send({ message: { request: 'start' }, jsep: answer }),
				error: (e) => fail('answer', e),
			});
		}
	}

	function onRemoteTrack(track, mid, on) {
		if (!on) {
			stream.getTracks().filter((t) => t.id === track.id).forEach((t) => stream.removeTrack(t));
			return;
		}
		stream.addTrack(track);
		let video = demo.video();
		if (!video) {
			video = document.createElement('video');
			video.autoplay = true;
			video.playsInline = true;
			video.muted = true;	// autoplay policy; unmute with the controls
			video.controls = true;
			video.srcObject = stream;
			$('videos').appendChild(video);
			video.addEventListener('playing', () => setState('playing'));
		}
		video.play().catch(() => {});
	}

	function start() {
		janus = new Janus({
			server: servers(),
			iceServers: cfg.iceServers || [],
			success: () => janus.attach({
				plugin: 'janus.plugin.streaming',
				success: async (h) => {
					handle = h;
					setState('ready');
					try {
						await refresh();
					} catch (e) {
						return fail('list', e);
					}
					if (qs.get('autoplay') === '1') watch();
				},
				error: (e) => fail('attach', e),
				onmessage: onMessage,
				onremotetrack: onRemoteTrack,
				oncleanup: () => { document.querySelectorAll('#videos video').forEach((v) => v.remove()); },
			}),
			error: (e) => fail('session', e),
		});
		setState('connecting');
	}

	$('watch-form').addEventListener('submit', watch);
	$('stop').addEventListener('click', stop);
	$('refresh').addEventListener('click', () => refresh().catch((e) => fail('list', e)));
	$('create-form').addEventListener('submit', create);
	Janus.init({
		debug: qs.get('debug') ? 'all' : ['warn', 'error'],
		callback: () => {
			if (!Janus.isWebrtcSupported()) return fail('init', 'this browser has no WebRTC support');
			start();
		},
	});
})();
