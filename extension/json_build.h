/*-------------------------------------------------------------------------
 *
 * json_build.h
 *	  Building jsonb in C from values in hand, without JSON text.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_JSON_BUILD_H
#define NX_JSON_BUILD_H

#include "nexplane.h"

extern void nx_jb_key(JsonbParseState **ps, const char *key);
extern void nx_jb_string(JsonbParseState **ps, JsonbIteratorToken tok, const char *s, int len);
extern void nx_jb_cstring(JsonbParseState **ps, JsonbIteratorToken tok, const char *s);
extern void nx_jb_int(JsonbParseState **ps, JsonbIteratorToken tok, int32 v);
extern void nx_jb_null(JsonbParseState **ps, JsonbIteratorToken tok);
extern void nx_jb_jsonb(JsonbParseState **ps, JsonbIteratorToken tok, Jsonb *jb);
extern Jsonb *nx_jb_finish(JsonbParseState **ps, JsonbIteratorToken end);
extern Jsonb *nx_jb_empty_array(void);
extern Jsonb *nx_jb_empty_object(void);

#endif							/* NX_JSON_BUILD_H */
