"""``python -m liqmap`` runs the command line."""

from liqmap.cli import main

main()
