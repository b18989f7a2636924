/*
 * http.c -- the agent's only client: libcurl over TLS to the shim's agent
 * listener.  The server is verified against STATE_DIR/ca.pem and nothing
 * else (no system store), host name included; the client certificate is
 * the agent's own.  The one unverified call is enroll's fetch of the CA,
 * whose pin is checked before anything is trusted (enroll.c).
 */
#include "agent.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

volatile int nx_stop = 0;

#define MAX_ANSWER_BYTES (8 * 1024 * 1024)

typedef struct Buf {
	char *data;
	size_t len;
	bool overflow;
} Buf;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *user)
{
	Buf *b = user;
	size_t n = size * nmemb;
	char *grown;

	if (b->len + n > MAX_ANSWER_BYTES)
	{
		b->overflow = true;
		return 0;
	}
	grown = realloc(b->data, b->len + n + 1);
	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* A stop signal ends a held poll at once. */
static int
on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void) user;
	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	return nx_stop ? 1 : 0;
}

/*
 * The client key and certificate, read together and checked to be a pair:
 * a renewal (this process's or a `nexplane-agent renew` beside it) replaces
 * the two files one after the other, and a call between the two renames
 * must not present a certificate with the other key.
 */
static int
load_pair(NxAgent *a, unsigned char **key, size_t *klen, unsigned char **cert, size_t *clen)
{
	for (int attempt = 0; attempt < 20; attempt++)
	{
		BIO *kb, *cb;
		EVP_PKEY *k = NULL;
		X509 *x = NULL;
		bool ok = false;

		if (nx_read_file(a->path_key, 65536, key, klen) == 0 &&
			nx_read_file(a->path_cert, 65536, cert, clen) == 0)
		{
			kb = BIO_new_mem_buf(*key, (int) *klen);
			cb = BIO_new_mem_buf(*cert, (int) *clen);
			k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
			x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
			ok = k && x && X509_check_private_key(x, k) == 1;
			EVP_PKEY_free(k);
			X509_free(x);
			BIO_free(kb);
			BIO_free(cb);
		}
		if (ok)
			return 0;
		if (*key)
			explicit_bzero(*key, *klen);
		free(*key);
		free(*cert);
		*key = *cert = NULL;
		usleep(50000);
	}
	nx_log(NX_LOG_ERROR, "key.pem and cert.pem are not a pair");
	return -1;
}

/*
 * method path on the shim, with body (or none); the HTTP status, or
 * NX_HTTP_NET when the shim was not reached or the answer was not JSON.
 * *answer (when given) gets the parsed answer, or NULL.
 */
long
nx_http(NxAgent *a, const char *method, const char *path, json_t *body, long timeout_s,
		bool verify, bool client_cert, json_t **answer)
{
	CURL *h = curl_easy_init();
	struct curl_slist *headers = NULL;
	char url[1200];
	char *text = NULL;
	Buf buf = {0};
	long status = NX_HTTP_NET;
	CURLcode rc;
	char errbuf[CURL_ERROR_SIZE] = "";
	unsigned char *key = NULL, *cert = NULL;
	size_t klen = 0, clen = 0;

	if (answer != NULL)
		*answer = NULL;
	if (h == NULL)
		return NX_HTTP_NET;
	snprintf(url, sizeof(url), "%s%s", a->url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "nexplane-agent/" NX_AGENT_VERSION);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
	if (verify)
	{
		curl_easy_setopt(h, CURLOPT_CAINFO, a->path_ca);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	else
	{
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (client_cert)
	{
		struct curl_blob kblob, cblob;

		if (load_pair(a, &key, &klen, &cert, &clen) != 0)
		{
			curl_easy_cleanup(h);
			return NX_HTTP_NET;
		}
		kblob = (struct curl_blob){.data = key, .len = klen, .flags = CURL_BLOB_COPY};
		cblob = (struct curl_blob){.data = cert, .len = clen, .flags = CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cblob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kblob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body != NULL)
	{
		text = json_dumps(body, JSON_COMPACT);
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "");
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
	{
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (answer != NULL && buf.len > 0)
			*answer = json_loadb(buf.data, buf.len, JSON_REJECT_DUPLICATES, NULL);
		a->offline = false;
		a->revoked = status == 403;
		nx_log(NX_LOG_DEBUG, "%s %s: %ld", method, path, status);
	}
	else
	{
		if (!a->offline || nx_log_level == NX_LOG_DEBUG)
			nx_log(NX_LOG_WARN, "%s %s: %s", method, path, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		a->offline = rc != CURLE_ABORTED_BY_CALLBACK || a->offline;
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	free(text);
	free(buf.data);
	if (key)
		explicit_bzero(key, klen);
	free(key);
	free(cert);
	return status;
}
