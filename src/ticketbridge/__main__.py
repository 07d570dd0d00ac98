"""Entry point for `python -m ticketbridge`."""

from ticketbridge.cli.entry import main

if __name__ == "__main__":
    main()
