"""Access control (docs/access-control.md): IAM users, roles and policies, the authorization
of every API call, and STS."""
