#!/usr/bin/env node
// Headless-browser check of simulcast and the call controls through the demo page: alice publishes
// Chromium's fake camera at 1280x720 with janus.js `simulcast: true` (rids
// h/m/l); bob's page picks alice's layers with its layer picker
// (`configure {streams:[{mid, substream}]}`) 0 -> 2 -> 0, and his <video>'s
// videoWidth must follow (320 -> 1280 -> 320), with the server's
// `{"videoroom":"event","mid","substream"}` events. Then alice shares her
// screen (Chromium's fake screen, a renegotiation) and bob plays it, she
// stops it and her camera plays on; mute, camera and bitrate labels work.
//
// Usage: node tests/browser/simulcast.mjs <page-base-url> [server-override-url]
// Env: CHROMIUM, SIMULCAST_TIMEOUT_MS (default 60000).
// Prints one result line, then `browser: N passed, M failed`; exits 0 or 1.
import {
	launchBrowser, openPeer, pageUrl, sleep, withTimeout,
} from './common.mjs';

const TIMEOUT_MS = Number(process.env.SIMULCAST_TIMEOUT_MS || 60000);

async function snapshot(peer) {
	return withTimeout(peer.page.evaluate(() => {
		const d = window.demo;
		if (!d) return { state: 'no window.demo', errors: [], myId: null, videos: [], layers: {} };
		return {
			state: d.state, errors: [...d.errors], myId: d.myId, layers: { ...d.layers },
			videos: d.remoteVideos().map((v) => ({
				mid: v.dataset.mid, feed: v.dataset.feed, w: v.videoWidth, h: v.videoHeight, t: v.currentTime,
			})),
			// What this page's own camera captures (the publisher's side).
			capture: d.captureSettings ? d.captureSettings() : null,
		};
	}), 5000, `${peer.name}: evaluate`);
}

// Waits until `viewer` plays `source`'s video at a width `ok(w)` accepts, with
// the layer event `layer` seen (if given); returns { mid, w, h, ms }.
async function waitFor(viewer, source, ok, layer, deadline, what) {
	const started = Date.now();
	let last = null;
	while (Date.now() < deadline) {
		const [s, src] = await Promise.all([snapshot(viewer), snapshot(source)]);
		last = s;
		if (s.state === 'error') throw new Error(`${viewer.name}: ${s.errors.join('; ')}`);
		const v = s.videos.find((x) => src.myId != null && x.feed === String(src.myId));
		if (v && ok(v.w) && (layer === null || s.layers[v.mid] === layer)) {
			return { mid: v.mid, w: v.w, h: v.h, ms: Date.now() - started };
		}
		await sleep(250);
	}
	throw new Error(`${what}: not reached (${JSON.stringify(last)})`);
}

// Waits until `viewer`'s videos of `source` satisfy `ok(videos)`; returns them.
async function waitVideos(viewer, source, ok, deadline, what) {
	let last = null;
	while (Date.now() < deadline) {
		const [s, src] = await Promise.all([snapshot(viewer), snapshot(source)]);
		last = s;
		const vs = s.videos.filter((x) => src.myId != null && x.feed === String(src.myId));
		if (ok(vs)) return vs;
		await sleep(250);
	}
	throw new Error(`${what}: not reached (${JSON.stringify(last)})`);
}

