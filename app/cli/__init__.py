"""The ``liverburden`` command line: :mod:`.main` dispatches, one module per sub-command.

``python -m app.cli`` runs it too (:mod:`.__main__`).
"""
