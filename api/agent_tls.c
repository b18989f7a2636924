/*
 * agent_tls.c -- the agent listener's TLS.
 *
 * The listener's key is made in memory (EC P-256) and never written
 * anywhere; the database's agent CA signs its certificate
 * (_agent_listener_certificate), so an agent that trusts only the pinned
 * CA can verify the listener.  Every key and certificate here is
 * OpenSSL's.
 *
 * Client certificates are asked for but not required, so an agent
 * without one can fetch the CA and enroll.  The handshake accepts any
 * certificate (the verify callback returns 1, as nginx's "optional" does)
 * and remembers whether it verified: a request then gets a clear 401
 * rather than a TLS alert, and only a certificate that verified against
 * the agent CA (chain, validity dates, purpose sslclient) yields a
 * fingerprint.  Sessions are never resumed (no tickets, no cache), so
 * every connection's verdict comes from its own handshake.
 */
#include "agent_tls.h"

#include "log.h"
#include "tls.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ex_data of an SSL whose client certificate failed a check: non-NULL */
static int	failed_index = -1;

static const char SESSION_CONTEXT[] = "nexplane-agent";

EVP_PKEY *
nx_agent_tls_key(void)
{
	EVP_PKEY   *key = EVP_EC_gen("P-256");

	if (key == NULL)
		nx_tls_log_error("cannot make the agent listener's key");
	return key;
}

char *
nx_agent_tls_csr(EVP_PKEY *key)
{
	X509_REQ   *req = X509_REQ_new();
	X509_NAME  *name = X509_NAME_new();
	BIO		   *bio = BIO_new(BIO_s_mem());
	BUF_MEM    *mem = NULL;
	char	   *out = NULL;

	/* the database sets the subject and names itself; this is only a label */
	if (req == NULL || name == NULL || bio == NULL ||
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
								   (const unsigned char *) "nexplane agent listener", -1, -1,
								   0) != 1 ||
		X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
		X509_REQ_sign(req, key, EVP_sha256()) <= 0 || PEM_write_bio_X509_REQ(bio, req) != 1)
		nx_tls_log_error("cannot make the agent listener's CSR");
	else
	{
		BIO_get_mem_ptr(bio, &mem);
		out = strndup(mem->data, mem->length);
	}
	BIO_free(bio);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return out;
}

/* Remember a failed check; carry on, so that the request gets the 401. */
static int
verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL		   *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());

	if (!ok && ssl != NULL)
		SSL_set_ex_data(ssl, failed_index, (void *) SESSION_CONTEXT);
	return 1;
}

/* Each certificate of pem: add(ctx, cert, arg); false if none or one fails. */
static bool
each_cert(const char *pem, bool (*add) (SSL_CTX *, X509 *, bool), SSL_CTX *ctx)
{
	BIO		   *bio = BIO_new_mem_buf(pem, -1);
	X509	   *cert;
	int			n = 0;
	bool		ok = bio != NULL;

	while (ok && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
	{
		ok = add(ctx, cert, n == 0);
		X509_free(cert);
		n++;
	}
	ERR_clear_error();			/* the end of the PEM reads as an error */
	BIO_free(bio);
	return ok && n > 0;
}

static bool
add_own(SSL_CTX *ctx, X509 *cert, bool leaf)
{
	return leaf ? SSL_CTX_use_certificate(ctx, cert) == 1 : SSL_CTX_add1_chain_cert(ctx, cert) == 1;
}

static bool
add_trusted(SSL_CTX *ctx, X509 *cert, bool first)
{
	return X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert) == 1 &&
		SSL_CTX_add_client_CA(ctx, cert) == 1;
}

SSL_CTX *
nx_agent_tls_ctx(const char *cert_pem, EVP_PKEY *key, const char *ca_pem)
{
	SSL_CTX    *ctx;

	if (failed_index < 0)
		failed_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx = nx_tls_new_ctx();
	if (ctx == NULL || failed_index < 0)
	{
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (!each_cert(cert_pem, add_own, ctx) || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)
	{
		nx_tls_log_error("the agent listener's certificate does not load or fit its key");
		goto fail;
	}
	if (!each_cert(ca_pem, add_trusted, ctx))
	{
		nx_tls_log_error("the agent CA certificate does not load");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 1);	/* agent certificates are the CA's own */
	SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *) SESSION_CONTEXT,
								   sizeof(SESSION_CONTEXT) - 1);
	/* thousands of idle long polls: no read and write buffers while idle */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

bool
nx_agent_tls_peer(struct evhttp_request *req, char fingerprint[65])
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL		   *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509	   *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	fingerprint[0] = '\0';
	if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
		SSL_get_ex_data(ssl, failed_index) != NULL)
		return false;
	if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32)
		return false;
	for (unsigned int i = 0; i < n; i++)
		snprintf(fingerprint + 2 * i, 3, "%02x", md[i]);
	return true;
}
