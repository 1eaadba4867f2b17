"""A page a team shares: named people and their roles, the audit trail, alerts after runs.

Modules, one job each:

``users``    the users file: names, roles, scrypt password hashes; add, remove, passwd, check
``audit``    the append-only JSON Lines audit trail: one line per action, read back by date
``notify``   after a run, its headline and counts to the team's services through Apprise

Their files are ``segsync.private_files``' strict files: 0600, no symlink followed, another
account's file refused, the users file replaced atomically.
"""
