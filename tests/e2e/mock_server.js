// A tiny stand-in for nusad's web server, for working on the pages
// without a box: node tests/e2e/mock_server.js PORT [WEB_ROOT].
// In-memory data shaped as docs/API.md says. Not used by make test: the
// end-to-end test (web_e2e.js) drives the real nusad.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const port = +(process.argv[2] || 8099);
const root = path.resolve(process.argv[3] || path.join(__dirname, '../../web'));
const types = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript',
	'.css': 'text/css', '.json': 'application/json'};
const hex = (n) => crypto.randomBytes(n).toString('hex');
const today = () => new Date().toISOString().slice(0, 10);

const users = {siti: {pin: '1234', role: 'clerk'},
	budi: {pin: '1234', role: 'treasurer'},
	ani: {pin: '1234', role: 'admin'}};
const sessions = {};
const members = [
	{id: 'M001', name: 'Siti Aminah', village: 'Labuan'},
	{id: 'M002', name: 'Wayan Sudarsana', village: 'Rinca'},
	{id: 'M003', name: 'Yohanes Bria Lake', village: null}];
const accounts = [
	{id: 'A001', member: 'M001', type: 'sukarela'},
	{id: 'A002', member: 'M001', type: 'wajib'},
	{id: 'L001', member: 'M001', type: 'loan'},
	{id: 'A003', member: 'M002', type: 'sukarela'}];
const postings = [];
function post(type, account, amount, memo, by) {
	const sign = type === 'withdraw' || type === 'repay' ? -1 : 1;
	const e = {entry: hex(32), type, account, amount: sign * amount,
		memo: memo || '', date: today(), time: Math.floor(Date.now() / 1000),
		by: by || null, device: hex(32), reversed: false};
	postings.push(e);
	return e;
}
post('deposit', 'A001', 150000, 'setor awal');
post('deposit', 'A002', 25000, 'wajib Nov');
post('disburse', 'L001', 2000000, 'modal warung');
post('repay', 'L001', 250000, 'angsuran 1');
post('withdraw', 'A001', 20000, '');
post('deposit', 'A003', 100000, 'setor');
const w1 = post('withdraw', 'A003', 80000, 'di Labuan', 'siti');
const w2 = post('withdraw', 'A003', 70000, 'di Rinca');
const balance = (id) => postings.filter((p) => p.account === id)
	.reduce((s, p) => s + p.amount, 0);
const msg = {id: {login_failed: 'Nama pengguna atau PIN salah.',
	invalid: 'Isian tidak valid.', not_found: 'Tidak ditemukan.',
	exists: 'Sudah ada.', insufficient_funds: 'Saldo tidak cukup.'},
en: {login_failed: 'Wrong user name or PIN.', invalid: 'Invalid input.',
	not_found: 'Not found.', exists: 'Already exists.',
	insufficient_funds: 'Not enough balance.'}};
let failures = 0;

