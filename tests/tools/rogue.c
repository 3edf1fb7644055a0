/* rogue: a misbehaving peer for the security tests. It connects to a
 * nusad with a device key (enrolled or not) over CURVE and then does one
 * bad thing, printing what the daemon answered:
 *
 *   rogue DIR ADDR SERVER_ID MODE [ARG]
 *
 * DIR is a box directory (device.key, store). MODE is one of
 *   hello      a correct HELLO: prints "welcome" if admitted
 *   garbage    a HELLO, then a frame of random bytes
 *   rehello    as garbage, then a HELLO again on the same connection
 *   early      random bytes instead of a HELLO
 *   oversize   a frame past the protocol's maximum message size
 *   tamper     a HELLO, then a batch of DIR's own entry that holds the
 *              text ARG, with one byte of that text changed (its
 *              signature kept)
 *   othernet   a HELLO for network ARG (64 hex digits)
 *   liar       a HELLO claiming seq ARG of SERVER_ID's own feed, which
 *              it never sends; the session is held for 3 seconds
 *   liarsync   as liar, but it refuses every batch (ACK "refused") and
 *              answers the daemon's DONE with a DONE: caught up
 *   liarhold   as liarsync, but it never says DONE, and holds the session
 *              for 15 seconds
 * Output lines: "welcome N", "error CODE TEXT", "no answer". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "key.h"
#include "proto.h"
#include "store.h"
#include "stream.h"

static int
answer(void *sock, int ms)
{
	struct proto_msg m;
	zmq_msg_t msg;
	int rc;

	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &ms, sizeof(ms));
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, sock, 0) < 0) {
		printf("no answer\n");
		zmq_msg_close(&msg);
		return -1;
	}
	rc = proto_decode(&m, zmq_msg_data(&msg), zmq_msg_size(&msg));
	zmq_msg_close(&msg);
	if (rc != 0)
		printf("undecodable answer\n");
	else if (m.type == PROTO_WELCOME)
		printf("welcome %u\n", (unsigned)m.n);
	else if (m.type == PROTO_ERROR)
		printf("error %u %s\n", (unsigned)m.code, m.text);
	else
		printf("message %c\n", m.type);
	fflush(stdout);
	return rc == 0 ? m.type : -1;
}

/* The entry of our own feed that holds text, as a one-entry batch. */
static int
own_batch(struct store *s, const uint8_t *pk, const char *text, uint8_t *out,
    size_t cap, size_t *len)
{
	struct store_txn *t;
	struct stream *x = NULL;
	struct stream_batch b;
	struct vector *none = NULL;
	int rc;

	(void)pk;
	if ((rc = store_begin(s, &t, STORE_READ)) != 0)
		return rc;
	rc = stream_open(&x, t, none, 0, 1, 0);
	while (rc == 0 && (rc = stream_next(x, t, &b)) == 1) {
		if (memcmp(b.author, pk, NUSA_KEY_LEN) != 0 ||
		    memmem(b.data, b.len, text, strlen(text)) == NULL) {
			rc = 0;
			continue;
		}
		if (b.len > cap) {
			rc = -ERANGE;
			break;
		}
		memcpy(out, b.data, b.len);
		*len = b.len;
		rc = 1;
		break;
	}
	stream_free(&x);
	store_abort(t);
	return rc == 1 ? 0 : -ENOENT;
}

