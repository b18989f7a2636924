/*-------------------------------------------------------------------------
 *
 * pki.c
 *	  The agent CA: one per installation, its key made here on first need
 *	  and kept only encrypted; checking agents' CSRs; signing their client
 *	  certificates and the agent listener's server certificate.
 *
 * The CA key is EC P-256.  Stored as PKCS#8 DER under AES-256-GCM with a
 * key derived from the master key by HKDF (label NX_CA_WRAP_LABEL) and
 * additional data naming what it is, as IV | ciphertext | tag.  Nothing
 * returns it: the SQL functions return certificates, pins and fingerprints.
 *
 * A signed certificate takes nothing from the CSR but its public key: the
 * subject, validity, serial and every extension are the server's.  Every
 * OpenSSL handle is released in PG_FINALLY, so an ERROR leaks none.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "master_key.h"
#include "spi_util.h"
#include "vault.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/json.h"

#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define NX_CA_WRAP_LABEL "nexplane agent CA key wrap v1"
#define NX_CA_AAD "nexplane:agent-ca:v1"
#define NX_CA_IV_LEN 12
#define NX_CA_TAG_LEN 16
#define NX_CA_YEARS 20
#define NX_CSR_MAX 16384
#define NX_LISTENER_DAYS 7

/* Every handle one call may hold; released together in PG_FINALLY. */
typedef struct NxPki
{
	EVP_PKEY   *ca_key;
	X509	   *ca_cert;
	X509_REQ   *req;
	X509	   *cert;
	EVP_PKEY   *new_key;
	BIO		   *bio;
	BIGNUM	   *bn;
	unsigned char *der;			/* OPENSSL_malloc'd private key DER */
	int			der_len;
} NxPki;

static void
nx_pki_free(NxPki *p)
{
	EVP_PKEY_free(p->ca_key);
	X509_free(p->ca_cert);
	X509_REQ_free(p->req);
	X509_free(p->cert);
	EVP_PKEY_free(p->new_key);
	BIO_free(p->bio);
	BN_free(p->bn);
	if (p->der)
		OPENSSL_clear_free(p->der, p->der_len);
	memset(p, 0, sizeof(*p));
}

static char *
nx_hex(const unsigned char *b, int n)
{
	char	   *out = palloc(2 * n + 1);

	out[hex_encode((const char *) b, n, out)] = '\0';
	return out;
}

/* The lowercase hex SHA-256 of a DER encoding made by i2d. */
static char *
nx_der_sha256(unsigned char *der, int len)
{
	bytea	   *d;

	if (len <= 0)
		nx_openssl_error("DER encoding");
	d = nx_sha256((const char *) der, len);
	OPENSSL_free(der);
	return nx_hex((unsigned char *) VARDATA(d), 32);
}

/* sha256: of the key's DER SubjectPublicKeyInfo (the pin of docs/agent.md) */
static char *
nx_spki_sha256(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int			len = i2d_PUBKEY(key, &der);

	return nx_der_sha256(der, len);
}

/* The certificate's fingerprint: SHA-256 of its DER, lowercase hex. */
static char *
nx_cert_fingerprint(X509 *cert)
{
	unsigned char *der = NULL;
	int			len = i2d_X509(cert, &der);

	return nx_der_sha256(der, len);
}

static char *
nx_bio_text(BIO *bio)
{
	char	   *data;
	long		len = BIO_get_mem_data(bio, &data);

	return pnstrdup(data, len);
}

static char *
nx_cert_pem(NxPki *p, X509 *cert)
{
	char	   *pem;

	BIO_free(p->bio);
	p->bio = BIO_new(BIO_s_mem());
	if (p->bio == NULL || PEM_write_bio_X509(p->bio, cert) != 1)
		nx_openssl_error("PEM_write_bio_X509");
	pem = nx_bio_text(p->bio);
	BIO_free(p->bio);
	p->bio = NULL;
	return pem;
}

/* ---------- the CA key's wrapping ---------- */

