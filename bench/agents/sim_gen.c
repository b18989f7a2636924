/*
 * sim_gen.c -- agentsim gen N DIR: N EC P-256 keys and CSRs (OpenSSL),
 * written for COPY FROM as DIR/keys.tsv and DIR/csrs.tsv ("index TAB
 * pem", newlines as \n).  run.sh enrolls the CSRs with agent_enroll().
 */
#define _GNU_SOURCE
#include "sim.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

/* PEM with its newlines written as the two characters \n (COPY's text format) */
static void
write_escaped(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '\n')
			fputs("\\n", f);
		else
			fputc(s[i], f);
	}
}

int
cmd_gen(int argc, char **argv)
{
	if (argc != 4)
	{
		fprintf(stderr, "usage: agentsim gen N DIR\n");
		return 2;
	}
	int			n = atoi(argv[2]);
	char		path[4096];
	FILE	   *keys,
			   *csrs;

	snprintf(path, sizeof(path), "%s/keys.tsv", argv[3]);
	if ((keys = fopen(path, "w")) == NULL)
		die("cannot write keys.tsv");
	snprintf(path, sizeof(path), "%s/csrs.tsv", argv[3]);
	if ((csrs = fopen(path, "w")) == NULL)
		die("cannot write csrs.tsv");
	for (int i = 0; i < n; i++)
	{
		EVP_PKEY   *key = EVP_EC_gen("P-256");
		X509_REQ   *req = X509_REQ_new();
		X509_NAME  *name = X509_NAME_new();
		BIO		   *kb = BIO_new(BIO_s_mem()),
				   *rb = BIO_new(BIO_s_mem());
		char		cn[64],
				   *p;
		long		len;

		if (key == NULL || req == NULL || name == NULL || kb == NULL || rb == NULL)
			die("cannot make a key");
		snprintf(cn, sizeof(cn), "bench-agent-%d", i);
		if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (unsigned char *) cn, -1, -1, 0) ||
			!X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key) ||
			!X509_REQ_sign(req, key, EVP_sha256()) ||
			!PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
			!PEM_write_bio_X509_REQ(rb, req))
			die("cannot make a CSR");
		fprintf(keys, "%d\t", i);
		len = BIO_get_mem_data(kb, &p);
		write_escaped(keys, p, (size_t) len);
		fputc('\n', keys);
		fprintf(csrs, "%d\t", i);
		len = BIO_get_mem_data(rb, &p);
		write_escaped(csrs, p, (size_t) len);
		fputc('\n', csrs);
		BIO_free(kb);
		BIO_free(rb);
		X509_NAME_free(name);
		X509_REQ_free(req);
		EVP_PKEY_free(key);
	}
	if (fclose(keys) != 0 || fclose(csrs) != 0)
		die("cannot write the key files");
	return 0;
}
