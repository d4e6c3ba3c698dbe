"""Who an account of the web dashboard is: an admin sees every client, every mailbox and the
audit log; an accountant sees the clients they forwarded and the problems with their own
forwards."""

ADMIN = "admin"
ACCOUNTANT = "accountant"
ROLES = (ADMIN, ACCOUNTANT)
