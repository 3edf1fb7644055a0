// End-to-end test of the clerk's web app in headless Chromium at phone
// size (360x740), driven by playwright-core. tests/integration/web_e2e.sh
// sets up a box and a running nusad and passes:
//   BASE      http://127.0.0.1:PORT
//   E2E_USER, E2E_PIN       a web user (clerk)
//   E2E_MEMBER, E2E_NAME    the member's id and name
//   E2E_ACCOUNT             a savings account of that member
//   E2E_AMOUNT              the deposit to record (whole rupiah)
//   ARTIFACTS               where the screenshots go (*.png)
//   NUSACTL, NUSA_DIR       to read the balance back with nusactl
//   E2E_MEET (optional)     a shell command run after the deposit: another
//                           box that made a deposit of E2E_OTHER_AMOUNT
//                           with memo E2E_OTHER while apart syncs with
//                           this one; the statement must then show both
// Prints "ok N - ..." per step and "web_e2e: N passed, 0 failed" at the end;
// exits 1 at the first failure (with a screenshot of it).
'use strict';
const {chromium} = require('playwright-core');
const {execFileSync} = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const {fmtRp} = require('../../web/app.js');

const env = (k, d) => {
	const v = process.env[k] || d;
	if (v === undefined)
		throw new Error(`web_e2e: ${k} is not set`);
	return v;
};
const BASE = env('BASE');
const USER = env('E2E_USER');
const PIN = env('E2E_PIN');
const MEMBER = env('E2E_MEMBER');
const NAME = env('E2E_NAME');
const ACCOUNT = env('E2E_ACCOUNT');
const AMOUNT = +env('E2E_AMOUNT');
const ART = env('ARTIFACTS');
const STEP_MS = 10000;

let passed = 0;
let shot = 0;
function ok(what) {
	passed++;
	console.log(`ok ${passed} - ${what}`);
}
function check(cond, what) {
	if (!cond)
		throw new Error(`check failed: ${what}`);
	ok(what);
}

// The balance of ACCOUNT as nusactl sees it. E2E_MOCK=1 (working on the
// pages against mock_server.js, never in make test) asks the API instead.
let mockBalance = null;
function nusactlBalance() {
	if (process.env.E2E_MOCK === '1')
		return mockBalance();
	const out = execFileSync(env('NUSACTL'), ['-d', env('NUSA_DIR'),
		'balance', ACCOUNT, '--json'], {encoding: 'utf8', timeout: 10000});
	const j = JSON.parse(out);
	const v = Array.isArray(j) ? j.find((x) => x.account === ACCOUNT ||
		x.id === ACCOUNT) : j;
	const n = v && typeof v === 'object' ? (v.balance !== undefined ?
		v.balance : v[ACCOUNT]) : v;
	if (typeof n !== 'number')
		throw new Error(`cannot read the balance from nusactl: ${out}`);
	return n;
}

