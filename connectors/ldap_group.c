/*-------------------------------------------------------------------------
 *
 * ldap_group.c
 *	  add_to_group and remove_from_group: one value of a group's member
 *	  attribute, which is member for a groupOfNames and uniqueMember for a
 *	  groupOfUniqueNames, read from the group's objectClass.
 *
 * Membership is asked of the server with a base search whose filter
 * asserts the member's DN (escaped, RFC 4515), so the directory's own
 * matching rule decides, not a string comparison here.  Execute records
 * whether the member was there before; rollback restores exactly that,
 * so undoing an add that changed nothing removes nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "ldap_session.h"

typedef struct NxLdapGroupChange
{
	bool		add;			/* add_to_group, else remove_from_group */
	char	   *group_dn;
	char	   *member_dn;
	const char *attr;			/* member or uniqueMember */
	int			members;		/* values of attr */
} NxLdapGroupChange;

/* Read the change's parameters (or rollback_state's) and the group. */
static bool
nx_ldap_group_open(NxLdap *s, NxLdapGroupChange *g, bool from_state)
{
	char	   *attrs[] = {"objectClass", "member", "uniqueMember", NULL};
	Jsonb	   *src = from_state ? s->call->rollback_state : s->call->params;
	const char *from = from_state ? "rollback_state" : "params";
	LDAPMessage *e;

	g->add = strcmp(s->call->change_type->name, "add_to_group") == 0;
	g->group_dn = nx_ldap_param_dn(s, src, from, "group_dn");
	if (g->group_dn == NULL)
		return false;
	g->member_dn = nx_ldap_param_dn(s, src, from, "member_dn");
	if (g->member_dn == NULL)
		return false;
	if (!nx_ldap_step(s, 10, "binding") || !nx_ldap_login(s))
		return false;
	if (!nx_ldap_step(s, 30, "reading the group"))
		return false;
	if (!nx_ldap_read(s, "group", g->group_dn, NULL, attrs, &e))
		return false;
	if (e == NULL)
	{
		nx_connector_fail(s->out, "group %s does not exist or this login cannot read it",
						  g->group_dn);
		return false;
	}
	if (nx_ldap_has_value(s, e, "objectClass", "groupOfNames"))
		g->attr = "member";
	else if (nx_ldap_has_value(s, e, "objectClass", "groupOfUniqueNames"))
		g->attr = "uniqueMember";
	else
	{
		nx_connector_fail(s->out, "%s is not a groupOfNames or a groupOfUniqueNames", g->group_dn);
		return false;
	}
	(void) nx_ldap_values(s, e, g->attr, &g->members);
	return true;
}

/* Is the member in the group?  The server's matching rule says. */
static bool
nx_ldap_group_has(NxLdap *s, NxLdapGroupChange *g, bool *member)
{
	char	   *attrs[] = {"1.1", NULL};
	char	   *filter = psprintf("(%s=%s)", g->attr, nx_ldap_filter_value(g->member_dn));
	LDAPMessage *e;

	if (!nx_ldap_read(s, "group", g->group_dn, filter, attrs, &e))
		return false;
	*member = e != NULL;
	return true;
}

static Jsonb *
nx_ldap_group_json(NxLdapGroupChange *g, const char *tail)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"group_dn\": ");
	nx_ldap_json_str(&buf, g->group_dn);
	appendStringInfoString(&buf, ", \"member_dn\": ");
	nx_ldap_json_str(&buf, g->member_dn);
	appendStringInfo(&buf, ", \"attribute\": \"%s\"%s}", g->attr, tail);
	return nx_ldap_jsonb(&buf);
}

/* The rollback state: the membership as it was before execute. */
static Jsonb *
nx_ldap_group_state(NxLdapGroupChange *g, bool was_member)
{
	return nx_ldap_group_json(g, psprintf(", \"was_member\": %s", was_member ? "true" : "false"));
}

/*
 * pre_check: the group is one we manage; for an add, the member exists
 * and is not in it yet; for a remove, it is in it and is not the last
 * member of a groupOfNames (whose schema requires one).  Its rollback
 * state is execute's, from the membership read here.
 */
