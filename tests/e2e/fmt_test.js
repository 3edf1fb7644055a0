// Checks of the web app that need no browser: the formatting helpers of
// web/app.js, the two catalogues (same keys; every key the code uses is
// there), nothing fetched from outside the box, no HTML built from data,
// and the weight of the first load. Run: node tests/e2e/fmt_test.js
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');

const web = path.join(__dirname, '../../web');
const fmt = require(path.join(web, 'app.js'));
let passed = 0;
let failed = 0;
function test(name, fn) {
	try {
		fn();
		passed++;
		console.log(`ok - ${name}`);
	} catch (e) {
		failed++;
		console.log(`not ok - ${name}: ${e.message}`);
	}
}

test('fmtRp: dot thousands, no decimals, Rp prefix', () => {
	assert.strictEqual(fmt.fmtRp(1250000), 'Rp 1.250.000');
	assert.strictEqual(fmt.fmtRp(0), 'Rp 0');
	assert.strictEqual(fmt.fmtRp(7), 'Rp 7');
	assert.strictEqual(fmt.fmtRp(999), 'Rp 999');
	assert.strictEqual(fmt.fmtRp(1000), 'Rp 1.000');
	assert.strictEqual(fmt.fmtRp(100000), 'Rp 100.000');
	assert.strictEqual(fmt.fmtRp(1e12), 'Rp 1.000.000.000.000');
	assert.strictEqual(fmt.fmtRp('150000'), 'Rp 150.000');
});
test('fmtRp: negative is -Rp', () => {
	assert.strictEqual(fmt.fmtRp(-50000), '-Rp 50.000');
	assert.strictEqual(fmt.fmtRp(-1), '-Rp 1');
	assert.strictEqual(fmt.fmtRp(-0), 'Rp 0');
	assert.strictEqual(fmt.fmtRp('-1250000'), '-Rp 1.250.000');
});
test('fmtRp: not a number is a dash, never "NaN"', () => {
	for (const v of [null, undefined, NaN, Infinity, 'abc', '', '1e5', {}])
		assert.strictEqual(fmt.fmtRp(v), '\u2013', String(v));
});
test('fmtDate: 23 Nov 2026, Indonesian months', () => {
	assert.strictEqual(fmt.fmtDate('2026-11-23', 'id'), '23 Nov 2026');
	assert.strictEqual(fmt.fmtDate('2026-11-23', 'en'), '23 Nov 2026');
	assert.strictEqual(fmt.fmtDate('2026-01-05', 'id'), '5 Jan 2026');
	const id = ['Jan', 'Feb', 'Mar', 'Apr', 'Mei', 'Jun', 'Jul', 'Agu',
		'Sep', 'Okt', 'Nov', 'Des'];
	const en = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug',
		'Sep', 'Oct', 'Nov', 'Dec'];
	for (let m = 1; m <= 12; m++) {
		const d = `2026-${String(m).padStart(2, '0')}-17`;
		assert.strictEqual(fmt.fmtDate(d, 'id'), `17 ${id[m - 1]} 2026`);
		assert.strictEqual(fmt.fmtDate(d, 'en'), `17 ${en[m - 1]} 2026`);
	}
});
test('fmtDate: anything else is left as it is', () => {
	assert.strictEqual(fmt.fmtDate('2026-13-01', 'id'), '2026-13-01');
	assert.strictEqual(fmt.fmtDate('kemarin', 'id'), 'kemarin');
	assert.strictEqual(fmt.fmtDate(null, 'id'), '');
});
test('fmtUnix: date and local time', () => {
	const d = new Date(2026, 10, 23, 14, 5);
	assert.strictEqual(fmt.fmtUnix(d.getTime() / 1000, 'id'),
		'23 Nov 2026 14:05');
	const a = new Date(2026, 7, 3, 9, 0);
	assert.strictEqual(fmt.fmtUnix(a.getTime() / 1000, 'id'),
		'3 Agu 2026 09:00');
	assert.strictEqual(fmt.fmtUnix(a.getTime() / 1000, 'en'),
		'3 Aug 2026 09:00');
	assert.strictEqual(fmt.fmtUnix(null, 'id'), '');
});
test('parseAmount: what a clerk types', () => {
	assert.strictEqual(fmt.parseAmount('150000'), 150000);
	assert.strictEqual(fmt.parseAmount('150.000'), 150000);
	assert.strictEqual(fmt.parseAmount(' Rp 1.250.000 '), 1250000);
	assert.strictEqual(fmt.parseAmount('1000000000000'), 1e12);
	for (const v of ['', '0', '-5', '1,5', '12abc', '1000000000001',
		'1e6', null])
		assert.strictEqual(fmt.parseAmount(v), null, String(v));
});
test('tr: placeholders, and a missing key shows itself', () => {
	const cat = {a: 'Coba lagi dalam {s} detik.'};
	assert.strictEqual(fmt.tr(cat, 'a', {s: 4}), 'Coba lagi dalam 4 detik.');
	assert.strictEqual(fmt.tr(cat, 'b'), 'b');
	assert.strictEqual(fmt.tr(cat, 'a'), 'Coba lagi dalam {s} detik.');
});