async function main() {
	fs.mkdirSync(ART, {recursive: true});
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nusa-e2e-'));
	// A fresh, empty profile (user-data dir) for every run.
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: '/usr/bin/chromium',
		timeout: 30000,
		args: ['--headless', '--no-sandbox', '--disable-gpu',
			'--disable-quic', '--no-first-run',
			'--disable-background-networking',
			'--disable-component-update', '--disable-sync'],
		viewport: {width: 360, height: 740}, deviceScaleFactor: 1,
		isMobile: true, hasTouch: true});
	context.setDefaultTimeout(STEP_MS);
	const page = context.pages()[0] || await context.newPage();
	const errors = [];
	const offbox = [];
	const bytes = {};
	page.on('pageerror', (e) => errors.push(String(e)));
	page.on('console', (m) => {
		if (m.type() === 'error' && !/status of 401/.test(m.text()))
			errors.push(m.text());
	});
	page.on('request', (r) => {
		if (!r.url().startsWith(BASE) && !r.url().startsWith('data:'))
			offbox.push(r.url());
	});
	page.on('response', async (r) => {
		try {
			bytes[r.url()] = (await r.body()).length;
		} catch (e) {
			/* redirects and aborted loads have no body */
		}
	});
	mockBalance = async () => (await (await page.request.get(BASE +
		'/api/v1/accounts/' + ACCOUNT)).json()).balance;
	const snap = async (name) => {
		shot++;
		const f = path.join(ART, `${String(shot).padStart(2, '0')}-${name}.png`);
		await page.screenshot({path: f, fullPage: true});
	};

	try {
		// 1. The front page: Indonesian, the sign-in form.
		const res = await page.goto(BASE + '/', {waitUntil: 'load'});
		check(res.status() === 200, 'GET / is 200');
		await page.waitForSelector('#f-user');
		check(await page.getAttribute('html', 'lang') === 'id',
			'<html lang="id"> by default');
		const weight = Object.values(bytes).reduce((a, b) => a + b, 0);
		check(weight > 0 && weight < 100 * 1024,
			`first load weighs ${weight} bytes (< 100 KB)`);
		await snap('signin');

		// 2. A wrong PIN: a clear message, still on the sign-in page.
		await page.fill('#f-user', USER);
		await page.fill('#f-pin', PIN + '9');
		await page.click('button[type=submit]');
		const err = page.locator('[data-err="_form"]');
		await err.filter({hasText: 'salah'}).waitFor();
		check(/Nama pengguna atau PIN salah/.test(await err.textContent()),
			'a wrong PIN says so in Indonesian');
		await snap('signin-failed');

		// 3. Sign in: the member list.
		await page.fill('#f-pin', PIN);
		await page.click('button[type=submit]');
		await page.waitForSelector('#member-list li');
		check(await page.locator('#nav').isVisible(), 'signed in');
		await snap('members');

		// 4. Find the member by part of the name.
		const part = NAME.split(' ')[0].toLowerCase();
		await page.fill('#f-q', part);
		await page.press('#f-q', 'Enter');
		await page.waitForFunction((q) => location.hash === '#/members?q=' +
			encodeURIComponent(q), part);
		const row = page.locator('#member-list a', {hasText: NAME});
		await row.waitFor();
		check(await row.count() === 1, `search "${part}" finds ${NAME}`);
		await row.click();
		await page.waitForSelector('#accounts');
		check(await page.locator('h1').textContent() === NAME,
			'the member page shows the name');
		const acct = page.locator('#accounts li', {hasText: ACCOUNT});
		const before = await nusactlBalance();
		check((await acct.textContent()).includes(fmtRp(before)),
			`the account shows ${fmtRp(before)}, as nusactl`);
		await snap('member');

		// 5. A deposit: the form, the confirmation with the new balance,
		// then done.
		await acct.locator('a.button').click();
		await page.waitForSelector('#post-form');
		check(await page.inputValue('#f-account') === ACCOUNT,
			'the form is for the account tapped');
		await page.selectOption('#f-type', 'deposit');
		await page.fill('#f-amount', fmtRp(AMOUNT).replace('Rp ', ''));
		await page.fill('#f-memo', 'setoran lewat web');
		await snap('deposit-form');
		await page.click('#post-form button[type=submit]');
		await page.waitForSelector('#confirm-form');
		const want = fmtRp(before + AMOUNT);
		check((await page.textContent('#new-balance')).trim() === want,
			`the confirmation shows the new balance ${want}`);
		check(await nusactlBalance() === before,
			'nothing is written before the confirmation');
		await snap('deposit-confirm');
		await page.click('#confirm');
		await page.waitForSelector('#done');
		const shown = (await page.textContent('#done-balance')).trim();
		check(/^Rp \d{1,3}(\.\d{3})*$/.test(shown) && shown === want,
			`done: the new balance is ${shown}`);
		const after = await nusactlBalance();
		check(after === before + AMOUNT && fmtRp(after) === shown,
			`nusactl balance ${ACCOUNT} is ${after}, as the web shows`);
		await snap('deposit-done');

		// 6. Another box, which took a deposit while apart, syncs.
		let total = after;
		if (process.env.E2E_MEET) {
			execFileSync('bash', ['-c', process.env.E2E_MEET],
				{stdio: 'inherit', timeout: 30000});
			total = after + +env('E2E_OTHER_AMOUNT');
			check(await nusactlBalance() === total,
				`the other box's deposit arrived: nusactl says ${total}`);
		}

		// 7. The statement: newest first, with who and the memo; after
		// the sync, both deposits.
		await page.click('#done a.button.primary');
		await page.waitForSelector('#postings li.posting');
		const text = await page.locator('#postings li.posting').first()
			.textContent();
		check(text.includes('setoran lewat web') && text.includes(USER) &&
			text.includes(fmtRp(AMOUNT)),
			'the statement starts with the deposit, its memo and the clerk');
		check((await page.textContent('#balance')).trim() === fmtRp(total),
			`the statement shows the balance ${fmtRp(total)}`);
		if (process.env.E2E_MEET) {
			const other = page.locator('#postings li.posting', {hasText:
				env('E2E_OTHER')});
			check(await other.count() === 1 && (await other.textContent())
				.includes(fmtRp(+env('E2E_OTHER_AMOUNT'))),
				'the statement also shows the other box\'s deposit');
		}
		await snap('statement');

		// 8. English: the switch, then the server's <html lang="en">.
		await page.click('#lang-switch');
		await page.waitForFunction(() =>
			document.documentElement.lang === 'en');
		await page.locator('h2', {hasText: 'Statement'}).waitFor();
		check(await page.locator('#nav a', {hasText: 'Members'}).count() === 1,
			'the switch re-renders in English');
		await page.reload({waitUntil: 'load'});
		await page.locator('h2', {hasText: 'Statement'}).waitFor();
		const html = await (await page.request.get(BASE + '/')).text();
		check(/<html lang="en">/.test(html),
			'the server now sends <html lang="en">');
		check(await page.getAttribute('html', 'lang') === 'en',
			'the page is English after a reload');
		await snap('statement-en');

		// 9. The other pages render (English now).
		await page.click('#nav a[href="#/sync"]');
		await page.locator('h1', {hasText: 'Sync'}).waitFor();
		await page.waitForSelector('dl.kv code');
		await snap('sync-en');
		await page.click('#nav a[href="#/conflicts"]');
		await page.locator('h1', {hasText: 'Conflicts'}).waitFor();
		await page.locator('p.ok', {hasText: 'No conflicts'}).waitFor();
		ok('the conflicts inbox says there are none');
		await snap('conflicts-en');
		await page.click('#nav a[href="#/export"]');
		const csv = await page.getAttribute('a[href$="balances.csv"]', 'href');
		const got = await page.request.get(BASE + csv);
		check(got.status() === 200 && (await got.text()).includes(ACCOUNT),
			'the balances report downloads and lists the account');
		await snap('export-en');

		// 10. Sign out: back to the sign-in form, still English.
		await page.click('#signout');
		await page.waitForSelector('#f-user');
		check(await page.locator('h1', {hasText: 'Sign in'}).count() === 1,
			'signed out: the sign-in page, in English');
		await snap('signout-en');

		check(errors.length === 0, 'no script errors' +
			(errors.length ? ': ' + errors.join(' | ') : ''));
		check(offbox.length === 0, 'no request leaves the box' +
			(offbox.length ? ': ' + offbox.join(' ') : ''));
	} catch (e) {
		await snap('FAILED').catch(() => {});
		throw e;
	} finally {
		await context.close();
		fs.rmSync(profile, {recursive: true, force: true});
	}
	console.log(`web_e2e: ${passed} passed, 0 failed`);
}

main().catch((e) => {
	console.error(`not ok - ${e.message}`);
	console.log(`web_e2e: ${passed} passed, 1 failed`);
	process.exit(1);
});
