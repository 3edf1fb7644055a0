/* nusa web app: a small single-page app for the koperasi's clerks.
 * No framework, no build step: plain ES2017 for old Android Chrome (no ?.
 * or ??). Every string comes from i18n/LANG.json; every piece of data is
 * inserted with textContent (h() below), never as HTML. The formatting
 * helpers at the top are also loaded by node in tests/e2e/fmt_test.js. */
(function () {
	'use strict';

	var MONTHS = {
		id: ['Jan', 'Feb', 'Mar', 'Apr', 'Mei', 'Jun', 'Jul', 'Agu',
			'Sep', 'Okt', 'Nov', 'Des'],
		en: ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug',
			'Sep', 'Oct', 'Nov', 'Dec']
	};
	var MAX_AMOUNT = 1e12;

	/* Digits of a non-negative integer, grouped by dots: 1250000 ->
	 * "1.250.000". Takes a number or a string of digits. */
	function groupDigits(digits) {
		var s = String(digits), out = '';
		while (s.length > 3) {
			out = '.' + s.slice(-3) + out;
			s = s.slice(0, -3);
		}
		return s + out;
	}

	/* Whole rupiah: "Rp 1.250.000", "-Rp 50.000". Anything that is not
	 * an integer (null, NaN, "abc") gives "–". */
	function fmtRp(n) {
		var s = typeof n === 'number' ? (Number.isFinite(n) ?
			String(Math.trunc(n)) : '') : String(n == null ? '' : n).trim();
		if (!/^-?\d+$/.test(s))
			return '\u2013';
		var neg = s.charAt(0) === '-';
		if (neg)
			s = s.slice(1);
		s = s.replace(/^0+(?=\d)/, '');
		if (s === '0')
			neg = false;
		return (neg ? '-' : '') + 'Rp ' + groupDigits(s);
	}

	/* "2026-11-23" -> "23 Nov 2026" (Indonesian or English month
	 * abbreviation); anything else is returned as it is. */
	function fmtDate(ymd, lang) {
		var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(ymd == null ? '' :
			ymd));
		var months = MONTHS[lang] || MONTHS.id;
		if (!m || +m[2] < 1 || +m[2] > 12)
			return ymd == null ? '' : String(ymd);
		return (+m[3]) + ' ' + months[+m[2] - 1] + ' ' + m[1];
	}

	function pad2(n) {
		return (n < 10 ? '0' : '') + n;
	}

	/* Unix seconds -> "23 Nov 2026 14:05" in the phone's local time;
	 * null -> "". */
	function fmtUnix(sec, lang) {
		if (sec == null || !Number.isFinite(+sec))
			return '';
		var d = new Date(+sec * 1000);
		return fmtDate(d.getFullYear() + '-' + pad2(d.getMonth() + 1) +
			'-' + pad2(d.getDate()), lang) + ' ' + pad2(d.getHours()) +
			':' + pad2(d.getMinutes());
	}

	/* What a clerk types as an amount: "150000", "150.000", "Rp 150.000"
	 * -> 150000. Returns null unless it is a whole number 1..10^12. */
	function parseAmount(text) {
		var s = String(text == null ? '' : text).replace(/^\s*rp\.?/i, '')
			.replace(/[\s.]/g, '');
		if (!/^\d{1,13}$/.test(s))
			return null;
		var n = Number(s);
		return n >= 1 && n <= MAX_AMOUNT ? n : null;
	}

	/* The catalogue's string for key with {name} placeholders filled in;
	 * the key itself when the catalogue lacks it (visible, not blank). */
	function tr(cat, key, params) {
		var s = cat && Object.prototype.hasOwnProperty.call(cat, key) ?
			cat[key] : key;
		return String(s).replace(/\{(\w+)\}/g, function (all, name) {
			return params && params[name] != null ? String(params[name]) :
				all;
		});
	}

	var fmt = {fmtRp: fmtRp, fmtDate: fmtDate, fmtUnix: fmtUnix,
		parseAmount: parseAmount, tr: tr, groupDigits: groupDigits,
		MONTHS: MONTHS};
	if (typeof module === 'object' && module.exports)
		module.exports = fmt;
	if (typeof document === 'undefined')
		return;

	/* ---- the app: all of its state lives in S ---- */
	var S = {lang: 'id', cat: {}, me: null, csrf: null, box: null, seq: 0};
	var app = document.getElementById('app');
	var nav = document.getElementById('nav');

	function t(key, params) {
		return tr(S.cat, key, params);
	}

	function append(el, c) {
		if (c == null || c === false)
			return;
		if (Array.isArray(c))
			c.forEach(function (x) { append(el, x); });
		else if (typeof c === 'object')
			el.appendChild(c);
		else
			el.appendChild(document.createTextNode(String(c)));
	}

	/* h('a', {href: '#/x', text: name}, child...): an element whose text
	 * and attributes are set as text, never parsed as HTML. */
	function h(tag, props) {
		var el = document.createElement(tag), k, v;
		for (k in props || {}) {
			v = props[k];
			if (v == null || v === false)
				continue;
			if (k === 'text')
				el.textContent = String(v);
			else if (k === 'class')
				el.className = v;
			else if (k.slice(0, 2) === 'on')
				el.addEventListener(k.slice(2), v);
			else
				el.setAttribute(k, v === true ? '' : String(v));
		}
		for (k = 2; k < arguments.length; k++)
			append(el, arguments[k]);
		return el;
	}

	function link(hash, text, cls) {
		return h('a', {href: hash, text: text, class: cls});
	}

	function enc(s) {
		return encodeURIComponent(String(s));
	}

	/* ---- talking to the box ---- */
	async function api(method, path, body) {
		var opt = {method: method, credentials: 'same-origin',
			headers: {'Accept': 'application/json'}};
		var r, data = null, err;
		if (method !== 'GET' && S.csrf)
			opt.headers['X-CSRF-Token'] = S.csrf;
		if (body !== undefined) {
			opt.headers['Content-Type'] = 'application/json';
			opt.body = JSON.stringify(body);
		}
		try {
			r = await fetch('/api/v1/' + path, opt);
		} catch (e) {
			err = new Error('network');
			err.status = 0;
			err.data = {error: 'network'};
			throw err;
		}
		if (r.status !== 204) {
			try {
				data = await r.json();
			} catch (e) {
				data = null;
			}
		}
		if (r.ok)
			return data;
		err = new Error('http ' + r.status);
		err.status = r.status;
		err.data = data && typeof data === 'object' ? data :
			{error: r.status === 413 ? 'too_large' : 'internal'};
		if (err.data.error === 'rate_limited' && err.data.retry_after == null)
			err.data.retry_after = r.headers.get('Retry-After');
		if (r.status === 401 && path !== 'login') {
			S.me = null;
			S.csrf = null;
		}
		throw err;
	}

	/* The message for a failed request in the user's language: our own
	 * catalogue for the codes whose wording we own, else the server's
	 * message (already in the user's language), else a generic one. */
	var OWN_CODES = ['login_failed', 'rate_limited', 'not_signed_in',
		'forbidden', 'csrf', 'network', 'too_large', 'internal', 'busy'];

	function errText(e) {
		var d = (e && e.data) || {}, code = d.error || 'internal';
		if (code === 'rate_limited')
			return t('err.rate_limited', {s: d.retry_after || '?'});
		if (OWN_CODES.indexOf(code) >= 0 && !d.field)
			return t('err.' + code);
		if (d.message)
			return String(d.message);
		return S.cat['err.' + code] ? t('err.' + code) : t('err.internal');
	}

	/* ---- forms ---- */
	function field(name, label, input, hint) {
		input.id = 'f-' + name;
		input.name = name;
		input.setAttribute('aria-describedby', 'e-' + name);
		return h('div', {class: 'field'},
			h('label', {for: input.id, text: label}),
			hint ? h('p', {class: 'hint', text: hint}) : null,
			input,
			h('p', {class: 'err', id: 'e-' + name, 'data-err': name}));
	}

	function clearErrors(form) {
		form.querySelectorAll('.err').forEach(function (p) {
			p.textContent = '';
		});
		form.querySelectorAll('[aria-invalid]').forEach(function (i) {
			i.removeAttribute('aria-invalid');
		});
	}

	/* Shows a message next to the field it names, or in the form's
	 * general error line. */
	function showError(form, name, text) {
		var ok = /^[\w-]+$/.test(String(name || ''));
		var p = ok && form.querySelector('[data-err="' + name + '"]');
		var input = ok && form.querySelector('#f-' + name);
		if (!p)
			p = form.querySelector('[data-err="_form"]');
		p.textContent = text;
		if (input && p.getAttribute('data-err') === name) {
			input.setAttribute('aria-invalid', 'true');
			input.focus();
		}
	}

	function formError() {
		return h('p', {class: 'err form-err', role: 'alert',
			'data-err': '_form'});
	}

	/* Runs fn on submit with the button disabled; a failed request shows
	 * its message and, when signed out, goes back to sign-in. */
	function onSubmit(form, fn) {
		form.addEventListener('submit', async function (ev) {
			var btns = form.querySelectorAll('button');
			ev.preventDefault();
			clearErrors(form);
			btns.forEach(function (b) { b.disabled = true; });
			try {
				await fn();
			} catch (e) {
				if (e.status === 401 && e.data.error === 'not_signed_in') {
					go('#/login');
					return;
				}
				if (!e.data)
					throw e;
				showError(form, e.data.field, errText(e));
			} finally {
				btns.forEach(function (b) { b.disabled = false; });
			}
		});
		return form;
	}

	function input(props) {
		return h('input', Object.assign({type: 'text', autocomplete: 'off'},
			props || {}));
	}

	function select(options, value) {
		var s = h('select', {});
		options.forEach(function (o) {
			s.appendChild(h('option', {value: o[0], text: o[1],
				selected: o[0] === value}));
		});
		return s;
	}

	/* ---- pages ---- */
	function page(title) {
		var kids = Array.prototype.slice.call(arguments, 1);
		document.title = title + ' \u00b7 nusa';
		app.textContent = '';
		append(app, h('h1', {text: title}));
		append(app, kids);
	}

	function loading() {
		app.textContent = '';
		app.appendChild(h('p', {class: 'muted', text: t('loading')}));
	}

	function typeLabel(type) {
		return S.cat['acct.' + type] ? t('acct.' + type) : String(type);
	}

	function postLabel(type) {
		return S.cat['post.' + type] ? t('post.' + type) : String(type);
	}

	function amountEl(n) {
		return h('span', {class: 'amt' + (+n < 0 ? ' neg' : ''),
			text: fmtRp(n)});
	}

	function canReverse() {
		return !!S.me && (S.me.role === 'treasurer' || S.me.role === 'admin');
	}

	function short(id) {
		id = String(id == null ? '' : id);
		return id.length > 16 ? id.slice(0, 12) + '\u2026' : id;
	}

	function kv(rows) {
		return h('dl', {class: 'kv'}, rows.filter(Boolean).map(function (r) {
			return h('div', {}, h('dt', {text: r[0]}), h('dd', {}, r[1]));
		}));
	}

	function renderLogin() {
		var user = input({autocomplete: 'username', autocapitalize: 'none',
			required: true});
		var pin = input({type: 'password', autocomplete: 'current-password',
			inputmode: 'numeric', required: true});
		var form = h('form', {class: 'card', novalidate: true},
			field('user', t('login.user'), user),
			field('pin', t('login.pin'), pin),
			formError(),
			h('button', {type: 'submit', class: 'primary',
				text: t('login.submit')}));
		onSubmit(form, async function () {
			var me;
			if (!user.value.trim()) {
				showError(form, 'user', t('err.required'));
				return;
			}
			if (!pin.value) {
				showError(form, 'pin', t('err.required'));
				return;
			}
			me = await api('POST', 'login', {user: user.value.trim(),
				pin: pin.value});
			pin.value = '';
			await signedIn(me);
			go('#/members');
		});
		page(t('login.title'), h('p', {class: 'muted', text: t('login.intro')}),
			form);
		user.focus();
	}

	async function renderMembers(parts, q, my) {
		var qs = q.get('q') || '', offset = 0, total = 0;
		var box = input({type: 'search', value: qs, enterkeyhint: 'search'});
		var form = h('form', {class: 'search', role: 'search'},
			field('q', t('members.search'), box),
			h('button', {type: 'submit', class: 'primary',
				text: t('members.search_btn')}),
			formError());
		var list = h('ul', {class: 'list', id: 'member-list'});
		var count = h('p', {class: 'muted', id: 'member-count'});
		var more = h('button', {type: 'button', class: 'secondary',
			text: t('more'), hidden: true});
		form.addEventListener('submit', function (ev) {
			ev.preventDefault();
			go('#/members' + (box.value.trim() ?
				'?q=' + enc(box.value.trim()) : ''));
		});
		async function load() {
			var r = await api('GET', 'members?q=' + enc(qs) + '&offset=' +
				offset + '&limit=50');
			if (my !== S.seq)
				return;
			total = r.total;
			r.members.forEach(function (m) {
				list.appendChild(h('li', {},
					h('a', {href: '#/member/' + enc(m.id), class: 'row'},
						h('span', {class: 'row-main'},
							h('strong', {text: m.name}),
							h('span', {class: 'muted',
								text: m.id + (m.village ? ' \u00b7 ' +
									m.village : '')})),
						h('span', {class: 'row-side'},
							h('span', {class: 'amt', text: fmtRp(m.savings)}),
							+m.owed ? h('span', {class: 'owed',
								text: t('members.owed', {amount:
									fmtRp(m.owed)})}) : null))));
			});
			offset += r.members.length;
			count.textContent = total === 0 ? t('members.none') :
				t('members.count', {n: total});
			more.hidden = offset >= total || r.members.length === 0;
		}
		more.addEventListener('click', function () { load().catch(fail); });
		page(t('members.title'), form,
			h('p', {class: 'actions'}, link('#/members/new',
				t('members.add'), 'button secondary')),
			count, list, more);
		await load();
	}

	function renderAddMember() {
		var id = input({autocapitalize: 'characters'});
		var name = input({autocomplete: 'off', autocapitalize: 'words'});
		var village = input({autocapitalize: 'words'});
		var form = h('form', {class: 'card', novalidate: true},
			field('id', t('member.id'), id, t('member.id_hint')),
			field('name', t('member.name'), name),
			field('village', t('member.village'), village),
			formError(),
			h('button', {type: 'submit', class: 'primary',
				text: t('member.add_submit')}));
		onSubmit(form, async function () {
			var body = {id: id.value.trim(), name: name.value.trim()};
			if (village.value.trim())
				body.village = village.value.trim();
			var m = await api('POST', 'members', body);
			go('#/member/' + enc(m.id));
		});
		page(t('member.add_title'), form);
		id.focus();
	}

	async function renderMember(parts, q, my) {
		var m = await api('GET', 'members/' + enc(parts[1]));
		var fields = [];
		if (my !== S.seq)
			return;
		Object.keys(m.fields || {}).forEach(function (k) {
			if (k !== 'name' && k !== 'village' && m.fields[k] != null &&
				typeof m.fields[k] !== 'object')
				fields.push([k, String(m.fields[k])]);
		});
		var accts = h('ul', {class: 'list', id: 'accounts'});
		(m.accounts || []).forEach(function (a) {
			accts.appendChild(h('li', {class: 'acct'},
				h('a', {href: '#/account/' + enc(a.id), class: 'row'},
					h('span', {class: 'row-main'},
						h('strong', {text: typeLabel(a.type)}),
						h('span', {class: 'muted', text: a.id})),
					h('span', {class: 'row-side'}, amountEl(a.balance))),
				link('#/post?account=' + enc(a.id), t('account.record'),
					'button small')));
		});
		page(m.name,
			kv([[t('member.id'), m.id],
				m.village ? [t('member.village'), m.village] : null]
				.concat(fields)),
			h('h2', {text: t('member.accounts')}),
			(m.accounts || []).length ? accts :
				h('p', {class: 'muted', text: t('member.no_accounts')}),
			h('p', {class: 'actions'},
				link('#/accounts/new?member=' + enc(m.id),
					t('member.open_account'), 'button secondary')));
	}

	/* Today on this phone, YYYY-MM-DD in its own time zone. */
	function localToday() {
		var d = new Date();
		function two(n) { return (n < 10 ? '0' : '') + n; }
		return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' +
			two(d.getDate());
	}

	/* A "reverse" button that asks for a memo and a second tap. */
	function reverseControl(entry, done) {
		var wrap = h('div', {class: 'reverse'});
		var open = h('button', {type: 'button', class: 'danger small',
			text: t('reverse.button')});
		open.addEventListener('click', function () {
			var memo = input({});
			var form = h('form', {class: 'inline', novalidate: true},
				field('memo-' + entry.slice(0, 12), t('reverse.memo'), memo),
				formError(),
				h('button', {type: 'submit', class: 'danger',
					text: t('reverse.confirm')}),
				h('button', {type: 'button', class: 'secondary',
					text: t('cancel'), onclick: function () {
						wrap.textContent = '';
						wrap.appendChild(open);
					}}));
			onSubmit(form, async function () {
				var body = {};
				if (memo.value.trim())
					body.memo = memo.value.trim();
				var r = await api('POST', 'postings/' + enc(entry) +
					'/reverse', body);
				wrap.textContent = '';
				wrap.appendChild(h('p', {class: 'ok', role: 'status',
					text: t('reverse.done', {entry: short(r.entry)})}));
				if (done)
					done();
			});
			wrap.textContent = '';
			wrap.appendChild(form);
			memo.focus();
		});
		wrap.appendChild(open);
		return wrap;
	}

	async function renderAccount(parts, q, my) {
		var id = parts[1], offset = 0, total = 0;
		var list = h('ol', {class: 'list postings', id: 'postings'});
		var more = h('button', {type: 'button', class: 'secondary',
			text: t('more'), hidden: true});
		var a = await api('GET', 'accounts/' + enc(id) + '?offset=0&limit=50');
		if (my !== S.seq)
			return;
		function add(r) {
			total = r.total;
			r.postings.forEach(function (p) {
				var who = (p.by ? t('statement.by', {user: p.by}) :
					t('statement.device', {device: short(p.device)})) +
					(p.time ? ' \u00b7 ' + fmtUnix(p.time, S.lang) : '');
				list.appendChild(h('li', {class: 'posting' +
					(p.reversed ? ' reversed' : '')},
					h('div', {class: 'row'},
						h('span', {class: 'row-main'},
							h('strong', {text: postLabel(p.type)}),
							h('span', {class: 'muted',
								text: fmtDate(p.date, S.lang)})),
						h('span', {class: 'row-side'}, amountEl(p.amount),
							p.reversed ? h('span', {class: 'badge',
								text: t('statement.reversed')}) : null)),
					p.memo ? h('p', {class: 'memo', text: p.memo}) : null,
					h('p', {class: 'muted small', text: who}),
					canReverse() && !p.reversed && p.type !== 'reversal' &&
						p.type !== 'reverse' ?
						reverseControl(p.entry, function () {
							route();
						}) : null));
			});
			offset += r.postings.length;
			more.hidden = offset >= total || r.postings.length === 0;
		}
		more.addEventListener('click', function () {
			api('GET', 'accounts/' + enc(id) + '?offset=' + offset +
				'&limit=50').then(add).catch(fail);
		});
		page(typeLabel(a.type) + ' ' + a.id,
			h('p', {class: 'balance'}, h('span', {class: 'muted',
				text: t('account.balance')}), ' ',
				h('span', {id: 'balance', class: 'amt big' +
					(+a.balance < 0 ? ' neg' : ''), text: fmtRp(a.balance)})),
			h('p', {}, link('#/member/' + enc(a.member),
				t('account.member', {member: a.member}))),
			h('p', {class: 'actions'}, link('#/post?account=' + enc(a.id),
				t('account.record'), 'button primary')),
			h('h2', {text: t('statement.title')}),
			list, more);
		add(a);
		if (!a.postings.length)
			list.appendChild(h('li', {class: 'muted',
				text: t('statement.empty')}));
	}

	function postTypes(acctType) {
		return acctType === 'loan' ? ['disburse', 'repay'] :
			['deposit', 'withdraw'];
	}

	async function renderPost(parts, q, my) {
		var acctId = q.get('account') || '';
		var a = await api('GET', 'accounts/' + enc(acctId) +
			'?offset=0&limit=1');
		var m = await api('GET', 'members/' + enc(a.member));
		if (my !== S.seq)
			return;
		var accounts = m.accounts && m.accounts.length ? m.accounts : [a];
		var acct = select(accounts.map(function (x) {
			return [x.id, x.id + ' \u00b7 ' + typeLabel(x.type)];
		}), a.id);
		var type = h('select', {});
		var amount = input({inputmode: 'numeric', placeholder: 'Rp'});
		var memo = input({maxlength: 200});
		var date = input({type: 'date'});
		var step = h('div', {id: 'step'});
		function fillTypes() {
			var cur = accounts.filter(function (x) {
				return x.id === acct.value;
			})[0] || a;
			type.textContent = '';
			postTypes(cur.type).forEach(function (p) {
				type.appendChild(h('option', {value: p, text: postLabel(p)}));
			});
		}
		acct.addEventListener('change', fillTypes);
		fillTypes();
		var form = h('form', {class: 'card', novalidate: true, id: 'post-form'},
			field('account', t('post.account'), acct),
			field('type', t('post.type'), type),
			field('amount', t('post.amount'), amount, t('post.amount_hint')),
			field('memo', t('post.memo'), memo),
			field('date', t('post.date'), date, t('post.date_hint')),
			formError(),
			h('button', {type: 'submit', class: 'primary',
				text: t('post.next')}));
		function body(confirm) {
			var b = {type: type.value, account: acct.value,
				amount: parseAmount(amount.value), confirm: confirm};
			if (memo.value.trim())
				b.memo = memo.value.trim();
			/* The phone's own date: the box may keep UTC. */
			b.date = date.value || localToday();
			return b;
		}
		onSubmit(form, async function () {
			var b = body(false);
			if (b.amount == null) {
				showError(form, 'amount', t('err.amount'));
				return;
			}
			var p = await api('POST', 'postings', b);
			showConfirm(b, p);
		});
		function showConfirm(b, p) {
			var cform = h('form', {class: 'card confirm', id: 'confirm-form'},
				h('h2', {text: t('post.confirm_title')}),
				kv([[t('post.account'), b.account],
					[t('post.type'), postLabel(b.type)],
					[t('post.amount'), h('strong', {text: fmtRp(b.amount)})],
					b.memo ? [t('post.memo'), b.memo] : null,
					b.date ? [t('post.date'), fmtDate(b.date, S.lang)] : null,
					[t('post.balance_now'), amountEl(p.balance)],
					[t('post.balance_new'), h('strong', {id: 'new-balance'},
						amountEl(p.new_balance))]]),
				formError(),
				h('button', {type: 'submit', class: 'primary', id: 'confirm',
					text: t('post.confirm')}),
				h('button', {type: 'button', class: 'secondary',
					text: t('post.change'), onclick: function () {
						step.textContent = '';
						form.hidden = false;
						amount.focus();
					}}));
			onSubmit(cform, async function () {
				var r = await api('POST', 'postings',
					Object.assign({}, b, {confirm: true}));
				showDone(b, r);
			});
			form.hidden = true;
			step.textContent = '';
			step.appendChild(cform);
			cform.querySelector('#confirm').focus();
		}
		function showDone(b, r) {
			step.textContent = '';
			step.appendChild(h('div', {class: 'card done', role: 'status',
				id: 'done'},
				h('h2', {text: t('post.done_title')}),
				h('p', {text: t('post.done_text', {type: postLabel(b.type),
					amount: fmtRp(b.amount)})}),
				kv([[t('post.balance_new'), h('strong', {id: 'done-balance'},
					amountEl(r.balance))],
					[t('post.entry'), short(r.entry)]]),
				h('p', {class: 'actions'},
					link('#/account/' + enc(r.account || b.account),
						t('post.see_statement'), 'button primary'),
					link('#/member/' + enc(a.member), t('post.back_member'),
						'button secondary'))));
		}
		page(t('post.title'), h('p', {}, link('#/member/' + enc(m.id),
			m.name + ' \u00b7 ' + m.id)), form, step);
		amount.focus();
	}

	function renderOpenAccount(parts, q) {
		var member = input({value: q.get('member') || ''});
		var id = input({autocapitalize: 'characters'});
		var type = select(['sukarela', 'wajib', 'pokok', 'loan'].map(
			function (x) { return [x, typeLabel(x)]; }), 'sukarela');
		var form = h('form', {class: 'card', novalidate: true},
			field('member', t('account.member_id'), member),
			field('id', t('account.id'), id, t('account.id_hint')),
			field('type', t('account.type'), type),
			formError(),
			h('button', {type: 'submit', class: 'primary',
				text: t('account.open_submit')}));
		onSubmit(form, async function () {
			var r = await api('POST', 'accounts', {id: id.value.trim(),
				member: member.value.trim(), type: type.value});
			go('#/account/' + enc(r.id));
		});
		page(t('account.open_title'), form);
		(member.value ? id : member).focus();
	}

	/* An entry in a conflict: an id, or a posting of the account's
	 * statement (overdrafts: what was taken out, when, by whom). */
	function conflictEntry(e) {
		var id = typeof e === 'object' && e ? (e.entry || e.id) : e;
		var rows = [[t('conflict.entry'), h('code', {text: short(id)})]];
		if (e && typeof e === 'object') {
			if (e.type)
				rows.push([t('post.type'), postLabel(e.type)]);
			if (e.amount != null)
				rows.push([t('post.amount'), amountEl(e.amount)]);
			if (e.account)
				rows.push([t('post.account'), link('#/account/' +
					enc(e.account), e.account)]);
			if (e.date)
				rows.push([t('post.date'), fmtDate(e.date, S.lang)]);
			if (e.by)
				rows.push([t('conflict.by'), e.by]);
			if (e.time)
				rows.push([t('conflict.when'), fmtUnix(e.time, S.lang)]);
			if (e.device)
				rows.push([t('conflict.device'), short(e.device)]);
			if (e.memo)
				rows.push([t('post.memo'), e.memo]);
		}
		return h('li', {class: 'centry'}, kv(rows),
			canReverse() && id ? reverseControl(String(id)) : null);
	}

	function conflictCard(c, known) {
		var title, help, rows = [], entries = c.entries || [];
		if (c.kind === 'overdraft') {
			title = t('conflict.overdraft', {account: c.account});
			help = t('conflict.overdraft_help');
			rows = [[t('post.account'), link('#/account/' + enc(c.account),
				c.account)],
				[t('conflict.balance'), amountEl(c.balance)],
				[t('conflict.lowest'), amountEl(c.lowest)]];
		} else if (c.kind === 'fork') {
			title = t('conflict.fork');
			help = t('conflict.fork_help');
			rows = [[t('conflict.device'), h('code', {text: c.device})],
				[t('conflict.seq'), String(c.seq)]];
		} else if (c.kind === 'double_reversal') {
			title = t('conflict.double_reversal');
			help = t('conflict.double_reversal_help');
			rows = [[t('conflict.reversed_entry'),
				h('code', {text: short(c.entry)})]];
			entries = c.reversals || [];
		} else {
			title = String(c.kind);
		}
		return h('li', {class: 'card conflict ' + String(c.kind)},
			h('h2', {text: title}), help ? h('p', {text: help}) : null,
			kv(rows), h('ul', {class: 'list'}, entries.map(function (e) {
				return conflictEntry(known[e] || e);
			})));
	}

	async function renderConflicts(parts, q, my) {
		var r = await api('GET', 'conflicts'), known = {}, i, st;
		/* The API names an overdraft's entries by id: the account's
		 * statement tells what each one was. */
		for (i = 0; i < r.conflicts.length; i++) {
			if (r.conflicts[i].kind !== 'overdraft')
				continue;
			try {
				st = await api('GET', 'accounts/' +
					enc(r.conflicts[i].account) + '?offset=0&limit=200');
			} catch (e) {
				continue;
			}
			st.postings.forEach(function (p) {
				known[p.entry] = p;
			});
		}
		if (my !== S.seq)
			return;
		page(t('conflicts.title'),
			r.conflicts.length ? null : h('p', {class: 'ok',
				text: t('conflicts.none')}),
			r.conflicts.length && !canReverse() ? h('p', {class: 'muted',
				text: t('conflicts.treasurer')}) : null,
			h('ul', {class: 'list', id: 'conflicts'},
				r.conflicts.map(function (c) {
					return conflictCard(c, known);
				})));
	}

	function peerCard(p, title) {
		var never = t('sync.never');
		return h('li', {class: 'card peer'},
			h('h2', {}, title ? title + ' ' : '', h('code',
				{text: short(p.id)}), ' ',
				h('span', {class: 'badge ' + (p.connected ? 'on' : 'off'),
					text: p.connected ? t('sync.connected') :
						t('sync.disconnected')})),
			kv([p.address ? [t('sync.address'), p.address] : null,
				p.source ? [t('sync.source'), S.cat['sync.src.' + p.source] ?
					t('sync.src.' + p.source) : String(p.source)] : null,
				[t('sync.last_sync'), p.last_sync ? fmtUnix(p.last_sync,
					S.lang) : never],
				[t('sync.behind'), p.behind == null ? '\u2013' :
					String(p.behind)],
				[t('sync.ahead'), p.ahead == null ? '\u2013' :
					String(p.ahead)],
				p.last_error ? [t('sync.last_error'), h('span',
					{class: 'err', text: p.last_error})] : null]));
	}

	async function renderSync(parts, q, my) {
		var r = await api('GET', 'sync');
		if (my !== S.seq)
			return;
		var peers = r.peers || [];
		page(t('sync.title'),
			kv([[t('sync.device'), h('code', {text: r.device})]]),
			h('p', {class: 'muted', text: t('sync.help')}),
			h('h2', {text: t('sync.hub')}),
			r.hub ? h('ul', {class: 'list'}, peerCard(r.hub, '')) :
				h('p', {class: 'muted', text: t('sync.no_hub')}),
			h('h2', {text: t('sync.peers')}),
			peers.length ? h('ul', {class: 'list', id: 'peers'},
				peers.map(function (p) { return peerCard(p); })) :
				h('p', {class: 'muted', text: t('sync.no_peers')}),
			h('p', {class: 'actions'}, h('button', {type: 'button',
				class: 'secondary', text: t('refresh'), onclick: route})));
	}

	function renderExport() {
		page(t('export.title'), h('p', {text: t('export.help')}),
			h('ul', {class: 'list exports'},
				['members', 'accounts', 'balances', 'postings'].map(
					function (n) {
						return h('li', {}, h('a', {class: 'button secondary',
							href: '/api/v1/export/' + n + '.csv',
							download: 'nusa-' + n + '.csv',
							text: t('export.' + n)}));
					})));
	}

	/* Web users (admins only): list, add with a PIN, remove. */
	async function renderUsers(parts, q, my) {
		var r = await api('GET', 'users');
		if (my !== S.seq)
			return;
		var name = input({autocapitalize: 'none'});
		var role = select(['clerk', 'treasurer', 'admin'].map(function (x) {
			return [x, t('role.' + x)];
		}), 'clerk');
		var pin = input({type: 'password', autocomplete: 'new-password',
			inputmode: 'numeric'});
		var form = h('form', {class: 'card', novalidate: true},
			h('h2', {text: t('users.add')}),
			field('user', t('login.user'), name),
			field('role', t('users.role'), role),
			field('pin', t('login.pin'), pin, t('users.pin_hint')),
			formError(),
			h('button', {type: 'submit', class: 'primary',
				text: t('users.add_submit')}));
		onSubmit(form, async function () {
			await api('POST', 'users', {user: name.value.trim(),
				role: role.value, pin: pin.value});
			route();
		});
		page(t('users.title'), h('ul', {class: 'list', id: 'users'},
			r.users.map(function (u) {
				var rm = h('form', {class: 'row'},
					h('span', {class: 'row-main'}, h('strong', {text: u.user}),
						h('span', {class: 'muted', text: t('role.' + u.role)})),
					u.user === S.me.user ? null : h('button', {type: 'submit',
						class: 'danger small', text: t('users.remove')}),
					formError());
				onSubmit(rm, async function () {
					await api('DELETE', 'users/' + enc(u.user));
					route();
				});
				return h('li', {}, rm);
			})), form);
	}

	/* ---- shell: language, navigation, routing ---- */
	async function loadLang(lang) {
		var r = await fetch('/i18n/' + (lang === 'en' ? 'en' : 'id') +
			'.json', {credentials: 'same-origin'});
		if (!r.ok)
			throw new Error('catalogue ' + r.status);
		S.cat = await r.json();
		S.lang = lang === 'en' ? 'en' : 'id';
		document.documentElement.lang = S.lang;
	}

	function renderChrome() {
		var sw = document.getElementById('lang-switch');
		sw.textContent = t('lang.switch');
		sw.setAttribute('lang', S.lang === 'en' ? 'id' : 'en');
		sw.setAttribute('aria-label', t('lang.switch_label'));
		document.getElementById('brand').textContent = t('app.name');
		document.getElementById('net').textContent =
			S.box && S.box.network ? S.box.network.name || '' : '';
		nav.textContent = '';
		nav.hidden = !S.me;
		if (!S.me)
			return;
		var here = location.hash.split('?')[0].split('/')[1] || 'members';
		[['members', 'nav.members'], ['conflicts', 'nav.conflicts'],
			['sync', 'nav.sync'], ['export', 'nav.export'],
			['users', 'nav.users']].filter(function (n) {
			return n[0] !== 'users' || S.me.role === 'admin';
		}).forEach(
			function (n) {
				nav.appendChild(h('a', {href: '#/' + n[0], text: t(n[1]),
					'aria-current': here === n[0] ? 'page' : null}));
			});
		nav.appendChild(h('span', {class: 'who', text: t('nav.who',
			{user: S.me.user, role: t('role.' + S.me.role)})}));
		nav.appendChild(h('button', {type: 'button', id: 'signout',
			text: t('nav.signout'), onclick: signOut}));
	}

	async function signedIn(me) {
		S.me = me;
		S.csrf = me.csrf;
		if (me.lang && me.lang !== S.lang)
			await loadLang(me.lang);
		try {
			S.box = await api('GET', 'box');
		} catch (e) {
			S.box = null;
		}
	}

	async function signOut() {
		try {
			await api('POST', 'logout', {});
		} catch (e) {
			/* signed out either way */
		}
		S.me = null;
		S.csrf = null;
		S.box = null;
		go('#/login');
	}

	async function switchLang() {
		var to = S.lang === 'en' ? 'id' : 'en';
		try {
			await api('POST', 'lang', {lang: to});
		} catch (e) {
			/* still switch this page: the cookie is only a memory */
		}
		await loadLang(to);
		route();
	}

	function go(hash) {
		if (location.hash === hash)
			route();
		else
			location.hash = hash;
	}

	function fail(e) {
		if (e && e.status === 401) {
			go('#/login');
			return;
		}
		app.appendChild(h('p', {class: 'err', role: 'alert',
			text: errText(e)}));
	}

	var ROUTES = {
		'login': renderLogin, 'members': renderMembers,
		'members/new': renderAddMember, 'member': renderMember,
		'account': renderAccount, 'accounts/new': renderOpenAccount,
		'post': renderPost, 'conflicts': renderConflicts,
		'sync': renderSync, 'export': renderExport, 'users': renderUsers
	};

	async function route() {
		var hash = location.hash.replace(/^#\/?/, ''), qi = hash.indexOf('?');
		var path = qi >= 0 ? hash.slice(0, qi) : hash;
		var q = new URLSearchParams(qi >= 0 ? hash.slice(qi + 1) : '');
		var parts = path.split('/').map(function (p) {
			try {
				return decodeURIComponent(p);
			} catch (e) {
				return p;
			}
		});
		var fn = ROUTES[path] || ROUTES[parts[0]] || renderMembers;
		var my = ++S.seq;
		if (!S.me && fn !== renderLogin) {
			location.replace('#/login');
			return;
		}
		if (S.me && fn === renderLogin) {
			location.replace('#/members');
			return;
		}
		renderChrome();
		loading();
		try {
			await fn(parts, q, my);
		} catch (e) {
			if (my !== S.seq)
				return;
			if (!e || !e.data)
				console.error(e);
			if (e && e.status === 401) {
				renderChrome();
				location.replace('#/login');
				return;
			}
			page(t('err.title'), h('p', {class: 'err', role: 'alert',
				text: errText(e)}), h('p', {}, link('#/members',
				t('nav.members'))));
		}
		if (my === S.seq)
			app.focus({preventScroll: true});
	}

	async function boot() {
		var lang = document.documentElement.lang === 'en' ? 'en' : 'id';
		document.getElementById('lang-switch').addEventListener('click',
			function () { switchLang().catch(fail); });
		window.addEventListener('hashchange', route);
		await loadLang(lang);
		try {
			await signedIn(await api('GET', 'me'));
		} catch (e) {
			S.me = null;
		}
		route();
	}

	boot().catch(function (e) {
		app.textContent = String(e && e.message || e);
	});
}());
