"""``python -m exphil.cli``: the same as the ``exphil`` console script."""

from exphil.cli import main

main()
