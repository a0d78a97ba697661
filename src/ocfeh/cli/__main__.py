"""``python -m ocfeh.cli``: the ``ocfeh`` command."""

from .entry import main

main()
