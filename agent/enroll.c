/*
 * enroll.c -- the agent's identity: enrollment with a one-time token and
 * the CA pin, and renewal over mutual TLS.  The key pair is made here, on
 * the host, and written 0600; only a CSR signed by it leaves.  The CA is
 * trusted only when the SHA-256 of its SubjectPublicKeyInfo equals the pin
 * the operator was given with the token.
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

void
nx_agent_paths(NxAgent *a)
{
	snprintf(a->path_ca, sizeof(a->path_ca), "%s/ca.pem", a->conf.state_dir);
	snprintf(a->path_key, sizeof(a->path_key), "%s/key.pem", a->conf.state_dir);
	snprintf(a->path_cert, sizeof(a->path_cert), "%s/cert.pem", a->conf.state_dir);
	snprintf(a->path_json, sizeof(a->path_json), "%s/agent.json", a->conf.state_dir);
}

static const char *const state_subdirs[] = {"pending", "done", "backups", "outbox", NULL};

static EVP_PKEY *
make_key(const char *type)
{
	if (strcmp(type, "rsa") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* The key as PEM, and a CSR for it whose only claim is the host name (the CA sets the rest). */
static int
make_csr(EVP_PKEY *key, char **key_pem, char **csr_pem)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	char host[256] = "localhost";
	char *p;
	long n;
	int rc = -1;

	gethostname(host, sizeof(host) - 1);
	*key_pem = *csr_pem = NULL;
	if (req == NULL || name == NULL || kb == NULL || cb == NULL ||
		!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (unsigned char *) host, -1, -1, 0) ||
		!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
		!X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
		!PEM_write_bio_X509_REQ(cb, req) ||
		!PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(kb, &p);
	*key_pem = strndup(p, (size_t) n);
	n = BIO_get_mem_data(cb, &p);
	*csr_pem = strndup(p, (size_t) n);
	rc = *key_pem && *csr_pem ? 0 : -1;
out:
	X509_REQ_free(req);
	X509_NAME_free(name);
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

static X509 *
pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

/* "sha256:" and the hex SHA-256 of the certificate's DER SubjectPublicKeyInfo. */
static int
cert_pin(X509 *x, char out[72])
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int len = i2d_PUBKEY(X509_get0_pubkey(x), &der);

	if (len <= 0)
		return -1;
	SHA256(der, (size_t) len, md);
	OPENSSL_free(der);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
nx_cert_times(const char *path, time_t *not_before, time_t *not_after)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	struct tm tm;
	int rc = -1;

	if (f)
		fclose(f);
	if (x != NULL && ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm))
	{
		*not_before = timegm(&tm);
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
		{
			*not_after = timegm(&tm);
			rc = 0;
		}
	}
	X509_free(x);
	return rc;
}

static int
save_identity(NxAgent *a, const char *key_pem, const char *cert_pem)
{
	json_t *meta = json_pack("{s:s, s:i, s:s}", "agent_id", a->agent_id, "generation",
							 a->generation, "url", a->url);
	int rc = -1;

	if (nx_write_durable(a->path_key, key_pem, strlen(key_pem), 0600) == 0 &&
		nx_write_durable(a->path_cert, cert_pem, strlen(cert_pem), 0644) == 0 &&
		nx_write_json(a->path_json, meta) == 0)
		rc = 0;
	json_decref(meta);
	return rc;
}

