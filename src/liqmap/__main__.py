"""``python -m liqmap``: the same as the ``liqmap`` command."""

from liqmap.cli import main

main()