static void
nx_ca_kek(const NxMasterKey *mk, unsigned char *kek)
{
	if (!nx_hkdf_sha256(mk->secret, mk->len, NX_CA_WRAP_LABEL, kek, 32))
		nx_openssl_error("deriving the agent CA key-wrapping key");
}

/* IV | ciphertext | tag of der, as hex for a bound parameter */
static char *
nx_ca_wrap(const unsigned char *der, int len)
{
	unsigned char kek[32];
	int			n = NX_CA_IV_LEN + len + NX_CA_TAG_LEN;
	unsigned char *w = palloc(n);
	bool		ok;

	nx_ca_kek(nx_master_require(), kek);
	nx_random(w, NX_CA_IV_LEN);
	ok = nx_gcm(true, kek, w, NX_CA_AAD, der, len, w + NX_CA_IV_LEN, w + NX_CA_IV_LEN + len);
	explicit_bzero(kek, sizeof(kek));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not wrap the agent CA key")));
	return nx_hex(w, n);
}

/* The CA's private key, unwrapped into p->der and parsed. */
static void
nx_ca_unwrap(NxPki *p, bytea *wrapped, const char *master_key_id)
{
	const NxMasterKey *mk = nx_master_find(master_key_id);
	unsigned char kek[32];
	unsigned char *w = (unsigned char *) VARDATA_ANY(wrapped);
	int			n = VARSIZE_ANY_EXHDR(wrapped) - NX_CA_IV_LEN - NX_CA_TAG_LEN;
	const unsigned char *q;
	bool		ok;

	if (mk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("the master key does not match the one that protects the agent CA key"),
				 errdetail("The agent CA key was wrapped by master key %s; the server has %s.",
						   master_key_id, nx_master_loaded_ids())));
	if (n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the stored agent CA key is malformed")));
	p->der = OPENSSL_malloc(n);
	p->der_len = n;
	if (p->der == NULL)
		elog(ERROR, "out of memory");
	nx_ca_kek(mk, kek);
	ok = nx_gcm(false, kek, w, NX_CA_AAD, w + NX_CA_IV_LEN, n, p->der, w + NX_CA_IV_LEN + n);
	explicit_bzero(kek, sizeof(kek));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not unwrap the agent CA key"),
				 errdetail("The wrapped key failed authentication: it was altered or moved.")));
	q = p->der;
	p->ca_key = d2i_AutoPrivateKey(NULL, &q, n);
	if (p->ca_key == NULL)
		nx_openssl_error("d2i_AutoPrivateKey");
	OPENSSL_clear_free(p->der, p->der_len);
	p->der = NULL;
}

/* ---------- certificates ---------- */

static void
nx_x509_random_serial(NxPki *p, X509 *x)
{
	unsigned char raw[16];

	nx_random(raw, sizeof(raw));
	raw[0] &= 0x7f;				/* positive */
	raw[0] |= 0x40;				/* and a full 16 bytes */
	BN_free(p->bn);
	p->bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (p->bn == NULL || BN_to_ASN1_INTEGER(p->bn, X509_get_serialNumber(x)) == NULL)
		nx_openssl_error("setting a certificate serial");
}

static void
nx_x509_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		nx_openssl_error("making a certificate extension");
	if (X509_add_ext(x, ext, -1) != 1)
	{
		X509_EXTENSION_free(ext);
		nx_openssl_error("X509_add_ext");
	}
	X509_EXTENSION_free(ext);
}

static void
nx_x509_name_add(X509_NAME *name, const char *field, const char *value)
{
	if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
								   (const unsigned char *) value, -1, -1, 0) != 1)
		nx_openssl_error("X509_NAME_add_entry_by_txt");
}

static void
nx_x509_validity(X509 *x, int64 seconds)
{
	time_t		now = time(NULL);

	/* five minutes back, for hosts whose clock is a little behind */
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, &now) == NULL ||
		X509_time_adj_ex(X509_getm_notAfter(x), (int) (seconds / 86400),
						 (long) (seconds % 86400), &now) == NULL)
		nx_openssl_error("setting a certificate's validity");
}