const src = fs.readFileSync(path.join(web, 'app.js'), 'utf8');
const cats = {};
for (const l of ['id', 'en'])
	cats[l] = JSON.parse(fs.readFileSync(path.join(web, 'i18n', l + '.json'),
		'utf8'));

test('catalogues: id and en have the same keys, none empty', () => {
	const a = Object.keys(cats.id).sort();
	const b = Object.keys(cats.en).sort();
	assert.deepStrictEqual(a.filter((k) => !b.includes(k)), []);
	assert.deepStrictEqual(b.filter((k) => !a.includes(k)), []);
	for (const l of ['id', 'en'])
		for (const k of a)
			assert.ok(String(cats[l][k]).trim(), `${l}: ${k} is empty`);
	assert.notStrictEqual(cats.id['login.title'], cats.en['login.title']);
});
test('catalogues: every key the code names is there', () => {
	const used = new Set();
	for (const m of src.matchAll(/\bt\('([\w.]+\w)'/g))
		used.add(m[1]);
	for (const m of src.matchAll(/\['\w+', '([\w.]+\.[\w.]+)'\]/g))
		used.add(m[1]);
	const families = {acct: ['pokok', 'wajib', 'sukarela', 'loan'],
		post: ['deposit', 'withdraw', 'disburse', 'repay'],
		role: ['clerk', 'treasurer', 'admin'],
		export: ['members', 'accounts', 'balances', 'postings'],
		err: ['login_failed', 'rate_limited', 'not_signed_in', 'forbidden',
			'csrf', 'network', 'too_large', 'internal', 'busy']};
	for (const f in families)
		for (const k of families[f])
			used.add(`${f}.${k}`);
	assert.ok(used.size > 100, `only ${used.size} keys found in app.js`);
	for (const k of used)
		for (const l of ['id', 'en'])
			assert.ok(k in cats[l], `${l}.json lacks ${k}`);
});
test('no http:// or https:// anywhere under web/ (nothing from outside)', () => {
	const walk = (d) => fs.readdirSync(d, {withFileTypes: true}).flatMap(
		(e) => e.isDirectory() ? walk(path.join(d, e.name)) :
			[path.join(d, e.name)]);
	const files = walk(web);
	assert.ok(files.length >= 5);
	for (const f of files) {
		const m = /\b(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i.exec(
			fs.readFileSync(f, 'utf8').replace(/\/\/ .*|\/\*[^]*?\*\//g, ''));
		assert.ok(!/https?:\/\//i.test(fs.readFileSync(f, 'utf8')),
			`${path.relative(web, f)} names an http(s) URL`);
		assert.ok(!m, `${path.relative(web, f)} names ${m && m[0]}`);
	}
});
test('no HTML built from strings in app.js', () => {
	for (const bad of ['innerHTML', 'outerHTML', 'insertAdjacentHTML',
		'document.write', 'eval(', 'new Function'])
		assert.ok(!src.includes(bad), `app.js uses ${bad}`);
});
test('first load under 100 KB', () => {
	const first = ['index.html', 'app.js', 'app.css', 'i18n/id.json'];
	const n = first.reduce((s, f) => s + fs.statSync(path.join(web, f)).size,
		0);
	console.log(`# first load: ${n} bytes (${first.join(' + ')})`);
	assert.ok(n < 100 * 1024, `${n} bytes`);
});

console.log(`fmt_test: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