int
main(int argc, char **argv)
{
	char path[4096];
	struct key *k = NULL;
	struct store *s = NULL;
	struct store_txn *t;
	struct proto_buf b = { 0 };
	uint8_t net[NUSA_KEY_LEN], server[NUSA_KEY_LEN], spk[32], cpk[32];
	uint8_t *csk, batch[8192], *big;
	size_t blen = 0;
	void *ctx, *sock;
	const char *mode;
	int rc;

	if (argc < 5) {
		fprintf(stderr, "usage: rogue DIR ADDR SERVER_ID MODE [ARG]\n");
		return 2;
	}
	mode = argv[4];
	if (sodium_init() < 0 || nusa_unhex(server, NUSA_KEY_LEN, argv[3]))
		return 2;
	snprintf(path, sizeof(path), "%s/device.key", argv[1]);
	if ((rc = key_load(&k, path)) != 0) {
		fprintf(stderr, "rogue: %s: %s\n", path, nusa_strerror(rc));
		return 2;
	}
	/* A box that never joined a network has no store: its HELLO
	 * names network zero. */
	memset(net, 0, sizeof(net));
	snprintf(path, sizeof(path), "%s/store", argv[1]);
	if (store_open(&s, path, 0) == 0 &&
	    store_begin(s, &t, STORE_READ) == 0) {
		store_network(t, net, NULL, 0);
		store_abort(t);
	}
	if (strcmp(mode, "othernet") == 0 &&
	    (argc < 6 || nusa_unhex(net, NUSA_KEY_LEN, argv[5]) != 0))
		return 2;
	if (strcmp(mode, "tamper") == 0 && (argc < 6 || s == NULL ||
	    own_batch(s, k->pk, argv[5], batch, sizeof(batch), &blen) != 0)) {
		fprintf(stderr, "rogue: no entry of our own to tamper with\n");
		return 2;
	}
	csk = sodium_malloc(32);
	if (csk == NULL ||
	    crypto_sign_ed25519_pk_to_curve25519(spk, server) != 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(cpk, k->pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(csk, k->sk) != 0)
		return 2;
	ctx = zmq_ctx_new();
	sock = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spk, 32);
	zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, cpk, 32);
	zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, csk, 32);
	zmq_setsockopt(sock, ZMQ_LINGER, &(int){ 2000 }, sizeof(int));
	if (zmq_connect(sock, argv[2]) != 0)
		return 2;

	if (strcmp(mode, "early") == 0) {
		uint8_t junk[64];

		randombytes_buf(junk, sizeof(junk));
		junk[0] = 'Z';
		zmq_send(sock, junk, sizeof(junk), 0);
		answer(sock, 5000);
		goto out;
	}
	if (strcmp(mode, "oversize") == 0) {
		size_t n = PROTO_MSG_MAX + 1;

		if ((big = calloc(1, n)) == NULL)
			return 2;
		big[0] = PROTO_HELLO;
		zmq_send(sock, big, n, 0);
		free(big);
		answer(sock, 3000);
		goto out;
	}
	/* Every other mode starts with a HELLO (with an empty vector, so
	 * the daemon will want to send us everything: we do not read it). */
	proto_hello(&b, 1, net);
	if (strncmp(mode, "liar", 4) == 0) {
		if (argc < 6 || proto_put_item(&b, server,
		    strtoull(argv[5], NULL, 10)) != 0)
			return 2;
	}
	proto_finish_items(&b);
	zmq_send(sock, b.buf, b.len, 0);
	if (answer(sock, 5000) != PROTO_WELCOME)
		goto out;
	if (strcmp(mode, "garbage") == 0 || strcmp(mode, "rehello") == 0) {
		uint8_t junk[200];

		/* A batch, numbered as expected, of random bytes. */
		randombytes_buf(junk, sizeof(junk));
		junk[0] = PROTO_BATCH;
		memset(junk + 1, 0, 4);
		zmq_send(sock, junk, sizeof(junk), 0);
	} else if (strcmp(mode, "tamper") == 0) {
		/* One letter of the text: the entry still decodes, but its
		 * signature no longer verifies. */
		uint8_t *at = memmem(batch, blen, argv[5], strlen(argv[5]));

		at[0] ^= 0x01;
		proto_batch(&b, 0, batch, blen);
		zmq_send(sock, b.buf, b.len, 0);
	}
	if (strcmp(mode, "liarsync") == 0 || strcmp(mode, "liarhold") == 0) {
		int hold = strcmp(mode, "liarhold") == 0;
		int64_t until = (int64_t)time(NULL) + (hold ? 15 : 3);
		struct proto_msg m;
		zmq_msg_t msg;
		int ms = 500;

		zmq_setsockopt(sock, ZMQ_RCVTIMEO, &ms, sizeof(ms));
		while ((int64_t)time(NULL) < until) {
			zmq_msg_init(&msg);
			if (zmq_msg_recv(&msg, sock, 0) < 0) {
				zmq_msg_close(&msg);
				continue;
			}
			rc = proto_decode(&m, zmq_msg_data(&msg),
			    zmq_msg_size(&msg));
			if (rc == 0 && m.type == PROTO_BATCH &&
			    proto_ack(&b, m.number, PROTO_ACK_REFUSED, 0) == 0)
				zmq_send(sock, b.buf, b.len, 0);
			else if (rc == 0 && m.type == PROTO_DONE && !hold &&
			    proto_done(&b) == 0) {
				zmq_send(sock, b.buf, b.len, 0);
				printf("done\n");
			}
			zmq_msg_close(&msg);
			if (rc == 0 && m.type == PROTO_ERROR) {
				printf("error %u %s\n", (unsigned)m.code,
				    m.text);
				break;
			}
		}
		goto out;
	}
	if (strcmp(mode, "liar") == 0) {
		int64_t until = (int64_t)time(NULL) + 3;

		/* Keep the session up, acknowledging nothing. */
		while ((int64_t)time(NULL) < until)
			if (answer(sock, 500) == PROTO_ERROR)
				break;
		goto out;
	}
	/* Skip what the daemon streams to us until its verdict. */
	for (;;) {
		rc = answer(sock, 5000);
		if (rc < 0 || rc == PROTO_ERROR || rc == PROTO_ACK)
			break;
	}
	if (strcmp(mode, "rehello") == 0) {
		/* Same connection, so ZAP is not asked again. */
		proto_hello(&b, 1, net);
		proto_finish_items(&b);
		zmq_send(sock, b.buf, b.len, 0);
		while ((rc = answer(sock, 5000)) >= 0 && rc != PROTO_ERROR &&
		    rc != PROTO_WELCOME)
			;
	}
out:
	free(b.buf);
	zmq_close(sock);
	zmq_ctx_term(ctx);
	sodium_free(csk);
	store_close(s);
	key_free(&k);
	return 0;
}
