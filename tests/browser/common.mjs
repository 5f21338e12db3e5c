// Shared by the headless-browser tests (videoroom.mjs, mcu.mjs): Chromium
// launch flags that keep WebRTC on 127.0.0.1, the page init script, helpers.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
	'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
	// No DNS at all (Chromium's background services would otherwise still look
	// up update/metrics hosts): the page must be on 127.0.0.1 or localhost.
	'--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
	// WebRTC: bind ICE sockets to 0.0.0.0 instead of to each interface address
	// (once camera access is granted Chromium would otherwise bind eth0's
	// address) and advertise no private host candidates. Checks sent to the
	// server's 127.0.0.1 candidate then leave from 127.0.0.1, and the server
	// learns that address as a peer-reflexive candidate.
	'--webrtc-ip-handling-policy=default_public_interface_only',
	// Should any host candidate still appear, show the IP, not an mDNS name.
	'--disable-features=WebRtcHideLocalIpsWithMdns',
	// The TLS tests serve a self-signed certificate made by the test.
	'--ignore-certificate-errors',
];

// Runs in every page before its scripts: belt and braces for the flags above.
// No STUN/TURN servers, and only 127.0.0.1 candidates are ever signalled (all
// others are swallowed before janus.js sees them), so the server never learns
// an address that is not loopback.
export function loopbackOnlyIce() {
	const Native = window.RTCPeerConnection;
	const listen = EventTarget.prototype.addEventListener;
	class LoopbackPeerConnection extends Native {
		constructor(config, ...rest) {
			super({ ...(config || {}), iceServers: [] }, ...rest);
			// Registered first, so it runs before (and can stop) the page's handlers.
			listen.call(this, 'icecandidate', (ev) => {
				const c = ev.candidate;
				if (c && c.candidate && !/ udp \d+ 127\.0\.0\.1 \d+ typ host/i.test(c.candidate)) {
					ev.stopImmediatePropagation();
				}
			});
		}
	}
	window.RTCPeerConnection = LoopbackPeerConnection;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function withTimeout(promise, ms, what) {
	let timer;
	return Promise.race([
		promise,
		new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
	]).finally(() => clearTimeout(timer));
}

export function launchBrowser() {
	return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 15000 });
}

// The demo page URL for one participant; `params` adds e.g. { mode: 'mcu' }.
export function pageUrl(base, server, room, display, params = {}) {
	const url = new URL(base);
	url.searchParams.set('room', String(room));
	url.searchParams.set('display', display);
	for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
	url.searchParams.set('autojoin', '1');
	if (server) url.searchParams.set('server', server);
	return url.href;
}

// A fresh context (own fake camera/mic permissions) and page, console collected in `logs`.
export async function openPeer(browser, name, url) {
	const context = await browser.newContext({ permissions: ['camera', 'microphone'], ignoreHTTPSErrors: true });
	await context.addInitScript(loopbackOnlyIce);
	const page = await context.newPage();
	const logs = [];
	page.on('console', (m) => logs.push(`[${name}] ${m.type()}: ${m.text()}`));
	page.on('pageerror', (e) => logs.push(`[${name}] pageerror: ${e.message}`));
	page.on('requestfailed', (r) => logs.push(`[${name}] requestfailed: ${r.url()} ${r.failure()?.errorText}`));
	await page.goto(url, { waitUntil: 'load', timeout: 10000 });
	return { name, page, logs };
}
