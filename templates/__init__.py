"""The shipped email templates (data, not code).

This folder is installed as the package `abuse_intake.templates` (see
[tool.setuptools] in pyproject.toml) so the renderer finds it both in a
checkout and in an installed wheel. Operators override single files from the
directory named by `[templates] dir`; see abuse_intake.notify.render.
"""