/* Make the CA (key and self-signed certificate) into p. */
static void
nx_ca_make(NxPki *p)
{
	X509_NAME  *name;

	p->ca_key = EVP_EC_gen("P-256");
	if (p->ca_key == NULL)
		nx_openssl_error("EVP_EC_gen");
	p->ca_cert = X509_new();
	if (p->ca_cert == NULL || X509_set_version(p->ca_cert, 2) != 1)
		nx_openssl_error("X509_new");
	nx_x509_random_serial(p, p->ca_cert);
	name = X509_get_subject_name(p->ca_cert);
	nx_x509_name_add(name, "O", "nexplane");
	nx_x509_name_add(name, "CN", "nexplane agent CA");
	if (X509_set_issuer_name(p->ca_cert, name) != 1 ||
		X509_set_pubkey(p->ca_cert, p->ca_key) != 1)
		nx_openssl_error("X509_set_pubkey");
	nx_x509_validity(p->ca_cert, (int64) NX_CA_YEARS * 365 * 86400);
	nx_x509_ext(p->ca_cert, p->ca_cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	nx_x509_ext(p->ca_cert, p->ca_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	nx_x509_ext(p->ca_cert, p->ca_cert, NID_subject_key_identifier, "hash");
	if (X509_sign(p->ca_cert, p->ca_key, EVP_sha256()) <= 0)
		nx_openssl_error("X509_sign");
}

/*
 * Load the CA into p (key only when want_key), making it first when the
 * installation has none.  Inside SPI; the table is read and written with
 * system access, as the owner: no caller's role reads it.
 */
static void
nx_ca_load(NxPki *p, bool want_key)
{
	static const char *select_sql =
		"SELECT cert_pem, wrapped_key, master_key_id, ca_pin FROM nexplane.agent_ca WHERE id = 1";

	if (nx_spi_system(select_sql, 0, NULL) == 0)
	{
		const char *args[3];

		nx_ca_make(p);
		p->der_len = i2d_PrivateKey(p->ca_key, &p->der);
		if (p->der_len <= 0)
			nx_openssl_error("i2d_PrivateKey");
		args[0] = nx_cert_pem(p, p->ca_cert);
		args[1] = nx_ca_wrap(p->der, p->der_len);
		args[2] = nx_master_require()->id;
		OPENSSL_clear_free(p->der, p->der_len);
		p->der = NULL;
		nx_spi_system("INSERT INTO nexplane.agent_ca (id, cert_pem, ca_pin, wrapped_key, master_key_id)"
					  " VALUES (1, $1, 'sha256:' || $4, decode($2, 'hex'), $3)"
					  " ON CONFLICT (id) DO NOTHING", 4,
					  (const char *[]) {args[0], args[1], args[2], nx_spki_sha256(p->ca_key)});
		/* ours, or (read committed) the one a concurrent first use made */
		X509_free(p->ca_cert);
		EVP_PKEY_free(p->ca_key);
		p->ca_cert = NULL;
		p->ca_key = NULL;
		if (nx_spi_system(select_sql, 0, NULL) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not make the agent CA"),
					 errdetail("Another transaction made it at the same time."),
					 errhint("Retry the transaction.")));
	}
	{
		char	   *pem = nx_spi_get(0, 1);

		p->bio = BIO_new_mem_buf(pem, -1);
		if (p->bio == NULL || (p->ca_cert = PEM_read_bio_X509(p->bio, NULL, NULL, NULL)) == NULL)
			nx_openssl_error("reading the agent CA certificate");
		BIO_free(p->bio);
		p->bio = NULL;
	}
	if (want_key)
		nx_ca_unwrap(p, nx_spi_get_bytea(0, 2), nx_spi_get(0, 3));
}

/*
 * Parse a CSR, check its signature and its key: EC P-256 or P-384, or
 * RSA of 2048 bits or more.  NX422 otherwise.  Leaves it in p->req.
 */
static void
nx_csr_read(NxPki *p, const char *pem)
{
	EVP_PKEY   *key;
	char		group[64];
	size_t		glen = 0;

	p->bio = BIO_new_mem_buf(pem, -1);
	if (p->bio == NULL)
		elog(ERROR, "out of memory");
	p->req = PEM_read_bio_X509_REQ(p->bio, NULL, NULL, NULL);
	ERR_clear_error();
	BIO_free(p->bio);
	p->bio = NULL;
	if (p->req == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("csr_pem is not a PEM certificate signing request"),
				 errhint("Send the PKCS#10 request as PEM (-----BEGIN CERTIFICATE REQUEST-----).")));
	key = X509_REQ_get0_pubkey(p->req);
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("the certificate signing request has no usable public key")));
	if (X509_REQ_verify(p->req, key) != 1)
	{
		ERR_clear_error();
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("the certificate signing request's signature does not verify"),
				 errdetail("A CSR must be signed by the private key of the public key it carries.")));
	}
	switch (EVP_PKEY_get_base_id(key))
	{
		case EVP_PKEY_EC:
			if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
											   group, sizeof(group), &glen) == 1 &&
				(strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ||
				 strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0))
				return;
			break;
		case EVP_PKEY_RSA:
			if (EVP_PKEY_get_bits(key) >= 2048)
				return;
			break;
		default:
			break;
	}
	ERR_clear_error();
	ereport(ERROR,
			(errcode(ERRCODE_NX_INVALID),
			 errmsg("the certificate signing request's key is not accepted"),
			 errdetail("Keys must be EC P-256 or P-384, or RSA of at least 2048 bits."),
			 errhint("nexplane-agent makes an EC P-256 key by default.")));
}

