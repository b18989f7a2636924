/*-------------------------------------------------------------------------
 *
 * roles.c
 *	  The roles of a tenant, in one table, and the one superadmin rule:
 *	  a platform superadmin may do whatever any role of a tenant may.
 *
 * C code asks nx_role_in(); SQL asks _role_in() and _require_role(), and
 * _check_role_name() says which roles an admin may give.  No other place
 * spells out who counts as what.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "roles.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

static const struct
{
	const char *name;
	bool		assignable;		/* may user_create and user_set_role give it? */
}			roles[] = {
	[NX_ROLE_VIEWER] = {"viewer", true},
	[NX_ROLE_APPROVER] = {"approver", true},
	[NX_ROLE_OPERATOR] = {"operator", true},
	[NX_ROLE_ADMIN] = {"admin", true},
	[NX_ROLE_SUPERADMIN] = {"superadmin", false},	/* superadmin_grant() only */
};

/* nx_role_parse finds a role by name; false for a name that is none. */
bool
nx_role_parse(const char *name, NxRole *out)
{
	for (size_t i = 0; i < lengthof(roles); i++)
		if (strcmp(roles[i].name, name) == 0)
		{
			*out = (NxRole) i;
			return true;
		}
	return false;
}

bool
nx_role_is_superadmin(const char *role)
{
	return role != NULL && strcmp(role, roles[NX_ROLE_SUPERADMIN].name) == 0;
}

/* nx_role_in: is role one of the set (any role for an empty set)? */
bool
nx_role_in(const char *role, NxRoleSet set)
{
	NxRole		r;

	if (role == NULL || !nx_role_parse(role, &r))
		return false;
	return set == NX_ANY_ROLE || r == NX_ROLE_SUPERADMIN || (set & NX_ROLE_BIT(r)) != 0;
}

/* The set named by a text[] of role names; an unknown name is a bug. */
NxRoleSet
nx_role_set_from_array(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	NxRoleSet	set = NX_ANY_ROLE;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *name;
		NxRole		r;

		if (nulls[i])
			continue;
		name = TextDatumGetCString(elems[i]);
		if (!nx_role_parse(name, &r))
			elog(ERROR, "unknown role \"%s\"", name);
		set |= NX_ROLE_BIT(r);
	}
	return set;
}

/* _role_in(role, VARIADIC roles): the superadmin rule for SQL callers */
PG_FUNCTION_INFO_V1(nx_role_in_sql);
Datum
nx_role_in_sql(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(nx_role_in(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							  nx_role_set_from_array(PG_GETARG_ARRAYTYPE_P(1))));
}

/* _check_role_name(role): NX422 unless an admin may give this role */
PG_FUNCTION_INFO_V1(nx_check_role_name);
Datum
nx_check_role_name(PG_FUNCTION_ARGS)
{
	NxRole		r;
	StringInfoData names;

	if (!PG_ARGISNULL(0) && nx_role_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &r) &&
		roles[r].assignable)
		PG_RETURN_VOID();
	initStringInfo(&names);
	for (int i = lengthof(roles) - 1; i >= 0; i--)
		if (roles[i].assignable)
			appendStringInfo(&names, "%s%s", names.len ? ", " : "", roles[i].name);
	ereport(ERROR,
			(errcode(ERRCODE_NX_INVALID),
			 errmsg("invalid role"),
			 errdetail("The role must be one of %s.", names.data)));
	PG_RETURN_VOID();
}