function cookies(req) {
	const c = {};
	(req.headers.cookie || '').split(';').forEach((kv) => {
		const i = kv.indexOf('=');
		if (i > 0)
			c[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
	});
	return c;
}

http.createServer((req, res) => {
	let body = '';
	req.on('data', (d) => { body += d; });
	req.on('end', () => handle(req, res, body));
}).listen(port, '127.0.0.1', () => console.log(`mock on ${port}`));

function handle(req, res, raw) {
	const u = new URL(req.url, 'http://x');
	const c = cookies(req);
	const s = sessions[c.nusa_session];
	const lang = (s && s.lang) || c.nusa_lang || 'id';
	const send = (code, obj, headers) => {
		res.writeHead(code, Object.assign({'Content-Type':
			'application/json'}, headers || {}));
		res.end(obj === undefined ? '' : JSON.stringify(obj));
	};
	const fail = (code, error, field) => send(code, {error,
		message: msg[lang][error] || error, field});
	if (!u.pathname.startsWith('/api/v1/')) {
		const rel = u.pathname === '/' ? 'index.html' : u.pathname.slice(1);
		const f = path.join(root, rel);
		if (!f.startsWith(root) || !fs.existsSync(f) ||
		    !fs.statSync(f).isFile())
			return fail(404, 'not_found');
		let data = fs.readFileSync(f);
		if (rel === 'index.html')
			data = data.toString().replace('<html lang="id">',
				`<html lang="${lang}">`);
		res.writeHead(200, {'Content-Type': types[path.extname(f)] ||
			'application/octet-stream', 'Cache-Control': 'no-cache'});
		return res.end(data);
	}
	let b = {};
	if (raw) {
		try { b = JSON.parse(raw); } catch (e) { return fail(400, 'invalid', 'body'); }
	}
	const p = u.pathname.slice(8);
	const m = req.method;
	if (m === 'POST' && p === 'login') {
		const usr = users[b.user];
		if (failures >= 5)
			return send(429, {error: 'rate_limited', message: 'slow down',
				retry_after: 4}, {'Retry-After': '4'});
		if (!usr || usr.pin !== b.pin) {
			failures++;
			return fail(401, 'login_failed');
		}
		failures = 0;
		const id = hex(32);
		sessions[id] = {user: b.user, role: usr.role, csrf: hex(16), lang};
		return send(200, sessions[id], {'Set-Cookie':
			`nusa_session=${id}; HttpOnly; SameSite=Strict; Path=/`});
	}
	if (m === 'POST' && p === 'lang') {
		if (s)
			s.lang = b.lang;
		return send(200, {lang: b.lang}, {'Set-Cookie':
			`nusa_lang=${b.lang}; SameSite=Strict; Path=/; Max-Age=31536000`});
	}
	if (!s)
		return fail(401, 'not_signed_in');
	if (m !== 'GET' && req.headers['x-csrf-token'] !== s.csrf)
		return fail(403, 'csrf');
	let r;
	if (m === 'GET' && p === 'me')
		return send(200, s);
	if (m === 'POST' && p === 'logout') {
		delete sessions[c.nusa_session];
		return send(204);
	}
	if (m === 'GET' && p === 'box')
		return send(200, {device: hex(32), network: {id: hex(32),
			name: 'Koperasi Mina Bahari'}, entries: postings.length + 7,
			mode: 'box'});
	if (m === 'GET' && p === 'members') {
		const q = (u.searchParams.get('q') || '').toLowerCase();
		const all = members.filter((x) => x.id.toLowerCase().includes(q) ||
			x.name.toLowerCase().includes(q));
		const off = +(u.searchParams.get('offset') || 0);
		const lim = +(u.searchParams.get('limit') || 50);
		return send(200, {total: all.length, members: all.slice(off,
			off + lim).map((x) => {
			const a = accounts.filter((y) => y.member === x.id);
			return Object.assign({}, x, {
				savings: a.filter((y) => y.type !== 'loan')
					.reduce((t, y) => t + balance(y.id), 0),
				owed: a.filter((y) => y.type === 'loan')
					.reduce((t, y) => t + balance(y.id), 0)});
		})});
	}
	if (m === 'POST' && p === 'members') {
		if (!b.id)
			return fail(400, 'invalid', 'id');
		if (!b.name)
			return fail(400, 'invalid', 'name');
		if (members.find((x) => x.id === b.id))
			return fail(409, 'exists', 'id');
		members.push({id: b.id, name: b.name, village: b.village || null});
		return send(201, {id: b.id, name: b.name, village: b.village || null,
			savings: 0, owed: 0});
	}
	if (m === 'GET' && (r = /^members\/([^/]+)$/.exec(p))) {
		const x = members.find((y) => y.id === decodeURIComponent(r[1]));
		if (!x)
			return fail(404, 'not_found');
		return send(200, Object.assign({}, x, {fields: {phone: '0812-555'},
			accounts: accounts.filter((y) => y.member === x.id).map((y) =>
				({id: y.id, type: y.type, balance: balance(y.id)}))}));
	}
	if (m === 'POST' && p === 'accounts') {
		if (!members.find((x) => x.id === b.member))
			return fail(404, 'not_found', 'member');
		if (!b.id)
			return fail(400, 'invalid', 'id');
		if (accounts.find((x) => x.id === b.id))
			return fail(409, 'exists', 'id');
		accounts.push({id: b.id, member: b.member, type: b.type});
		return send(201, {id: b.id, member: b.member, type: b.type,
			balance: 0});
	}
	if (m === 'GET' && (r = /^accounts\/([^/]+)$/.exec(p))) {
		const a = accounts.find((y) => y.id === decodeURIComponent(r[1]));
		if (!a)
			return fail(404, 'not_found');
		const ps = postings.filter((y) => y.account === a.id).reverse();
		const off = +(u.searchParams.get('offset') || 0);
		const lim = +(u.searchParams.get('limit') || 50);
		return send(200, Object.assign({}, a, {balance: balance(a.id),
			total: ps.length, postings: ps.slice(off, off + lim)}));
	}
	if (m === 'POST' && p === 'postings') {
		const a = accounts.find((y) => y.id === b.account);
		if (!a)
			return fail(404, 'not_found', 'account');
		if (!Number.isInteger(b.amount) || b.amount < 1)
			return fail(400, 'invalid', 'amount');
		const sign = b.type === 'withdraw' || b.type === 'repay' ? -1 : 1;
		const nb = balance(a.id) + sign * b.amount;
		if (nb < 0)
			return fail(409, 'insufficient_funds', 'amount');
		if (!b.confirm)
			return send(200, {preview: true, account: a.id,
				balance: balance(a.id), new_balance: nb});
		const e = post(b.type, a.id, b.amount, b.memo, s.user);
		return send(201, {entry: e.entry, account: a.id, balance: nb});
	}
	if (m === 'POST' && (r = /^postings\/([0-9a-f]{64})\/reverse$/.exec(p))) {
		if (s.role === 'clerk')
			return fail(403, 'forbidden');
		const e = postings.find((y) => y.entry === r[1]);
		if (!e)
			return fail(404, 'not_found');
		e.reversed = true;
		const x = post('reversal', e.account, 0, b.memo, s.user);
		x.amount = -e.amount;
		return send(201, {entry: x.entry});
	}
	if (m === 'GET' && p === 'conflicts')
		return send(200, {conflicts: [
			{kind: 'overdraft', account: 'A003', balance: -50000,
				lowest: -50000, entries: [w1.entry, w2.entry]},
			{kind: 'fork', device: hex(32), seq: 17,
				entries: [hex(32), hex(32)]},
			{kind: 'double_reversal', entry: hex(32),
				reversals: [hex(32), hex(32)]}]});
	if (m === 'GET' && p === 'sync')
		return send(200, {device: hex(32), peers: [
			{id: hex(32), address: 'tcp://192.0.2.7:7700', source: 'discovery',
				connected: true, last_sync: Math.floor(Date.now() / 1000) - 60,
				behind: 0, ahead: 3, last_error: null},
			{id: hex(32), address: null, source: 'static', connected: false,
				last_sync: null, behind: null, ahead: null,
				last_error: 'connection refused'}],
		hub: null});
	if (m === 'GET' && p === 'users')
		return send(200, {users: Object.keys(users).map((n) =>
			({user: n, role: users[n].role}))});
	if (m === 'POST' && p === 'users') {
		if (!/^[\w.-]{1,32}$/.test(b.user || ''))
			return fail(400, 'invalid', 'user');
		if (String(b.pin || '').length < 4)
			return fail(400, 'invalid', 'pin');
		if (users[b.user])
			return fail(409, 'exists', 'user');
		users[b.user] = {pin: b.pin, role: b.role};
		return send(201, {user: b.user, role: b.role});
	}
	if (m === 'DELETE' && (r = /^users\/([^/]+)$/.exec(p))) {
		delete users[decodeURIComponent(r[1])];
		return send(204);
	}
	if (m === 'GET' && p === 'export/balances.csv') {
		res.writeHead(200, {'Content-Type': 'text/csv; charset=utf-8',
			'Content-Disposition': 'attachment; filename="balances.csv"'});
		return res.end('account,balance\n' + accounts.map((a) =>
			`${a.id},${balance(a.id)}`).join('\n') + '\n');
	}
	return fail(404, 'not_found');
}
