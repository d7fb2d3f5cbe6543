-- 0003: console member emails are unique per tenant, not across the
-- installation, so that adding a member does not reveal who has an account
-- in another tenant. Operators (tenant_id '') count as one tenant. Logins
-- look accounts up by email alone, through members_login.
DROP INDEX members_email;
CREATE UNIQUE INDEX members_tenant_email ON members (tenant_id, email);
CREATE INDEX members_login ON members (email, id);
