#!/usr/bin/env node
// Headless-browser check of the demo in an MCU room: two Chromium pages (alice
// and bob) auto-join the same (random) room with ?mode=mcu, each publishes
// Chromium's fake camera and microphone, and each must end up playing the mix
// (the virtual publisher 0): a remote video of the mix canvas size (640x360,
// as the page creates the room), currentTime advancing for ~2 s, the mix
// audio track, and a frame showing both publishers: the grid puts two tiles
// side by side, so both halves are lit and so are the far left and right of
// the middle row (a single 4:3 camera picture would leave black bars there).
//
// Usage: node tests/browser/mcu.mjs <page-base-url> [server-override-url]
//   e.g. node tests/browser/mcu.mjs http://127.0.0.1:8080/
// Env: CHROMIUM (default /usr/bin/chromium), MCU_TIMEOUT_MS (default 45000).
// Prints one result line, then `browser-mcu: N passed, M failed`; exits 0 or 1.
import {
	launchBrowser, openPeer, pageUrl, sleep, withTimeout,
} from './common.mjs';

const TIMEOUT_MS = Number(process.env.MCU_TIMEOUT_MS || 45000);
const PLAY_MS = 2000;	// how long the mix must keep advancing
const MIX_W = 640, MIX_H = 360;	// what demo/videoroom.js asks for when it creates an MCU room
const LIT = 40;	// a sampled pixel brighter than this (max of R, G, B) is "not black"

// In the page: the state, the remote videos and audios, and for each video of
// the mix size how many sampled pixels in its left and right halves are lit,
// and whether the two ends of its middle row are.
function pageSnapshot([w, h, lit]) {
	const d = window.demo;
	if (!d) return { state: 'no window.demo', errors: [], mode: null, videos: [] };
	const canvas = document.createElement('canvas');
	canvas.width = w;
	canvas.height = h;
	const ctx = canvas.getContext('2d', { willReadFrequently: true });
	const videos = d.remoteVideos().map((v) => {
		const info = { id: v.id, feed: v.dataset.feed, w: v.videoWidth, h: v.videoHeight, t: v.currentTime };
		if (v.videoWidth !== w || v.videoHeight !== h) return info;
		ctx.drawImage(v, 0, 0, w, h);
		const px = ctx.getImageData(0, 0, w, h).data;
		const isLit = (x, y) => Math.max(...px.slice((y * w + x) * 4, (y * w + x) * 4 + 3)) > lit;
		info.edges = isLit(8, h >> 1) && isLit(w - 9, h >> 1);
		info.left = info.right = 0;	// of 7 x 5 samples in each half
		for (let i = 1; i < 8; i++) {
			for (let j = 1; j < 6; j++) {
				const x = Math.floor((w / 2) * i / 8), y = Math.floor(h * j / 6);
				if (isLit(x, y)) info.left++;
				if (isLit(x + w / 2, y)) info.right++;
			}
		}
		return info;
	});
	const audios = [...document.querySelectorAll('#videos .remote audio')].map((a) => a.dataset.feed);
	return { state: d.state, errors: [...d.errors], mode: d.mode, myId: d.myId, videos, audios };
}

const snapshot = (peer) => withTimeout(peer.page.evaluate(pageSnapshot, [MIX_W, MIX_H, LIT]), 5000, `${peer.name}: evaluate`);

// Resolves with details once `viewer` plays the mix, advancing for PLAY_MS,
// with both halves of the frame lit (both publishers composited).
async function waitForMix(viewer, others, deadline) {
	const seen = new Map();	// element id -> { t, at } when first seen at the mix size
	let last = null;
	while (Date.now() < deadline) {
		const s = last = await snapshot(viewer);
		if (s.state === 'error') throw new Error(`${viewer.name}: page error state: ${s.errors.join('; ')}`);
		if (s.mode && s.mode !== 'mcu') throw new Error(`${viewer.name}: room mode is ${s.mode}, not mcu`);
		const bad = [...s.videos.map((v) => v.feed), ...s.audios].find((feed) => feed !== '0');
		if (bad) throw new Error(`${viewer.name}: receives feed ${bad} in an MCU room (only the mix, 0, is expected)`);
		const publishing = (await Promise.all(others.map(snapshot))).every((o) => o.state === 'publishing');
		for (const v of s.videos) {
			if (v.w !== MIX_W || v.h !== MIX_H) continue;
			const first = seen.get(v.id);
			if (!first || v.t < first.t) { seen.set(v.id, { t: v.t, at: Date.now() }); continue; }
			const elapsed = Date.now() - first.at;
			if (elapsed >= PLAY_MS && v.t - first.t >= (PLAY_MS / 1000) * 0.5
				&& s.state === 'publishing' && publishing && s.audios.length === 1
				&& v.left > 0 && v.right > 0 && v.edges) {
				return `${viewer.name} plays the mix ${v.w}x${v.h} (+${(v.t - first.t).toFixed(1)}s in ` +
					`${(elapsed / 1000).toFixed(1)}s, lit samples left ${v.left}/35 right ${v.right}/35, edges lit, mix audio)`;
			}
		}
		await sleep(250);
	}
	throw new Error(`${viewer.name} never played a ${MIX_W}x${MIX_H} mix with both tiles and audio ` +
		`(state=${last && last.state}, mode=${last && last.mode}, remote videos=${JSON.stringify(last && last.videos)}, ` +
		`remote audios=${JSON.stringify(last && last.audios)})`);
}

async function main() {
	const [base, server] = process.argv.slice(2);
	if (!base) {
		console.error('usage: node tests/browser/mcu.mjs <page-base-url> [server-override-url]');
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
		for (const name of ['alice', 'bob']) {
			peers.push(await openPeer(browser, name, pageUrl(base, server, room, name, { mode: 'mcu' })));
		}
		const [a, b] = peers;
		const results = await Promise.all([waitForMix(a, [b], deadline), waitForMix(b, [a], deadline)]);
		ok = true;
		console.log(`PASS mcu room=${room} server=${server || '(page default)'}: ${results.join('; ')} ` +
			`[${((Date.now() - started) / 1000).toFixed(1)}s]`);
	} catch (err) {
		console.log(`FAIL mcu room=${room} server=${server || '(page default)'}: ${err.message}`);
		for (const peer of peers) {
			const s = await snapshot(peer).catch((e) => ({ error: e.message }));
			console.log(`--- ${peer.name}: ${JSON.stringify(s)}`);
			console.log(peer.logs.slice(-150).join('\n'));
		}
	} finally {
		if (browser) await withTimeout(browser.close(), 10000, 'browser.close').catch((e) => console.error(e.message));
	}
	console.log(`browser-mcu: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
	return ok ? 0 : 1;
}

// Last resort if something unbounded hangs (process.exit also makes Playwright
// kill the browser it launched).
setTimeout(() => {
	console.log('FAIL mcu: watchdog expired');
	console.log('browser-mcu: 0 passed, 1 failed');
	process.exit(1);
}, TIMEOUT_MS + 60000).unref();

process.exit(await main());
