#!/usr/bin/env node
// Headless-browser check of the video room demo: two Chromium pages (alice and
// bob) auto-join the same (random) room, each publishes Chromium's fake camera
// and microphone, and each must end up playing the other's video (videoWidth > 0
// and currentTime advancing for ~2 s).
//
// Usage: node tests/browser/videoroom.mjs <page-base-url> [server-override-url]
//   e.g. node tests/browser/videoroom.mjs http://127.0.0.1:8080/
//        node tests/browser/videoroom.mjs http://127.0.0.1:18080/ ws://127.0.0.1:18188
// Env: CHROMIUM (default /usr/bin/chromium), VIDEOROOM_TIMEOUT_MS (default 30000).
// Prints one result line, then `browser: N passed, M failed`; exits 0 or 1.
import {
	launchBrowser, openPeer, pageUrl, sleep, withTimeout,
} from './common.mjs';

const TIMEOUT_MS = Number(process.env.VIDEOROOM_TIMEOUT_MS || 30000);
const PLAY_MS = 2000;	// how long remote video must keep advancing

async function snapshot(peer) {
	return withTimeout(peer.page.evaluate(() => {
		const d = window.demo;
		if (!d) return { state: 'no window.demo', errors: [], myId: null, videos: [] };
		return {
			state: d.state, errors: [...d.errors], myId: d.myId,
			videos: d.remoteVideos().map((v) => ({
				id: v.id, feed: v.dataset.feed, w: v.videoWidth, h: v.videoHeight, t: v.currentTime,
			})),
		};
	}), 5000, `${peer.name}: evaluate`);
}

// Resolves with details once `viewer` plays `source`'s video, advancing for PLAY_MS.
async function waitForVideo(viewer, source, deadline) {
	const seen = new Map();	// element id -> { t, at } when first seen with frames
	let last = null;
	while (Date.now() < deadline) {
		const [s, src] = await Promise.all([snapshot(viewer), snapshot(source)]);
		last = s;
		if (s.state === 'error') throw new Error(`${viewer.name}: page error state: ${s.errors.join('; ')}`);
		if (src.state === 'error') throw new Error(`${source.name}: page error state: ${src.errors.join('; ')}`);
		for (const v of s.videos) {
			if (src.myId == null || v.feed !== String(src.myId) || v.w === 0) continue;
			const first = seen.get(v.id);
			if (!first || v.t < first.t) { seen.set(v.id, { t: v.t, at: Date.now() }); continue; }
			const elapsed = Date.now() - first.at;
			if (elapsed >= PLAY_MS && v.t - first.t >= (PLAY_MS / 1000) * 0.5) {
				return `${viewer.name} sees ${source.name} ${v.w}x${v.h} (+${(v.t - first.t).toFixed(1)}s in ${(elapsed / 1000).toFixed(1)}s)`;
			}
		}
		await sleep(250);
	}
	throw new Error(`${viewer.name} never played ${source.name}'s video ` +
		`(state=${last && last.state}, remote videos=${JSON.stringify(last && last.videos)})`);
}

async function main() {
	const [base, server] = process.argv.slice(2);
	if (!base) {
		console.error('usage: node tests/browser/videoroom.mjs <page-base-url> [server-override-url]');
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
			peers.push(await openPeer(browser, name, pageUrl(base, server, room, name)));
		}
		const [a, b] = peers;
		const results = await Promise.all([waitForVideo(b, a, deadline), waitForVideo(a, b, deadline)]);
		ok = true;
		console.log(`PASS videoroom room=${room} server=${server || '(page default)'}: ${results.join('; ')} ` +
			`[${((Date.now() - started) / 1000).toFixed(1)}s]`);
	} catch (err) {
		console.log(`FAIL videoroom room=${room} server=${server || '(page default)'}: ${err.message}`);
		for (const peer of peers) {
			const s = await snapshot(peer).catch((e) => ({ error: e.message }));
			console.log(`--- ${peer.name}: ${JSON.stringify(s)}`);
			console.log(peer.logs.slice(-150).join('\n'));
		}
	} finally {
		if (browser) await withTimeout(browser.close(), 10000, 'browser.close').catch((e) => console.error(e.message));
	}
	console.log(`browser: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
	return ok ? 0 : 1;
}

// Last resort if something unbounded hangs (process.exit also makes Playwright
// kill the browser it launched).
setTimeout(() => {
	console.log('FAIL videoroom: watchdog expired');
	console.log('browser: 0 passed, 1 failed');
	process.exit(1);
}, TIMEOUT_MS + 60000).unref();

process.exit(await main());
