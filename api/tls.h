/*
 * tls.h -- the server's TLS context.
 */
#ifndef NX_TLS_H
#define NX_TLS_H

#include <openssl/ssl.h>

/* NULL on failure, after logging why. */
SSL_CTX *nx_tls_server_ctx(const char *cert_file, const char *key_file);

#endif
