#include "discover.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/domain.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/watch.h>

/* The client library holds one D-Bus connection: libdbus watches its
 * socket twice (read, write) and arms a timeout per pending call plus one
 * to dispatch. Full tables make watch_new()/timeout_new() fail, which
 * libdbus treats as out of memory. */
#define WATCHES	  DISCOVER_POLLITEMS
#define TIMEOUTS  32
#define DOMAIN_MAX 64		/* browsing the default domain: "local" */
#define STATUS_MAX 160
#define RETRY_MIN_MS 1000	/* reconnect or publish again: backoff */
#define RETRY_MAX_MS 10000
#define RESOLVE_RETRY_MS 15000	/* a service that failed to resolve */
#define RENAMES_MAX 16		/* name conflicts before backing off */
#define REBROWSE_MS 60000	/* browse again after ignoring services */

struct AvahiWatch {
	int used;
	int fd;
	AvahiWatchEvent events;		/* what Avahi waits for */
	AvahiWatchEvent revents;	/* what happened: watch_get_events */
	int ready;			/* revents are due to the callback */
	AvahiWatchCallback cb;
	void *userdata;
};

struct AvahiTimeout {
	int used;
	int armed;
	struct timeval when;		/* absolute, gettimeofday() */
	AvahiTimeoutCallback cb;
	void *userdata;
};

/* One service instance as the browser reports it: instance name, domain,
 * interface and protocol make it unique. It keeps its resolver while it
 * lives, so a changed address or TXT is reported again. */
struct service {
	int used;
	struct discover *d;
	AvahiIfIndex iface;
	AvahiProtocol proto;
	char name[AVAHI_LABEL_MAX];
	char domain[DOMAIN_MAX];
	AvahiServiceResolver *resolver;
	int64_t retry_at;	/* resolve again then, if resolver is NULL */
	int local;		/* published by a client of our daemon */
	int junk;		/* resolved: malformed, or our own device */
	int valid;		/* peer holds a well-formed TXT and address */
	int shown;		/* peer is what the caller last heard of */
	struct discover_peer peer;
};

struct discover {
	AvahiPoll api;
	struct AvahiWatch watches[WATCHES];
	struct AvahiTimeout timeouts[TIMEOUTS];

	AvahiClient *client;
	AvahiEntryGroup *group;
	AvahiServiceBrowser *browser;
	int running;		/* client connected to a running daemon */
	int dead;		/* client failed: restart it at retry_at */
	int64_t retry_at;	/* monotonic ms; 0: nothing scheduled */
	int64_t publish_at;	/* publish again then; 0: nothing scheduled */
	int64_t backoff;
	int renames;
	int overflow;		/* ignored a service: browse again then */
	int64_t rebrowse_at;

	char name[AVAHI_LABEL_MAX];
	uint16_t port;
	uint16_t http_port;	/* the web app's, published as _http._tcp */
	uint8_t device[NUSA_KEY_LEN];
	uint8_t nethash[16];
	unsigned proto;
	discover_fn fn;
	void *ctx;

	char status[STATUS_MAX];
	unsigned status_seq;

