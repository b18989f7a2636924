/*-------------------------------------------------------------------------
 *
 * cr_document.h
 *	  A change request's document, built in C from a row in hand.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_CR_DOCUMENT_H
#define NX_CR_DOCUMENT_H

#include "nexplane.h"

#include "access/htup.h"
#include "access/tupdesc.h"

/* What the caller knows of the change request's approvals */
typedef enum NxApprovalsKnown
{
	NX_APPROVALS_NONE,			/* it has none (it is new) */
	NX_APPROVALS_MAYBE,			/* look */
	NX_APPROVALS_SOME			/* it has some: the view builds the document */
} NxApprovalsKnown;

extern Jsonb *nx_cr_document_of_row(HeapTuple tuple, TupleDesc desc, bool may_have_approvals);
extern Jsonb *nx_cr_document_answer(const char *tenant_id, const char *id,
									NxApprovalsKnown approvals, bool system);

#endif							/* NX_CR_DOCUMENT_H */