static char *
nx_csr_arg(FunctionCallInfo fcinfo, int argno)
{
	return text_to_cstring(nx_arg_text(fcinfo, argno, "csr_pem", NX_CSR_MAX));
}

/*
 * Sign p->req's key: subject CN=cn (and O=org when given), client or
 * server use, SANs names (validated by the caller), valid for seconds.
 * Answers {certificate_pem, serial, fingerprint, not_after, key_sha256}.
 */
static char *
nx_sign(NxPki *p, const char *cn, const char *org, bool server, const char *san,
		int64 seconds)
{
	X509_NAME  *name;
	StringInfoData out;
	const char *key_sha256;
	char	   *serial;
	TimestampTz not_after;

	p->cert = X509_new();
	if (p->cert == NULL || X509_set_version(p->cert, 2) != 1)
		nx_openssl_error("X509_new");
	nx_x509_random_serial(p, p->cert);
	serial = BN_bn2hex(p->bn);
	if (serial == NULL)
		nx_openssl_error("BN_bn2hex");
	{
		char	   *lower = pstrdup(serial);

		OPENSSL_free(serial);
		for (char *c = lower; *c; c++)
			*c = (char) pg_tolower((unsigned char) *c);
		serial = lower;
	}
	name = X509_get_subject_name(p->cert);
	if (org)
		nx_x509_name_add(name, "O", org);
	nx_x509_name_add(name, "CN", cn);
	if (X509_set_issuer_name(p->cert, X509_get_subject_name(p->ca_cert)) != 1 ||
		X509_set_pubkey(p->cert, X509_REQ_get0_pubkey(p->req)) != 1)
		nx_openssl_error("X509_set_pubkey");
	nx_x509_validity(p->cert, seconds);
	nx_x509_ext(p->cert, p->ca_cert, NID_basic_constraints, "critical,CA:FALSE");
	nx_x509_ext(p->cert, p->ca_cert, NID_key_usage, "critical,digitalSignature");
	nx_x509_ext(p->cert, p->ca_cert, NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
	nx_x509_ext(p->cert, p->ca_cert, NID_subject_key_identifier, "hash");
	nx_x509_ext(p->cert, p->ca_cert, NID_authority_key_identifier, "keyid:always");
	if (san)
		nx_x509_ext(p->cert, p->ca_cert, NID_subject_alt_name, san);
	if (X509_sign(p->cert, p->ca_key, EVP_sha256()) <= 0)
		nx_openssl_error("X509_sign");
	key_sha256 = nx_spki_sha256(X509_REQ_get0_pubkey(p->req));
	{
		const ASN1_TIME *na = X509_get0_notAfter(p->cert);
		struct tm	tm;

		if (ASN1_TIME_to_tm(na, &tm) != 1)
			nx_openssl_error("ASN1_TIME_to_tm");
		not_after = time_t_to_timestamptz(timegm(&tm));
	}
	initStringInfo(&out);
	appendStringInfoString(&out, "{\"certificate_pem\": ");
	escape_json(&out, nx_cert_pem(p, p->cert));
	appendStringInfo(&out, ", \"serial\": \"%s\", \"fingerprint\": \"%s\", \"key_sha256\": \"%s\","
					 " \"not_after\": ", serial, nx_cert_fingerprint(p->cert), key_sha256);
	escape_json(&out, timestamptz_to_str(not_after));
	appendStringInfoString(&out, ", \"ca_pem\": ");
	escape_json(&out, nx_cert_pem(p, p->ca_cert));
	appendStringInfoChar(&out, '}');
	return out.data;
}

static Datum
nx_jsonb_text(const char *json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/*
 * nx_agent_ca_rewrap wraps the CA key again under the current master key
 * (rotate_master_key); false when it already is, or there is no CA.
 * Inside SPI.
 */
bool
nx_agent_ca_rewrap(void)
{
	const char *current = nx_master_require()->id;
	NxPki		p = {0};
	volatile bool done = false;

	if (nx_spi_system("SELECT wrapped_key, master_key_id FROM nexplane.agent_ca"
					  " WHERE id = 1 FOR UPDATE", 0, NULL) != 1 ||
		strcmp(nx_spi_get(0, 2), current) == 0)
		return false;
	PG_TRY();
	{
		const char *args[2];

		nx_ca_unwrap(&p, nx_spi_get_bytea(0, 1), nx_spi_get(0, 2));
		p.der_len = i2d_PrivateKey(p.ca_key, &p.der);
		if (p.der_len <= 0)
			nx_openssl_error("i2d_PrivateKey");
		args[0] = nx_ca_wrap(p.der, p.der_len);
		args[1] = current;
		nx_spi_system("UPDATE nexplane.agent_ca SET wrapped_key = decode($1, 'hex'),"
					  " master_key_id = $2 WHERE id = 1", 2, args);
		done = true;
	}
	PG_FINALLY();
	{
		nx_pki_free(&p);
	}
	PG_END_TRY();
	return done;
}

/* ---------- who may call ---------- */

/*
 * nx_require_shim: only the API shim's own role, which has verified the
 * agent's client certificate, may act for an agent.  Not a member of it,
 * not a superuser who knows a fingerprint: the role itself.
 */
void
nx_require_shim(void)
{
	Oid			api_role = get_role_oid("nexplane_api", true);

	if (!OidIsValid(api_role) || GetOuterUserId() != api_role)
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only the API shim may call this function"),
				 errdetail("Agents reach the database through the shim's mutual-TLS listener.")));
}