static bool
pin_ok(const char *pin)
{
	if (strncmp(pin, "sha256:", 7) != 0 || strlen(pin) != 7 + 64)
		return false;
	for (const char *p = pin + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static const char *
answer_error(json_t *ans)
{
	json_t *e = json_object_get(ans, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (msg == NULL)
		msg = json_string_value(e);
	if (msg == NULL)
		msg = json_string_value(json_object_get(ans, "message"));
	return msg ? msg : "no detail";
}

int
nx_enroll(const char *url, const char *token, const char *pin, const char *state_dir,
		  const char *key_type)
{
	NxAgent a = {0};
	json_t *ans = NULL, *body = NULL;
	const char *ca_pem, *cert_pem, *id;
	char got_pin[72];
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *key = NULL;
	char *key_pem = NULL, *csr_pem = NULL;
	long st;
	int rc = 1;
	char dir[600];

	nx_config_defaults(&a.conf);
	snprintf(a.conf.state_dir, sizeof(a.conf.state_dir), "%s", state_dir);
	snprintf(a.url, sizeof(a.url), "%s", url);
	nx_agent_paths(&a);
	if (strncmp(url, "https://", 8) != 0)
	{
		fprintf(stderr, "nexplane-agent: --url must be https://\n");
		goto out;
	}
	if (!pin_ok(pin))
	{
		fprintf(stderr, "nexplane-agent: --ca-pin must be sha256: and 64 lowercase hex digits\n");
		goto out;
	}
	if (strcmp(key_type, "ec") != 0 && strcmp(key_type, "rsa") != 0)
	{
		fprintf(stderr, "nexplane-agent: --key-type is ec or rsa\n");
		goto out;
	}
	if (nx_mkdir_private(state_dir) != 0)
	{
		fprintf(stderr, "nexplane-agent: state directory %s: %s\n", state_dir, strerror(errno));
		goto out;
	}
	if (access(a.path_key, F_OK) == 0 || access(a.path_json, F_OK) == 0)
	{
		fprintf(stderr, "nexplane-agent: %s already holds an identity; enroll into an empty "
						"state directory\n",
				state_dir);
		goto out;
	}
	/* 1. the CA, unverified, then its pin */
	st = nx_http(&a, "GET", "/v1/agent/ca", NULL, 30, false, false, &ans);
	ca_pem = json_string_value(json_object_get(ans, "ca_pem"));
	if (st != 200 || ca_pem == NULL || (ca = pem_cert(ca_pem)) == NULL)
	{
		fprintf(stderr, "nexplane-agent: GET %s/v1/agent/ca did not give a CA certificate (%ld)\n",
				url, st);
		goto out;
	}
	if (cert_pin(ca, got_pin) != 0 || strcmp(got_pin, pin) != 0)
	{
		fprintf(stderr, "nexplane-agent: the CA's pin is %s, not the --ca-pin given: refusing it\n",
				got_pin);
		goto out;
	}
	if (nx_write_durable(a.path_ca, ca_pem, strlen(ca_pem), 0644) != 0)
	{
		fprintf(stderr, "nexplane-agent: cannot write %s\n", a.path_ca);
		goto out;
	}
	json_decref(ans);
	ans = NULL;
	/* 2. the key and the CSR, here */
	key = make_key(key_type);
	if (key == NULL || make_csr(key, &key_pem, &csr_pem) != 0)
	{
		fprintf(stderr, "nexplane-agent: cannot make a key pair\n");
		goto out;
	}
	/* 3. enroll, the server verified against the pinned CA */
	body = json_pack("{s:s, s:s, s:o}", "token", token, "csr_pem", csr_pem, "facts", nx_host_facts());
	st = nx_http(&a, "POST", "/v1/agents/enroll", body, 60, true, false, &ans);
	cert_pem = json_string_value(json_object_get(ans, "certificate_pem"));
	id = json_string_value(json_object_get(ans, "agent_id"));
	if (st != 201 && st != 200)
	{
		if (st == NX_HTTP_NET)
			fprintf(stderr, "nexplane-agent: enroll: the server was not reached or not verified "
							"against the pinned CA\n");
		else
			fprintf(stderr, "nexplane-agent: enroll refused (%ld): %s\n", st, answer_error(ans));
		goto out;
	}
	if (cert_pem == NULL || !nx_uuid_ok(id) || (cert = pem_cert(cert_pem)) == NULL ||
		X509_check_private_key(cert, key) != 1)
	{
		fprintf(stderr, "nexplane-agent: enroll: the answer holds no certificate for this key\n");
		goto out;
	}
	memcpy(a.agent_id, id, 37);
	a.generation = (int) json_integer_value(json_object_get(ans, "generation"));
	if (a.generation < 1)
		a.generation = 1;
	if (save_identity(&a, key_pem, cert_pem) != 0)
	{
		fprintf(stderr, "nexplane-agent: cannot write the identity into %s\n", state_dir);
		goto out;
	}
	for (int i = 0; state_subdirs[i]; i++)
	{
		snprintf(dir, sizeof(dir), "%s/%s", state_dir, state_subdirs[i]);
		nx_mkdir_private(dir);
	}
	printf("enrolled: agent %s, generation %d\n", a.agent_id, a.generation);
	rc = 0;
out:
	if (key_pem)
		explicit_bzero(key_pem, strlen(key_pem));
	free(key_pem);
	free(csr_pem);
	EVP_PKEY_free(key);
	X509_free(ca);
	X509_free(cert);
	json_decref(ans);
	json_decref(body);
	nx_config_free(&a.conf);
	return rc;
}

/*
 * Renewal: a new key, a CSR, and the generation held.  The new key and
 * certificate replace the old ones only once the answer is in hand; until
 * the new certificate is first used the old one still works (docs/agent.md).
 */
int
nx_renew(NxAgent *a)
{
	EVP_PKEY *key = NULL;
	char *key_pem = NULL, *csr_pem = NULL;
	const char *cert_pem;
	json_t *body = NULL, *ans = NULL;
	X509 *cert = NULL;
	long st;
	int rc = -1;
	char type[4] = "ec";
	FILE *f = fopen(a->path_key, "r");
	EVP_PKEY *old = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	json_t *meta = nx_read_json(a->path_json);

	/* the generation on disk: a `nexplane-agent renew` may have run beside the service */
	if (json_integer_value(json_object_get(meta, "generation")) > 0)
		a->generation = (int) json_integer_value(json_object_get(meta, "generation"));
	json_decref(meta);
	if (f)
		fclose(f);
	if (old != NULL && EVP_PKEY_get_base_id(old) == EVP_PKEY_RSA)
		snprintf(type, sizeof(type), "rsa");
	EVP_PKEY_free(old);
	key = make_key(type);
	if (key == NULL || make_csr(key, &key_pem, &csr_pem) != 0)
		goto out;
	body = json_pack("{s:s, s:i}", "csr_pem", csr_pem, "generation", a->generation);
	st = nx_http(a, "POST", "/v1/agent/renew", body, 60, true, true, &ans);
	cert_pem = json_string_value(json_object_get(ans, "certificate_pem"));
	if (st != 200 && st != 201)
	{
		nx_log(NX_LOG_WARN, "renewal refused (%ld): %s", st, answer_error(ans));
		goto out;
	}
	if (cert_pem == NULL || (cert = pem_cert(cert_pem)) == NULL ||
		X509_check_private_key(cert, key) != 1)
	{
		nx_log(NX_LOG_WARN, "renewal: the answer holds no certificate for the new key");
		goto out;
	}
	a->generation = (int) json_integer_value(json_object_get(ans, "generation"));
	if (save_identity(a, key_pem, cert_pem) != 0 ||
		nx_cert_times(a->path_cert, &a->not_before, &a->not_after) != 0)
	{
		nx_log(NX_LOG_ERROR, "renewal: the new identity cannot be stored");
		goto out;
	}
	nx_log(NX_LOG_INFO, "renewed: generation %d", a->generation);
	rc = 0;
out:
	if (key_pem)
		explicit_bzero(key_pem, strlen(key_pem));
	free(key_pem);
	free(csr_pem);
	EVP_PKEY_free(key);
	X509_free(cert);
	json_decref(body);
	json_decref(ans);
	return rc;
}
