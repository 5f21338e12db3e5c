#!/usr/bin/env node
// Headless Chromium drives the operator console (demo/console, served on the
// admin listener at <admin_base>/): it logs in with the admin secret, finds
// the room and its publisher, mutes the publisher's audio, and starts the
// room's recording, which must then be listed as running.
//
// Usage: node tests/browser/console.mjs <console-url> <admin-secret> <room> <feed>
// Prints `MUTED` and `RECORDING <file>` as it goes, then `browser-console: ok`.
// Env: CHROMIUM (default /usr/bin/chromium).
import { launchBrowser, openPeer, withTimeout } from './common.mjs';

const [url, secret, room, feed] = process.argv.slice(2);
if (!url || !room || !feed) {
	console.error('usage: console.mjs <console-url> <admin-secret> <room> <feed>');
	process.exit(2);
}
const STEP_MS = 15000;

const browser = await launchBrowser();
let peer;
try {
	peer = await openPeer(browser, 'console', url);
	const page = peer.page;
	await page.fill('#secret', secret);
	await page.click('#login button[type=submit]');
	const row = `[data-room="${room}"] tr[data-participant="${feed}"]`;
	await withTimeout(page.waitForSelector(`${row} button[data-action="mute"][data-kind="audio"]`), STEP_MS, 'the room and its publisher listed');
	await page.click(`${row} button[data-action="mute"][data-kind="audio"]`);
	await withTimeout(page.waitForSelector(`${row} button[data-action="unmute"][data-kind="audio"]`), STEP_MS, 'the audio shown muted');
	console.log('MUTED');
	await page.click(`[data-room="${room}"] button[data-action="record"]`);
	const rec = await withTimeout(page.waitForSelector('#recordings tr[data-state="recording"]'), STEP_MS, 'the recording listed');
	console.log(`RECORDING ${await rec.getAttribute('data-file')}`);
	const status = await page.textContent('#status');
	if (/error|\d{3} /i.test(status) && !/updated/.test(status)) throw new Error(`console status: ${status}`);
	console.log('browser-console: ok');
} catch (e) {
	console.log(`browser-console: FAILED: ${e.message}`);
	if (peer) {
		console.log(peer.logs.join('\n'));
		const st = await peer.page.textContent('#status').catch(() => '?');
		const rooms = await peer.page.innerHTML('#rooms').catch(() => '?');
		console.log(`status: ${st}\nrooms: ${rooms.slice(0, 2000)}`);
	}
	process.exitCode = 1;
} finally {
	await browser.close();
}
