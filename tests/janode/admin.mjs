// janode's Admin API client (Janode.connect({is_admin: true})) against the
// gateway, unchanged: listSessions, listHandles, handleInfo, and the token
// requests through sendRequest; a public janode connection carrying the
// token the admin added.
//
// Usage: node tests/janode/admin.mjs <ws-url> <admin-ws-url> <admin-secret>
// Prints `janode admin: N passed, M failed`; exits 0 only if all pass.
import Janode from 'janode';
import VideoRoomPlugin from 'janode/plugins/videoroom';

const [url, adminUrl, secret] = process.argv.slice(2);
if (!url || !adminUrl || !secret) {
	console.error('usage: node tests/janode/admin.mjs <ws-url> <admin-ws-url> <admin-secret>');
	process.exit(2);
}
const killer = setTimeout(() => {
	console.error('janode admin test timed out');
	console.log('janode admin: 0 passed, 1 failed');
	process.exit(1);
}, 30000);

Janode.Logger.setLevel('warning');
let passed = 0, failed = 0;
function check(what, ok, detail = '') {
	if (ok) passed++; else failed++;
	console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? ': ' + detail : ''}`);
}

let admin, user, denied;
try {
	// janode sends the address's `apisecret` as `admin_secret` on admin connections.
	admin = await Janode.connect({ is_admin: true, address: { url: adminUrl, apisecret: secret } });
	const added = await admin.sendRequest({ janus: 'add_token', token: 'janode-token', plugins: [VideoRoomPlugin.id] });
	check('add_token', Array.isArray(added.data?.plugins) && added.data.plugins.includes(VideoRoomPlugin.id), JSON.stringify(added));
	const tokens = await admin.sendRequest({ janus: 'list_tokens' });
	check('list_tokens', tokens.data?.tokens?.some(t => t.token === 'janode-token'), JSON.stringify(tokens));

	// Without the token the public API refuses; with it janode works as usual.
	denied = await Janode.connect({ address: { url } });
	try {
		await denied.create();
		check('create without a token is refused', false, 'it was accepted');
	} catch (e) {
		check('create without a token is refused', String(e.message).includes('403'), e.message);
	}
	user = await Janode.connect({ address: { url, token: 'janode-token' } });
	const session = await user.create();
	const handle = await session.attach(VideoRoomPlugin);
	check('session and handle with the token', session.id > 0 && handle.id > 0);

	const sessions = await admin.listSessions();
	check('listSessions', sessions.sessions?.includes(session.id), JSON.stringify(sessions));
	const handles = await admin.listHandles(session.id);
	check('listHandles', handles.handles?.includes(handle.id), JSON.stringify(handles));
	const info = await admin.handleInfo(session.id, handle.id);
	check('handleInfo', info.info?.plugin === VideoRoomPlugin.id && info.info?.token === 'janode-token', JSON.stringify(info));
	try {
		await admin.sendRequest({ janus: 'remove_token', token: 'no-such-token' });
		check('remove_token of an unknown token fails', false);
	} catch (e) {
		check('remove_token of an unknown token fails', String(e.message).includes('470'), e.message);
	}
	const removed = await admin.sendRequest({ janus: 'remove_token', token: 'janode-token' });
	check('remove_token', removed.janus === 'success', JSON.stringify(removed));
	await session.destroy().catch(() => {});
} catch (e) {
	check('no exception', false, e.stack || e.message);
}
for (const c of [user, denied, admin]) {
	if (c) await c.close().catch(() => {});
}
clearTimeout(killer);
console.log(`janode admin: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
