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

/* A server context with the protocol settings and no certificate yet. */
SSL_CTX    *nx_tls_new_ctx(void);

/* Log OpenSSL's last error after what failed, and clear the queue. */
void		nx_tls_log_error(const char *what);

/*
 * evhttp's bufferevent callback (evhttp_set_bevcb): a server-side TLS
 * connection made from ctx, an SSL_CTX *.  NULL on failure.
 */
struct bufferevent *nx_tls_bufferevent(struct event_base *base, void *ctx);

#endif
