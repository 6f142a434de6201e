"""The staff web console (`abuse-intake web`): a second front door onto the library.

auth.py (users, passwords, sessions) has no web framework in it, so the
`users` commands can use it; app.py is the Flask app, served by waitress.
"""
