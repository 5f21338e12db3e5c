#!/usr/bin/env node
// Headless Chromium plays a streaming mountpoint through the demo page
// (demo/streaming.html?id=N&autoplay=1): the remote video must have a size
// and its currentTime must advance for ~2 s.
//
// Usage: node tests/browser/streaming.mjs <page-base-url> <mountpoint-id>
// Env: CHROMIUM (default /usr/bin/chromium), STREAMING_TIMEOUT_MS (default 30000).
// Prints one result line, then `browser-streaming: N passed, M failed`.
import { launchBrowser, openPeer, sleep, withTimeout } from './common.mjs';

const TIMEOUT_MS = Number(process.env.STREAMING_TIMEOUT_MS || 30000);
const PLAY_MS = 2000;

const [base, id] = process.argv.slice(2);
if (!base || !id) {
	console.error('usage: streaming.mjs <page-base-url> <mountpoint-id>');
	process.exit(2);
}

function snapshot() {
	const d = window.demo;
	if (!d) return { state: 'no window.demo', errors: [] };
	const v = d.video();
	return { state: d.state, errors: [...d.errors], w: v ? v.videoWidth : 0, h: v ? v.videoHeight : 0, t: v ? v.currentTime : 0 };
}

const browser = await launchBrowser();
let ok = false, detail = '';
let peer;
try {
	const url = new URL('streaming.html', base);
	url.searchParams.set('id', id);
	url.searchParams.set('autoplay', '1');
	peer = await openPeer(browser, 'viewer', url.href);
	const deadline = Date.now() + TIMEOUT_MS;
	let first = null;
	while (Date.now() < deadline) {
		const s = await withTimeout(peer.page.evaluate(snapshot), 5000, 'evaluate');
		detail = JSON.stringify(s);
		if (s.errors.length) break;
		if (s.w > 0 && s.h > 0) {
			if (!first) first = { t: s.t, at: Date.now() };
			else if (Date.now() - first.at >= PLAY_MS && s.t > first.t + 1) { ok = true; break; }
		}
		await sleep(250);
	}
} catch (e) {
	detail = `${detail} ${e.message}`;
} finally {
	if (!ok && peer) console.log(peer.logs.slice(-30).join('\n'));
	await browser.close();
}
console.log(`${ok ? 'PASS' : 'FAIL'} streaming mountpoint ${id}: ${detail}`);
console.log(`browser-streaming: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
process.exit(ok ? 0 : 1);
