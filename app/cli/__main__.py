"""``python -m app.cli``: the ``liverburden`` command line."""

from app.cli.main import main

main()
