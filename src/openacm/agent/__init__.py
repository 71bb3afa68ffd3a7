"""`openacm agent`: the consumer that ships with openacm (PRODUCT.md, "What 'in use' means here").

It keeps certificates (and, where they are exportable, their keys) written to files on a host,
registers its association so the certificates show InUse and cannot be deleted under it,
rewrites the files after every renewal and runs a reload command. docs/agent.md describes it.

Modules: config (the TOML file, validated), files (atomic writes with modes and owners),
material (the PEM and PKCS#12 bodies written), state (what was deployed, across restarts),
client (the ACM and openacm API calls), loop (one pass, the polling loop, release).
"""
