"""``python -m segsync`` runs the same CLI as the ``segsync`` console script."""

from segsync.cli import main

if __name__ == "__main__":
    main()
