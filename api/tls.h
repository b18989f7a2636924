/*
 * tls.h -- the server's TLS context, and the bufferevent of each accepted
 * connection.
 */
#ifndef NX_TLS_H
#define NX_TLS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

/* NULL on failure, after logging why. */
SSL_CTX    *nx_tls_server_ctx(const char *cert_file, const char *key_file);

/*
 * evhttp's bufferevent callback (evhttp_set_bevcb): a server-side TLS
 * connection made from ctx, an SSL_CTX *.  NULL on failure.
 */
struct bufferevent *nx_tls_bufferevent(struct event_base *base, void *ctx);

#endif
