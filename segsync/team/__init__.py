"""A page a team shares: named people and their roles, the audit trail, alerts after runs.

Modules, one job each:

``private``  files only their owner reads (0600, no symlink followed, written atomically)
``users``    the users file: names, roles, scrypt password hashes; add, remove, passwd, check
``audit``    the append-only JSON Lines audit trail: one line per action, read back by date
``notify``   after a run, its headline and counts to the team's services through Apprise
"""
