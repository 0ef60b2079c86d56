"""Who may do what, and the record of what was done.

:mod:`.keys` holds API keys, roles and permissions (the principal behind each request);
:mod:`.audit` is the hash-chained audit trail every change writes to.
"""
