/*
 * agent_tls.h -- the agent listener's TLS: its key and CSR, the context
 * made from the certificate the database signs, and the client
 * certificate of a request.
 */
#ifndef NX_AGENT_TLS_H
#define NX_AGENT_TLS_H

#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdbool.h>

/* A fresh EC P-256 key, in memory only; NULL after logging why. */
EVP_PKEY   *nx_agent_tls_key(void);

/* A CSR for key, signed by it, as PEM (caller frees); NULL on failure. */
char	   *nx_agent_tls_csr(EVP_PKEY *key);

/*
 * The listener's context: cert_pem (the leaf, then any chain) with key;
 * client certificates asked for but not required, and verified against
 * the certificates of ca_pem.  NULL after logging why.
 */
SSL_CTX    *nx_agent_tls_ctx(const char *cert_pem, EVP_PKEY *key, const char *ca_pem);

/*
 * The client certificate of req's connection, if the handshake verified
 * it against the agent CA: true, with its fingerprint (lowercase hex
 * SHA-256 of the DER certificate).  False without one or with one that
 * did not verify.
 */
bool		nx_agent_tls_peer(struct evhttp_request *req, char fingerprint[65]);

#endif
