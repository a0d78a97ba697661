"""``python -m ocfeh``: the ``ocfeh`` command line."""

from .cli import main

main()
