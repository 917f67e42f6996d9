"""CLI commands in their own modules; each module lists its click commands in ``COMMANDS``."""

# Load the CLI before any command module: importing one first (``docstream.commands.serve``) would
# otherwise start docstream.cli's registration while that module is half-executed, without COMMANDS.
import docstream.cli  # noqa: F401,E402