void
nx_ldap_group_pre_check(NxLdap *s)
{
	NxLdapGroupChange g = {0};
	bool		member;

	if (!nx_ldap_group_open(s, &g, false) || !nx_ldap_group_has(s, &g, &member))
		return;
	if (g.add)
	{
		char	   *attrs[] = {"1.1", NULL};
		LDAPMessage *e;

		if (member)
		{
			nx_connector_fail(s->out, "%s is already a member of %s", g.member_dn, g.group_dn);
			return;
		}
		if (!nx_ldap_read(s, "member", g.member_dn, NULL, attrs, &e))
			return;
		if (e == NULL)
		{
			nx_connector_fail(s->out, "member %s does not exist or this login cannot read it",
							  g.member_dn);
			return;
		}
	}
	else
	{
		if (!member)
		{
			nx_connector_fail(s->out, "%s is not a member of %s", g.member_dn, g.group_dn);
			return;
		}
		if (strcmp(g.attr, "member") == 0 && g.members <= 1)
		{
			nx_connector_fail(s->out,
							  "%s is the last member of %s, and a groupOfNames must have one",
							  g.member_dn, g.group_dn);
			return;
		}
	}
	s->out->result = nx_ldap_group_json(&g, psprintf(", \"members\": %d", g.members));
	s->out->rollback_state = nx_ldap_group_state(&g, member);
	s->out->ok = true;
}

/* execute: add or delete the one value; record whether it was there. */
void
nx_ldap_group_execute(NxLdap *s)
{
	NxLdapGroupChange g = {0};
	bool		before;
	bool		after;
	bool		change;

	if (!nx_ldap_group_open(s, &g, false) || !nx_ldap_group_has(s, &g, &before))
		return;
	change = g.add ? !before : before;
	if (!nx_ldap_step(s, 60, g.add ? "adding the member" : "removing the member"))
		return;
	if (change &&
		!nx_ldap_modify(s, psprintf("%s %s %s %s", g.add ? "adding" : "removing", g.member_dn,
									g.add ? "to" : "from", g.group_dn),
						g.group_dn, g.add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, g.attr, g.member_dn,
						false))
		return;
	if (!nx_ldap_group_has(s, &g, &after))
		return;
	s->out->rollback_state = nx_ldap_group_state(&g, before);
	s->out->result = nx_ldap_group_json(&g, psprintf(", \"changed\": %s",
													 change ? "true" : "false"));
	s->out->evidence = nx_ldap_group_json(&g,
										  psprintf(", \"member_before\": %s, \"member_after\": %s",
												   before ? "true" : "false",
												   after ? "true" : "false"));
	s->out->ok = true;
}

/* Was the member there before execute?  From rollback_state when it says. */
static bool
nx_ldap_group_was_member(NxLdap *s, NxLdapGroupChange *g)
{
	if (nx_jsonb_get_cstring(s->call->rollback_state, "attribute") != NULL)
		return nx_jsonb_get_bool(s->call->rollback_state, "was_member");
	return !g->add;
}

/*
 * verify: the member is in the group after an add and out of it after a
 * remove; with undoing, membership is as it was before execute.
 */
void
nx_ldap_group_verify(NxLdap *s)
{
	NxLdapGroupChange g = {0};
	bool		member;
	bool		want;

	if (!nx_ldap_group_open(s, &g, s->call->undoing && s->call->rollback_state != NULL) ||
		!nx_ldap_group_has(s, &g, &member))
		return;
	want = s->call->undoing ? nx_ldap_group_was_member(s, &g) : g.add;
	s->out->evidence = nx_ldap_group_json(&g, psprintf(", \"member\": %s, \"expected\": %s",
													   member ? "true" : "false",
													   want ? "true" : "false"));
	if (member != want)
	{
		nx_connector_fail(s->out, "%s is %s a member of %s", g.member_dn, member ? "still" : "not",
						  g.group_dn);
		return;
	}
	s->out->ok = true;
}

/* rollback: put membership back as rollback_state says it was. */
void
nx_ldap_group_rollback(NxLdap *s)
{
	NxLdapGroupChange g = {0};
	bool		was;
	bool		now;

	if (s->call->rollback_state == NULL)
	{
		nx_connector_fail(s->out, "rollback_state is required");
		return;
	}
	if (!nx_ldap_group_open(s, &g, true))
		return;
	was = nx_ldap_group_was_member(s, &g);
	if (!nx_ldap_step(s, 60, "restoring the membership"))
		return;
	if (!nx_ldap_modify(s, psprintf("%s %s %s %s", was ? "adding back" : "removing", g.member_dn,
									was ? "to" : "from", g.group_dn),
						g.group_dn, was ? LDAP_MOD_ADD : LDAP_MOD_DELETE, g.attr, g.member_dn,
						true))
		return;
	if (!nx_ldap_group_has(s, &g, &now))
		return;
	s->out->result = nx_ldap_group_json(&g, psprintf(", \"member\": %s", now ? "true" : "false"));
	s->out->ok = true;
}
