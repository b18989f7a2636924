/*
 * tls.c -- the server's TLS: the context every connection is made from,
 * and the OpenSSL bufferevent libevent's HTTP server reads through.
 *
 * TLS 1.2 minimum; for 1.2 only forward-secret AEAD suites; no
 * compression, no renegotiation, no session tickets (nothing to rotate).
 * TLS 1.3 suites are OpenSSL's defaults, all of which are modern.
 */
#include "tls.h"

#include "log.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

static const char *tls12_ciphers =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void
nx_tls_log_error(const char *what)
{
	char		buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	nx_log("error", "%s: %s", what, e ? buf : "unknown error");
	ERR_clear_error();
}

SSL_CTX *
nx_tls_new_ctx(void)
{
	SSL_CTX    *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
	{
		nx_tls_log_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
						SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1)
	{
		nx_tls_log_error("SSL_CTX_set_cipher_list");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *
nx_tls_server_ctx(const char *cert_file, const char *key_file)
{
	SSL_CTX    *ctx = nx_tls_new_ctx();

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
	{
		nx_tls_log_error("cannot load the TLS certificate");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)
	{
		nx_tls_log_error("cannot load the TLS key, or it does not match the certificate");
		goto fail;
	}
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct bufferevent *
nx_tls_bufferevent(struct event_base *base, void *ctx)
{
	SSL		   *ssl = SSL_new(ctx);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
										 BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}