PG_FUNCTION_INFO_V1(nx_require_shim_sql);
Datum
nx_require_shim_sql(PG_FUNCTION_ARGS)
{
	nx_require_shim();
	PG_RETURN_VOID();
}

/* ---------- SQL ---------- */

/* agent_ca(): {"ca_pem", "ca_pin"}, public; makes the CA on first use. */
PG_FUNCTION_INFO_V1(nx_agent_ca);
Datum
nx_agent_ca(PG_FUNCTION_ARGS)
{
	NxPki		p = {0};
	StringInfoData out;

	initStringInfo(&out);
	SPI_connect();
	PG_TRY();
	{
		nx_ca_load(&p, false);
		appendStringInfoString(&out, "{\"ca_pem\": ");
		escape_json(&out, nx_spi_get(0, 1));
		appendStringInfoString(&out, ", \"ca_pin\": ");
		escape_json(&out, nx_spi_get(0, 4));
		appendStringInfoChar(&out, '}');
	}
	PG_FINALLY();
	{
		nx_pki_free(&p);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(nx_spi_return(DatumGetJsonbP(nx_jsonb_text(out.data))));
}

/*
 * _agent_csr_check(csr_pem): {"key_sha256"} of a CSR whose signature and
 * key pass, for agent_enroll and agent_renew to check before anything.
 */
PG_FUNCTION_INFO_V1(nx_agent_csr_check);
Datum
nx_agent_csr_check(PG_FUNCTION_ARGS)
{
	char	   *pem = nx_csr_arg(fcinfo, 0);
	NxPki		p = {0};
	char	   *volatile out = NULL;

	PG_TRY();
	{
		nx_csr_read(&p, pem);
		out = psprintf("{\"key_sha256\": \"%s\"}", nx_spki_sha256(X509_REQ_get0_pubkey(p.req)));
	}
	PG_FINALLY();
	{
		nx_pki_free(&p);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(nx_jsonb_text(out));
}

/*
 * _agent_sign(csr_pem, agent_id, tenant_id): an agent's client
 * certificate, CN=agent id, O=tenant id, valid nexplane.agent_cert_lifetime.
 */
PG_FUNCTION_INFO_V1(nx_agent_sign);
Datum
nx_agent_sign(PG_FUNCTION_ARGS)
{
	char	   *pem = nx_csr_arg(fcinfo, 0);
	char	   *agent_id;
	char	   *tenant_id;
	NxPki		p = {0};
	char	   *volatile out = NULL;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("agent_id and tenant_id are required")));
	agent_id = nx_uuid_out(PG_GETARG_UUID_P(1));
	tenant_id = nx_uuid_out(PG_GETARG_UUID_P(2));
	SPI_connect();
	PG_TRY();
	{
		nx_csr_read(&p, pem);
		nx_ca_load(&p, true);
		out = nx_sign(&p, agent_id, tenant_id, false, NULL,
					  (int64) nx_agent_cert_lifetime * 86400);
	}
	PG_FINALLY();
	{
		nx_pki_free(&p);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(nx_spi_return(DatumGetJsonbP(nx_jsonb_text(out))));
}

/* A DNS name ([A-Za-z0-9.-], labels of 1..63) or an IP address, as a SAN. */
static const char *
nx_san_entry(const char *name)
{
	unsigned char addr[16];
	size_t		len = strlen(name);

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return psprintf("IP:%s", name);
	if (len == 0 || len > 253 || name[0] == '.' || name[0] == '-' || name[len - 1] == '.' ||
		strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != len ||
		strstr(name, "..") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("\"%s\" is not a host name or an IP address", name),
				 errhint("Names hold letters, digits, '-' and '.', such as agents.example.com.")));
	return psprintf("DNS:%s", name);
}

