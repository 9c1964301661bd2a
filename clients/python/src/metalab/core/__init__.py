"""metalab's shared core: the pieces both the client and the services depend on.

Services import from here (and from ``metalab_server``), never from ``metalab._*``.
"""
