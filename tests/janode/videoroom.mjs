// janode (npm `janode`, the Janus Node.js SDK) against the gateway, unchanged:
// session and handles over WebSocket, videoroom create/exists/list, publisher
// joins, participants, events to others, errors as janode reports them,
// leave, kick and destroy.
//
// Usage: node tests/janode/videoroom.mjs ws://127.0.0.1:8188
// Prints `janode: N passed, M failed` and exits 0 only if all checks pass.
import Janode from 'janode';
import VideoRoomPlugin from 'janode/plugins/videoroom';

const url = process.argv[2];
if (!url) {
	console.error('usage: node tests/janode/videoroom.mjs <ws-url>');
	process.exit(2);
}
// Every wait is bounded: the whole run gets 30 s.
const killer = setTimeout(() => {
	console.error('janode test timed out');
	console.log('janode: 0 passed, 1 failed');
	process.exit(1);
}, 30000);

Janode.Logger.setLevel('warning');
let passed = 0, failed = 0;
function check(what, ok, detail = '') {
	if (ok) passed++; else failed++;
	console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? ': ' + detail : ''}`);
}
const waitEvent = (handle, name, ms = 5000) => new Promise((resolve, reject) => {
	const t = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms`)), ms);
	handle.once(name, (data) => { clearTimeout(t); resolve(data); });
});

let connection;
try {
	connection = await Janode.connect({ is_admin: false, address: { url } });
	const session = await connection.create();
	const admin = await session.attach(VideoRoomPlugin);
	const alice = await session.attach(VideoRoomPlugin);
	const bob = await session.attach(VideoRoomPlugin);
	const room = 500000 + Math.floor(Math.random() * 400000);

	const created = await admin.create({ room, description: 'janode room', max_publishers: 4, videocodec: 'vp8,h264', secret: 'adm' });
	check('create', created.room === room, JSON.stringify(created));
	const exists = await admin.exists({ room });
	check('exists', exists.exists === true, JSON.stringify(exists));
	const list = await admin.list();
	check('list', Array.isArray(list.list) && list.list.some(r => r.room === room), JSON.stringify(list));

	const a = await alice.joinPublisher({ room, display: 'alice' });
	check('alice joins', typeof a.feed === 'number' && Array.isArray(a.publishers), JSON.stringify(a));
	const b = await bob.joinPublisher({ room, display: 'bob' });
	check('bob joins', typeof b.feed === 'number' && b.feed !== a.feed, JSON.stringify(b));

	const parts = await admin.listParticipants({ room });
	const names = (parts.participants || []).map(p => p.display).sort().join(',');
	check('listParticipants', names === 'alice,bob', JSON.stringify(parts));

	let err = null;
	try { await admin.joinPublisher({ room: room + 1, display: 'nobody' }); } catch (e) { err = e; }
	check('join of an unknown room rejects with 426', err && /426/.test(String(err.message)), String(err));

	const leavingSeen = waitEvent(alice, VideoRoomPlugin.EVENT.VIDEOROOM_LEAVING);
	const left = await bob.leave();
	check('bob leaves', left && left.room === room, JSON.stringify(left));
	const ev = await leavingSeen;
	check('alice hears bob leaving', ev.feed === b.feed, JSON.stringify(ev));

	const kicked = await admin.kick({ room, feed: a.feed, secret: 'adm' });
	check('kick', kicked && kicked.room === room, JSON.stringify(kicked));
	const after = await admin.listParticipants({ room });
	check('kicked participant gone', (after.participants || []).length === 0, JSON.stringify(after));

	const destroyed = await admin.destroy({ room, secret: 'adm' });
	check('destroy', destroyed.room === room, JSON.stringify(destroyed));
	await session.destroy();
} catch (e) {
	check('janode run', false, e && e.stack || String(e));
} finally {
	clearTimeout(killer);
	if (connection) await connection.close().catch(() => {});
}
console.log(`janode: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
