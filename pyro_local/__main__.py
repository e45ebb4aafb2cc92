"""``python -m pyro_local``: the command line."""

from pyro_local.cli.main import main

if __name__ == "__main__":
    main()
