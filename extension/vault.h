/*-------------------------------------------------------------------------
 *
 * vault.h
 *	  Envelope encryption of connector credentials.  This is the only way
 *	  to plaintext: a C API for the workers that run connectors.  No SQL
 *	  function returns what it decrypts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_VAULT_H
#define NX_VAULT_H

#include "nexplane.h"

/*
 * Plaintext in memory that zeroes itself when its memory context is reset
 * or deleted (including on error), or earlier with nx_secret_wipe().
 */
typedef struct NxSecret
{
	unsigned char *data;
	size_t		len;
} NxSecret;

extern NxSecret *nx_secret_alloc(size_t len);
extern void nx_secret_wipe(NxSecret *secret);

/*
 * Encrypt a secret for one credential under its tenant's active data key,
 * creating the tenant's first key if needed.  Returns the stored blob
 * (base64) and the key version.  Runs SPI: call inside SPI_connect.
 */
extern char *nx_vault_encrypt(const char *tenant_id, const char *credential_id,
							  const unsigned char *plain, size_t len,
							  int *version_out);

/* Decrypt a stored blob bound to (tenant, credential).  Inside SPI. */
extern NxSecret *nx_vault_decrypt(const char *tenant_id, const char *credential_id,
								  const char *blob);

/* Load a credential's blob and decrypt it.  Inside SPI. */
extern NxSecret *nx_vault_credential_secret(const char *tenant_id,
											const char *credential_id);

/* The primitives, for the audit keys (audit_mac.c) too. */
extern bool nx_gcm(bool encrypt, const unsigned char *key, const unsigned char *iv,
				   const char *aad, const unsigned char *in, int len,
				   unsigned char *out, unsigned char *tag);
extern void nx_random(unsigned char *buf, int len);

/* For key rotation (vault_rotation.c). */
typedef struct NxTenantKey
{
	int			version;
	NxSecret   *key;			/* 32 bytes, owned by the transaction's cache */
} NxTenantKey;

extern NxTenantKey nx_vault_tenant_key(const char *tenant_id, int version,
									   bool create_if_missing);
extern int	nx_vault_new_tenant_key(const char *tenant_id);
extern bool nx_vault_rewrap(const char *tenant_id, int version);
extern void nx_vault_forget_keys(void);

#endif							/* NX_VAULT_H */