/*
 * _agent_listener_certificate(csr_pem, names): the shim's agent listener's
 * server certificate, for names (DNS names or IP addresses, 1 to 16),
 * valid 7 days.  Shim only.  Answers {certificate_pem, ca_pem, not_after,
 * serial, fingerprint}.
 */
PG_FUNCTION_INFO_V1(nx_agent_listener_certificate);
Datum
nx_agent_listener_certificate(PG_FUNCTION_ARGS)
{
	char	   *pem;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	StringInfoData san;
	char	   *volatile first = NULL;
	NxPki		p = {0};
	char	   *volatile out = NULL;

	nx_require_shim();
	pem = nx_csr_arg(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("names is required")));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (ARR_NDIM(arr) > 1 || n < 1 || n > 16)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("names must hold 1 to 16 host names or addresses")));
	initStringInfo(&san);
	for (int i = 0; i < n; i++)
	{
		char	   *name;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NX_BAD_INPUT),
					 errmsg("names must not contain nulls")));
		name = TextDatumGetCString(elems[i]);
		appendStringInfo(&san, "%s%s", i ? "," : "", nx_san_entry(name));
		if (i == 0)
			first = name;
	}
	SPI_connect();
	PG_TRY();
	{
		nx_csr_read(&p, pem);
		nx_ca_load(&p, true);
		out = nx_sign(&p, first, "nexplane", true, san.data, (int64) NX_LISTENER_DAYS * 86400);
	}
	PG_FINALLY();
	{
		nx_pki_free(&p);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(nx_spi_return(DatumGetJsonbP(nx_jsonb_text(out))));
}
