"""The base of every error a user can cause and fix; its message is one line, shown without a traceback."""


class FerkitError(Exception):
    pass