async function main() {
	const [base, server] = process.argv.slice(2);
	if (!base) {
		console.error('usage: node tests/browser/simulcast.mjs <page-base-url> [server-override-url]');
		return 2;
	}
	const room = 100000 + Math.floor(Math.random() * 900000);
	const started = Date.now();
	const deadline = started + TIMEOUT_MS;
	let browser = null;
	const peers = [];
	let ok = false;
	try {
		browser = await launchBrowser();
		peers.push(await openPeer(browser, 'alice', pageUrl(base, server, room, 'alice', { simulcast: '1' })));
		peers.push(await openPeer(browser, 'bob', pageUrl(base, server, room, 'bob')));
		const [alice, bob] = peers;
		const steps = [];
		const first = await waitFor(bob, alice, (w) => w > 0, null, deadline, 'bob plays alice');
		steps.push(`first ${first.w}x${first.h}`);
		const mid = first.mid;
		for (const [substream, ok, what] of [
			[0, (w) => w > 0 && w <= 400, 'low layer (320 wide)'],
			[2, (w) => w >= 1200, 'high layer (1280 wide)'],
			[0, (w) => w > 0 && w <= 400, 'low layer again'],
		]) {
			await bob.page.evaluate(([m, s]) => window.demo.setSubstream(m, s), [mid, substream]);
			const r = await waitFor(bob, alice, ok, substream, deadline, `substream ${substream}: ${what}`);
			steps.push(`substream ${substream} -> ${r.w}x${r.h} in ${r.ms} ms`);
		}
		// Screen share (a renegotiation on alice's PeerConnection): bob gets
		// a second video from alice, 1280 wide; stopping it leaves the camera.
		await alice.page.click('#screen');
		const shared = await waitVideos(bob, alice, (vs) => vs.length >= 2 && vs.some((v) => v.mid !== mid && v.w >= 1200), deadline, 'screen share reaches bob');
		steps.push(`screen share -> bob plays ${shared.length} videos of alice`);
		await alice.page.click('#screen');
		await waitVideos(bob, alice, (vs) => vs.length === 1 && vs[0].mid === mid && vs[0].w > 0, deadline, 'screen share ends');
		steps.push('screen share stopped, camera plays on');
		// An ICE restart of alice's publisher (janus.js `iceRestart`): her
		// browser gets new local credentials; the gateway keeps its own
		// (GStreamer 1.22). Her PeerConnection stays up and bob's video
		// keeps playing.
		const before = await alice.page.evaluate(() => window.demo.iceUfrag());
		await withTimeout(alice.page.evaluate(() => window.demo.restartIce()), 15000, 'ice restart');
		const t0 = await bob.page.evaluate(() => document.querySelector('#videos .remote video')?.currentTime || 0);
		await new Promise((r) => setTimeout(r, 3000));
		const after = await alice.page.evaluate(() => [window.demo.iceUfrag(), window.demo.iceState()]);
		const t1 = await bob.page.evaluate(() => document.querySelector('#videos .remote video')?.currentTime || 0);
		if (!after[0] || after[0] === before) throw new Error(`ICE restart: ufrag ${before} -> ${after[0]}`);
		if (!['connected', 'completed'].includes(after[1])) throw new Error(`ICE restart: alice's ICE is ${after[1]}`);
		if (!(t1 > t0 + 2)) throw new Error(`ICE restart: bob's video stalled (${t0} -> ${t1})`);
		steps.push(`ICE restart (ufrag ${before} -> ${after[0]}), alice ${after[1]}, bob plays on (+${(t1 - t0).toFixed(1)} s)`);
		// The other controls: mute, camera off, bitrate labels, talking.
		await alice.page.click('#mute');
		await alice.page.click('#camera');
		const labels = await alice.page.evaluate(() => [document.getElementById('mute').textContent, document.getElementById('camera').textContent]);
		if (labels[0] !== 'Unmute' || labels[1] !== 'Camera on') throw new Error(`controls: ${labels}`);
		const rate = await bob.page.evaluate((m) => document.getElementById(`rate-${m}`)?.textContent || '', mid);
		if (!/kbit/i.test(rate)) throw new Error(`no bitrate label on bob's tile (${JSON.stringify(rate)})`);
		steps.push(`mute/camera toggled, bob's tile shows ${rate}`);
		ok = true;
		console.log(`PASS simulcast room=${room}: ${steps.join('; ')} [${((Date.now() - started) / 1000).toFixed(1)}s]`);
	} catch (err) {
		console.log(`FAIL simulcast room=${room}: ${err.message}`);
		for (const peer of peers) {
			const s = await snapshot(peer).catch((e) => ({ error: e.message }));
			console.log(`--- ${peer.name}: ${JSON.stringify(s)}`);
			console.log(peer.logs.slice(-100).join('\n'));
		}
	} finally {
		if (browser) await withTimeout(browser.close(), 10000, 'browser.close').catch((e) => console.error(e.message));
	}
	console.log(`browser: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
	return ok ? 0 : 1;
}

setTimeout(() => {
	console.log('FAIL simulcast: watchdog expired');
	console.log('browser: 0 passed, 1 failed');
	process.exit(1);
}, TIMEOUT_MS + 60000).unref();

process.exit(await main());