	struct service services[DISCOVER_SERVICES];
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_status(struct discover *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A line repeated (the same failure on every retry) is not news. */
static void
set_status(struct discover *d, const char *fmt, ...)
{
	char line[STATUS_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (strcmp(line, d->status) == 0)
		return;
	memcpy(d->status, line, sizeof line);
	d->status_seq++;
}

/* ---- AvahiPoll over the caller's zmq_poll loop ----------------------- */

static AvahiWatch *
watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent events,
    AvahiWatchCallback cb, void *userdata)
{
	struct discover *d = api->userdata;
	struct AvahiWatch *w;
	size_t i;

	for (i = 0; i < WATCHES; i++) {
		w = &d->watches[i];
		if (w->used)
			continue;
		memset(w, 0, sizeof *w);
		w->used = 1;
		w->fd = fd;
		w->events = events;
		w->cb = cb;
		w->userdata = userdata;
		return w;
	}
	return NULL;
}

static void
watch_update(AvahiWatch *w, AvahiWatchEvent events)
{
	w->events = events;
}

static AvahiWatchEvent
watch_get_events(AvahiWatch *w)
{
	return w->revents;
}

/* Freed during dispatch, the slot is not called again: a watch made in
 * the same slot starts with ready = 0. */
static void
watch_free(AvahiWatch *w)
{
	memset(w, 0, sizeof *w);
}

static AvahiTimeout *
timeout_new(const AvahiPoll *api, const struct timeval *tv,
    AvahiTimeoutCallback cb, void *userdata)
{
	struct discover *d = api->userdata;
	struct AvahiTimeout *t;
	size_t i;

	for (i = 0; i < TIMEOUTS; i++) {
		t = &d->timeouts[i];
		if (t->used)
			continue;
		memset(t, 0, sizeof *t);
		t->used = 1;
		if (tv != NULL) {
			t->armed = 1;
			t->when = *tv;
		}
		t->cb = cb;
		t->userdata = userdata;
		return t;
	}
	return NULL;
}

static void
timeout_update(AvahiTimeout *t, const struct timeval *tv)
{
	t->armed = tv != NULL;
	if (tv != NULL)
		t->when = *tv;
}

static void
timeout_free(AvahiTimeout *t)
{
	memset(t, 0, sizeof *t);
}

/* zmq_poll() folds POLLHUP into ZMQ_POLLERR; the D-Bus glue tells them
 * apart, so ask poll() again, without waiting, what the fd has. */
static void
mark_ready(struct discover *d, int fd)
{
	struct pollfd p = { .fd = fd, .events = 0, .revents = 0 };
	struct AvahiWatch *w;
	size_t i;

	for (i = 0; i < WATCHES; i++)
		if (d->watches[i].used && d->watches[i].fd == fd)
			p.events |= (short)(d->watches[i].events &
			    (AVAHI_WATCH_IN | AVAHI_WATCH_OUT));
	if (p.events == 0 || poll(&p, 1, 0) <= 0)
		return;
	if (p.revents & POLLNVAL)
		p.revents = POLLERR;
	for (i = 0; i < WATCHES; i++) {
		w = &d->watches[i];
		if (!w->used || w->fd != fd)
			continue;
		w->revents = (AvahiWatchEvent)(p.revents & (w->events |
		    AVAHI_WATCH_ERR | AVAHI_WATCH_HUP));
		w->ready = w->revents != 0;
	}
}

static void
run_watches(struct discover *d)
{
	struct AvahiWatch *w;
	size_t i;

	for (i = 0; i < WATCHES; i++) {
		w = &d->watches[i];
		if (!w->used || !w->ready)
			continue;
		w->ready = 0;
		w->cb(w, w->fd, w->revents, w->userdata);
	}
}

/* A timeout is disarmed before its callback, which may arm it again. */
static void
run_timeouts(struct discover *d)
{
	struct AvahiTimeout *t;
	struct timeval now;
	size_t i;

	gettimeofday(&now, NULL);
	for (i = 0; i < TIMEOUTS; i++) {
		t = &d->timeouts[i];
		if (!t->used || !t->armed || timercmp(&t->when, &now, >))
			continue;
		t->armed = 0;
		t->cb(t, t->userdata);
	}
}

/* ---- peers ------------------------------------------------------------ */

static void
report(struct discover *d, int found, const struct discover_peer *p)
{
	d->fn(found, p, d->ctx);
}

/* The valid service of device other than skip: the shown one if any. */
static struct service *
device_service(struct discover *d, const uint8_t *device,
    const struct service *skip, int shown)
{
	struct service *s;
	size_t i;

	for (i = 0; i < DISCOVER_SERVICES; i++) {
		s = &d->services[i];
		if (s == skip || !s->used || !s->valid ||
		    (shown && !s->shown) ||
		    memcmp(s->peer.device, device, NUSA_KEY_LEN) != 0)
			continue;
		return s;
	}
	return NULL;
}

/* s no longer vouches for its device: another service of the device takes
 * over, or the device is gone. */
static void
service_invalidate(struct discover *d, struct service *s)
{
	struct service *o;

	if (!s->valid)
		return;
	s->valid = 0;
	if (!s->shown)
		return;
	s->shown = 0;
	if ((o = device_service(d, s->peer.device, s, 0)) == NULL) {
		report(d, 0, &s->peer);
		return;
	}
	o->shown = 1;
	if (memcmp(&o->peer, &s->peer, sizeof o->peer) != 0)
		report(d, 1, &o->peer);
}

static void
service_update(struct discover *d, struct service *s,
    const struct discover_peer *p)
{
	struct service *cur;

	if (s->valid && memcmp(s->peer.device, p->device, NUSA_KEY_LEN) != 0)
		service_invalidate(d, s);
	cur = device_service(d, p->device, NULL, 1);
	if (cur == s && memcmp(&s->peer, p, sizeof *p) == 0)
		return;
	s->peer = *p;
	s->valid = 1;
	if (cur == NULL || cur == s) {
		s->shown = 1;
		report(d, 1, &s->peer);
	}
}

static void
service_drop(struct discover *d, struct service *s)
{
	service_invalidate(d, s);
	if (s->resolver != NULL)
		avahi_service_resolver_free(s->resolver);
	memset(s, 0, sizeof *s);
}

/* Forgets every service; with tell, the caller hears that each peer is
 * gone (once per device, without handing over between services). */
static void
services_drop(struct discover *d, int tell)
{
	struct service *s;
	size_t i;

	for (i = 0; i < DISCOVER_SERVICES; i++) {
		s = &d->services[i];
		if (!s->used)
			continue;
		if (tell && s->valid && s->shown)
			report(d, 0, &s->peer);
		s->resolver = NULL;	/* the client frees it */
		memset(s, 0, sizeof *s);
	}
}

/* Returns a pointer to the value of key in one TXT string, or NULL.
 * Keys are case-insensitive (RFC 6763, 6.4). */
static const char *
txt_value(const char *t, size_t n, const char *key, size_t *len)
{
	size_t k = strlen(key);

	if (n <= k || t[k] != '=' || strncasecmp(t, key, k) != 0)
		return NULL;
	*len = n - k - 1;
	return t + k + 1;
}

static int
lower_hex(uint8_t *bin, size_t binlen, const char *v, size_t len)
{
	char buf[2 * NUSA_KEY_LEN + 1];
	size_t i;

	if (len != 2 * binlen || len >= sizeof buf)
		return -NUSA_EMALFORMED;
	for (i = 0; i < len; i++)
		if (!((v[i] >= '0' && v[i] <= '9') ||
		    (v[i] >= 'a' && v[i] <= 'f')))
			return -NUSA_EMALFORMED;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return nusa_unhex(bin, binlen, buf);
}

/* Fills p's device, nethash and proto from a TXT record. Returns 0 or
 * -NUSA_EMALFORMED: a key missing, given twice or with a bad value.
 * Unknown keys are left for later versions. */
static int
txt_parse(AvahiStringList *txt, struct discover_peer *p)
{
	AvahiStringList *l;
	const char *t, *v;
	unsigned seen = 0, proto = 0;
	size_t n, len, i;

	for (l = txt; l != NULL; l = avahi_string_list_get_next(l)) {
		t = (const char *)avahi_string_list_get_text(l);
		n = avahi_string_list_get_size(l);
		if ((v = txt_value(t, n, "v", &len)) != NULL) {
			if ((seen & 1) || len == 0 || len > 9 ||
			    (len > 1 && v[0] == '0'))
				return -NUSA_EMALFORMED;
			for (i = 0; i < len; i++) {
				if (v[i] < '0' || v[i] > '9')
					return -NUSA_EMALFORMED;
				proto = proto * 10 + (unsigned)(v[i] - '0');
			}
			seen |= 1;
		} else if ((v = txt_value(t, n, "id", &len)) != NULL) {
			if ((seen & 2) || lower_hex(p->device,
			    sizeof p->device, v, len) != 0)
				return -NUSA_EMALFORMED;
			seen |= 2;
		} else if ((v = txt_value(t, n, "net", &len)) != NULL) {
			if ((seen & 4) || lower_hex(p->nethash,
			    sizeof p->nethash, v, len) != 0)
				return -NUSA_EMALFORMED;
			seen |= 4;
		}
	}
	if (seen != 7)
		return -NUSA_EMALFORMED;
	p->proto = proto;
	return 0;
}

/* Fills p->addr from an IPv4 address a peer can listen on. */
static int
peer_addr(struct discover_peer *p, const AvahiAddress *a, uint16_t port)
{
	char s[AVAHI_ADDRESS_STR_MAX];
	const uint8_t *b;

	if (a == NULL || a->proto != AVAHI_PROTO_INET || port == 0)
		return -NUSA_EMALFORMED;
	b = (const uint8_t *)&a->data.ipv4.address;
	/* this network, loopback, multicast and reserved, broadcast */
	if (b[0] == 0 || b[0] == 127 || b[0] >= 224)
		return -NUSA_EMALFORMED;
	if (avahi_address_snprint(s, sizeof s, a) == NULL)
		return -NUSA_EMALFORMED;
	snprintf(p->addr, sizeof p->addr, "tcp://%s:%u", s, (unsigned)port);
	return 0;
}

static void
resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
    AvahiResolverEvent event, const char *name, const char *type,
    const char *domain, const char *host, const AvahiAddress *a,
    uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags,
    void *userdata)
{
	struct service *s = userdata;
	struct discover *d = s->d;
	struct discover_peer p;

	(void)iface;
	(void)proto;
	(void)name;
	(void)type;
	(void)domain;
	(void)host;
	(void)flags;
	if (!s->used || s->resolver != r)
		return;
	if (event != AVAHI_RESOLVER_FOUND) {
		/* Timed out, or the records went: try again later. */
		avahi_service_resolver_free(r);
		s->resolver = NULL;
		s->retry_at = now_ms() + RESOLVE_RETRY_MS;
		service_invalidate(d, s);
		return;
	}
	memset(&p, 0, sizeof p);
	s->junk = 1;
	if (txt_parse(txt, &p) != 0 || peer_addr(&p, a, port) != 0) {
		service_invalidate(d, s);
		return;
	}
	if (memcmp(p.device, d->device, NUSA_KEY_LEN) == 0) {
		/* Our own service, or else another box holds our device
		 * key: a cloned SD card maybe. */
		if (!s->local)
			set_status(d, "service \"%s\" on the LAN claims this "
			    "box's device id", s->name);
		service_invalidate(d, s);
		return;
	}
	s->junk = 0;
	service_update(d, s, &p);
}

static void
resolve(struct discover *d, struct service *s)
{
	s->retry_at = 0;
	s->resolver = avahi_service_resolver_new(d->client, s->iface,
	    s->proto, s->name, DISCOVER_TYPE, s->domain, AVAHI_PROTO_INET, 0,
	    resolve_cb, s);
	if (s->resolver == NULL)
		s->retry_at = now_ms() + RESOLVE_RETRY_MS;
}

static struct service *
service_find(struct discover *d, AvahiIfIndex iface, AvahiProtocol proto,
    const char *name, const char *domain)
{
	struct service *s;
	size_t i;

	for (i = 0; i < DISCOVER_SERVICES; i++) {
		s = &d->services[i];
		if (s->used && s->iface == iface && s->proto == proto &&
		    strcmp(s->name, name) == 0 &&
		    strcmp(s->domain, domain) == 0)
			return s;
	}
	return NULL;
}

static void
service_new(struct discover *d, AvahiIfIndex iface, AvahiProtocol proto,
    const char *name, const char *domain, int local)
{
	struct service *s = NULL;
	size_t i;

	if (strlen(name) >= sizeof s->name ||
	    strlen(domain) >= sizeof s->domain)
		return;
	if (service_find(d, iface, proto, name, domain) != NULL)
		return;
	for (i = 0; i < DISCOVER_SERVICES && s == NULL; i++)
		if (!d->services[i].used)
			s = &d->services[i];
	/* Full: a service of no use (malformed, ours, not resolving) makes
	 * room, so that junk on the LAN cannot crowd out real boxes. */
	for (i = 0; i < DISCOVER_SERVICES && s == NULL; i++)
		if (d->services[i].junk || d->services[i].resolver == NULL) {
			s = &d->services[i];
			service_drop(d, s);
		}
	if (s == NULL) {
		/* All are boxes or still resolving: browsing again later
		 * lists the ignored ones again, when there may be room. */
		set_status(d, "more than %d %s services on the LAN; ignoring "
		    "some", DISCOVER_SERVICES, DISCOVER_TYPE);
		if (!d->overflow)
			d->rebrowse_at = now_ms() + REBROWSE_MS;
		d->overflow = 1;
		return;
	}
	s->used = 1;
	s->d = d;
	s->iface = iface;
	s->proto = proto;
	s->local = local;
	strcpy(s->name, name);
	strcpy(s->domain, domain);
	resolve(d, s);
}

/* ---- client, publishing, browsing ------------------------------------ */

static void
schedule_retry(struct discover *d, int64_t *at)
{
	*at = now_ms() + d->backoff;
	d->backoff = d->backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
	    d->backoff * 2;
}

/* A failure of the client or the browser: start over at retry_at. */
static void
fail(struct discover *d, int immediately)
{
	d->dead = 1;
	d->running = 0;
	if (immediately)
		d->retry_at = now_ms();
	else
		schedule_retry(d, &d->retry_at);
}

static int
rename_service(struct discover *d)
{
	char *n;

	if (++d->renames > RENAMES_MAX)
		return -1;
	if ((n = avahi_alternative_service_name(d->name)) == NULL)
		return -1;
	if (strlen(n) >= sizeof d->name) {
		avahi_free(n);
		return -1;
	}
	strcpy(d->name, n);
	avahi_free(n);
	return 0;
}

static void publish(struct discover *d);

static void
publish_later(struct discover *d, const char *what, int err)
{
	set_status(d, "cannot publish \"%s\": %s: %s", d->name, what,
	    avahi_strerror(err));
	if (d->group != NULL)
		avahi_entry_group_reset(d->group);
	d->renames = 0;
	schedule_retry(d, &d->publish_at);
}

static void
group_cb(AvahiEntryGroup *g, AvahiEntryGroupState state, void *userdata)
{
	struct discover *d = userdata;

	d->group = g;	/* first called from within avahi_entry_group_new() */
	switch (state) {
	case AVAHI_ENTRY_GROUP_ESTABLISHED:
		d->renames = 0;
		d->backoff = RETRY_MIN_MS;
		break;
	case AVAHI_ENTRY_GROUP_COLLISION:
		/* Another box on the LAN has our instance name. */
		if (rename_service(d) != 0) {
			publish_later(d, "name conflicts",
			    AVAHI_ERR_COLLISION);
			break;
		}
		set_status(d, "name conflict on the LAN; publishing as "
		    "\"%s\"", d->name);
		avahi_entry_group_reset(g);
		publish(d);
		break;
	case AVAHI_ENTRY_GROUP_FAILURE:
		publish_later(d, "entry group",
		    avahi_client_errno(avahi_entry_group_get_client(g)));
		break;
	case AVAHI_ENTRY_GROUP_UNCOMMITED:
	case AVAHI_ENTRY_GROUP_REGISTERING:
		break;
	}
}

static void
publish(struct discover *d)
{
	char id[2 * NUSA_KEY_LEN + 4], net[2 * 16 + 5], v[16];
	AvahiStringList *txt;
	int r;

	d->publish_at = 0;
	if (d->client == NULL || !d->running)
		return;
	if (d->group == NULL &&
	    (d->group = avahi_entry_group_new(d->client, group_cb, d)) ==
	    NULL) {
		publish_later(d, "entry group", avahi_client_errno(d->client));
		return;
	}
	if (!avahi_entry_group_is_empty(d->group))
		return;
	/* A box that does not listen publishes only its web app. */
	if (d->port == 0) {
		r = d->http_port ? avahi_entry_group_add_service(d->group,
		    AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, d->name,
		    "_http._tcp", NULL, NULL, d->http_port, "path=/", NULL) :
		    0;
		if (r < 0)
			publish_later(d, "add service", r);
		else if (d->http_port &&
		    (r = avahi_entry_group_commit(d->group)) < 0)
			publish_later(d, "commit", r);
		return;
	}
	snprintf(v, sizeof v, "v=%u", d->proto);
	memcpy(id, "id=", 3);
	nusa_hex(id + 3, d->device, NUSA_KEY_LEN);
	memcpy(net, "net=", 4);
	nusa_hex(net + 4, d->nethash, sizeof d->nethash);
	if ((txt = avahi_string_list_new(v, id, net, NULL)) == NULL) {
		publish_later(d, "TXT", AVAHI_ERR_NO_MEMORY);
		return;
	}
	/* A local collision: another client of this daemon has the name. */
	while ((r = avahi_entry_group_add_service_strlst(d->group,
	    AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, d->name, DISCOVER_TYPE,
	    NULL, NULL, d->port, txt)) == AVAHI_ERR_COLLISION &&
	    rename_service(d) == 0)
		;
	avahi_string_list_free(txt);
	/* Phones find the web app as a web site of the same name. */
	if (r >= 0 && d->http_port)
		r = avahi_entry_group_add_service(d->group, AVAHI_IF_UNSPEC,
		    AVAHI_PROTO_UNSPEC, 0, d->name, "_http._tcp", NULL, NULL,
		    d->http_port, "path=/", NULL);
	if (r < 0) {
		publish_later(d, "add service", r);
		return;
	}
	if ((r = avahi_entry_group_commit(d->group)) < 0)
		publish_later(d, "commit", r);
}

static void
browse_cb(AvahiServiceBrowser *b, AvahiIfIndex iface, AvahiProtocol proto,
    AvahiBrowserEvent event, const char *name, const char *type,
    const char *domain, AvahiLookupResultFlags flags, void *userdata)
{
	struct discover *d = userdata;
	struct service *s;

	(void)b;
	(void)type;
	if (d->dead)
		return;		/* everything goes at the restart */
	switch (event) {
	case AVAHI_BROWSER_NEW:
		/* Our own service is resolved too, and ignored for its
		 * device id: the daemon flags a service OUR_OWN by its name,
		 * and while we probe a name another box holds, the flag
		 * marks the other box's service. */
		if (name != NULL && domain != NULL)
			service_new(d, iface, proto, name, domain,
			    (flags & AVAHI_LOOKUP_RESULT_LOCAL) != 0);
		break;
	case AVAHI_BROWSER_REMOVE:
		if (name != NULL && domain != NULL &&
		    (s = service_find(d, iface, proto, name, domain)) != NULL)
			service_drop(d, s);
		break;
	case AVAHI_BROWSER_FAILURE:
		/* The browser is dead: start over (from dispatch, not from
		 * within the browser's own callback). */
		set_status(d, "browsing failed: %s; restarting",
		    avahi_strerror(avahi_client_errno(d->client)));
		fail(d, 0);
		break;
	case AVAHI_BROWSER_CACHE_EXHAUSTED:
	case AVAHI_BROWSER_ALL_FOR_NOW:
		break;
	}
}

static void
browse(struct discover *d)
{
	if (d->browser != NULL || d->client == NULL || !d->running ||
	    d->port == 0)
		return;
	d->browser = avahi_service_browser_new(d->client, AVAHI_IF_UNSPEC,
	    AVAHI_PROTO_INET, DISCOVER_TYPE, NULL, 0, browse_cb, d);
	if (d->browser == NULL) {
		set_status(d, "cannot browse: %s; restarting",
		    avahi_strerror(avahi_client_errno(d->client)));
		fail(d, 0);
	}
}

static void
client_cb(AvahiClient *c, AvahiClientState state, void *userdata)
{
	struct discover *d = userdata;
	int err;

	d->client = c;	/* first called from within avahi_client_new() */
	switch (state) {
	case AVAHI_CLIENT_S_RUNNING:
	case AVAHI_CLIENT_S_COLLISION:
	case AVAHI_CLIENT_S_REGISTERING:
		if (!d->running)
			set_status(d, "connected to the Avahi daemon");
		d->running = 1;
		if (state == AVAHI_CLIENT_S_RUNNING) {
			publish(d);
			browse(d);
		} else if (d->group != NULL) {
			/* The daemon is (re)establishing its host name: our
			 * service waits until it runs again. */
			avahi_entry_group_reset(d->group);
		}
		break;
	case AVAHI_CLIENT_CONNECTING:
		d->running = 0;
		set_status(d, "Avahi daemon not running; waiting for it");
		break;
	case AVAHI_CLIENT_FAILURE:
		err = avahi_client_errno(c);
		set_status(d, "lost the Avahi daemon: %s; reconnecting",
		    avahi_strerror(err));
		fail(d, err == AVAHI_ERR_DISCONNECTED);
		break;
	}
}

/* Frees the client and with it the group, the browser and the resolvers;
 * with tell, the caller hears that every peer is gone. */
static void
client_stop(struct discover *d, int tell)
{
	services_drop(d, tell);
	if (d->client != NULL)
		avahi_client_free(d->client);
	d->client = NULL;
	d->group = NULL;
	d->browser = NULL;
	d->running = 0;
	d->dead = 0;
	d->overflow = 0;
}

static int
client_start(struct discover *d)
{
	AvahiClient *c;
	int err = 0;

	d->retry_at = 0;
	c = avahi_client_new(&d->api, AVAHI_CLIENT_NO_FAIL, client_cb, d,
	    &err);
	if (c == NULL) {
		/* The library freed what the callbacks may have seen. */
		d->client = NULL;
		client_stop(d, 1);
		if (err == AVAHI_ERR_NO_MEMORY)
			return -ENOMEM;
		set_status(d, "cannot reach Avahi over the system bus: %s; "
		    "retrying", avahi_strerror(err));
		schedule_retry(d, &d->retry_at);
		return 0;
	}
	d->client = c;
	return 0;
}

/* Restarts, publishes and resolves what failed before, when due. */
static void
maintain(struct discover *d)
{
	int64_t now = now_ms();
	struct service *s;
	size_t i;

	if (d->retry_at != 0 && now >= d->retry_at) {
		d->retry_at = 0;
		if (d->dead || d->client == NULL) {
			client_stop(d, 1);
			if (client_start(d) != 0)
				schedule_retry(d, &d->retry_at);
		}
	}
	if (!d->running || d->dead)
		return;
	if (d->publish_at != 0 && now >= d->publish_at)
		publish(d);
	if (d->overflow && now >= d->rebrowse_at) {
		/* The services we track are listed again, and ignored as
		 * known; the others get the room there is now. */
		d->overflow = 0;
		if (d->browser != NULL)
			avahi_service_browser_free(d->browser);
		d->browser = NULL;
		browse(d);
	}
	for (i = 0; i < DISCOVER_SERVICES; i++) {
		s = &d->services[i];
		if (s->used && s->resolver == NULL && s->retry_at != 0 &&
		    now >= s->retry_at)
			resolve(d, s);
	}
}

/* ---- API ---------------------------------------------------------------- */

int
discover_open(struct discover **out, const char *name, uint16_t port,
    const uint8_t device[NUSA_KEY_LEN], const uint8_t nethash[16],
    unsigned proto, discover_fn fn, void *ctx)
{
	struct discover *d;
	int r;

	*out = NULL;
	if (name == NULL || strlen(name) >= sizeof d->name ||
	    !avahi_is_valid_service_name(name) || fn == NULL)
		return -EINVAL;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return -ENOMEM;
	d->api.userdata = d;
	d->api.watch_new = watch_new;
	d->api.watch_update = watch_update;
	d->api.watch_get_events = watch_get_events;
	d->api.watch_free = watch_free;
	d->api.timeout_new = timeout_new;
	d->api.timeout_update = timeout_update;
	d->api.timeout_free = timeout_free;
	strcpy(d->name, name);
	d->port = port;
	memcpy(d->device, device, NUSA_KEY_LEN);
	memcpy(d->nethash, nethash, sizeof d->nethash);
	d->proto = proto;
	d->fn = fn;
	d->ctx = ctx;
	d->backoff = RETRY_MIN_MS;
	if ((r = client_start(d)) != 0) {
		free(d);
		return r;
	}
	*out = d;
	return 0;
}

void
discover_set_http(struct discover *d, uint16_t port)
{
	if (d == NULL || d->http_port == port)
		return;
	d->http_port = port;
	/* Published already: publish again with the web app. */
	if (d->group && !avahi_entry_group_is_empty(d->group)) {
		avahi_entry_group_reset(d->group);
		publish(d);
	}
}

void
discover_close(struct discover *d)
{
	if (d == NULL)
		return;
	client_stop(d, 0);
	free(d);
}

size_t
discover_pollitems(struct discover *d, zmq_pollitem_t *items, size_t cap)
{
	struct AvahiWatch *w;
	size_t i, j, n = 0;
	short ev;

	for (i = 0; i < WATCHES; i++) {
		w = &d->watches[i];
		if (!w->used)
			continue;
		ev = (short)((w->events & AVAHI_WATCH_IN ? ZMQ_POLLIN : 0) |
		    (w->events & AVAHI_WATCH_OUT ? ZMQ_POLLOUT : 0));
		if (ev == 0)
			continue;
		/* libdbus watches one socket twice: one item per fd. */
		for (j = 0; j < n && items[j].fd != w->fd; j++)
			;
		if (j < n) {
			items[j].events |= ev;
			continue;
		}
		if (n == cap)
			break;
		items[n].socket = NULL;
		items[n].fd = w->fd;
		items[n].events = ev;
		items[n].revents = 0;
		n++;
	}
	return n;
}

static long
until(int64_t at, int64_t now)
{
	if (at <= now)
		return 0;
	return at - now > LONG_MAX ? LONG_MAX : (long)(at - now);
}

long
discover_timeout(struct discover *d)
{
	struct timeval now;
	int64_t t, ms = -1, mono = now_ms();
	struct AvahiTimeout *to;
	size_t i;

	gettimeofday(&now, NULL);
	for (i = 0; i < TIMEOUTS; i++) {
		to = &d->timeouts[i];
		if (!to->used || !to->armed)
			continue;
		/* microseconds, rounded up so that a due timer fires */
		t = ((int64_t)to->when.tv_sec - now.tv_sec) * 1000000 +
		    (to->when.tv_usec - now.tv_usec);
		t = t <= 0 ? 0 : (t + 999) / 1000;
		if (ms < 0 || t < ms)
			ms = t;
	}
	if (d->retry_at != 0 && (ms < 0 || until(d->retry_at, mono) < ms))
		ms = until(d->retry_at, mono);
	if (d->running && !d->dead) {
		if (d->publish_at != 0 &&
		    (ms < 0 || until(d->publish_at, mono) < ms))
			ms = until(d->publish_at, mono);
		if (d->overflow &&
		    (ms < 0 || until(d->rebrowse_at, mono) < ms))
			ms = until(d->rebrowse_at, mono);
		for (i = 0; i < DISCOVER_SERVICES; i++) {
			if (!d->services[i].used ||
			    d->services[i].resolver != NULL ||
			    d->services[i].retry_at == 0)
				continue;
			t = until(d->services[i].retry_at, mono);
			if (ms < 0 || t < ms)
				ms = t;
		}
	}
	return ms < 0 ? -1 : ms > LONG_MAX ? LONG_MAX : (long)ms;
}

void
discover_dispatch(struct discover *d, const zmq_pollitem_t *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (items[i].socket == NULL && items[i].revents != 0)
			mark_ready(d, items[i].fd);
	run_watches(d);
	run_timeouts(d);
	maintain(d);
}

int
discover_running(const struct discover *d)
{
	return d->running;
}

const char *
discover_status(const struct discover *d, unsigned *seen)
{
	if (seen == NULL)
		return d->status;
	if (*seen == d->status_seq)
		return NULL;
	*seen = d->status_seq;
	return d->status;
}
