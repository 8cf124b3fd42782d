"""The native twin of the compose stack: every service the compose file declares that Debian or PyPI
can provide, started from the project's own files, in a private network namespace where the compose
service names resolve and the same ports are used. See stack.py."""
