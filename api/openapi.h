/*
 * openapi.h -- the OpenAPI 3.1 document, generated from the route table.
 */
#ifndef NX_OPENAPI_H
#define NX_OPENAPI_H

/* A JSON text the caller frees. */
char *nx_openapi_document(void);

#endif
