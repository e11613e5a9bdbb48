"""Dockerfile parsing with BuildKit's grammar.

    from dockyard.build.dockerfile import parse, parse_dockerfile
    tree = parse(text)                      # parse tree (BuildKit's Node shape)
    df = parse_dockerfile(text)             # typed instructions split into stages
"""

from dockyard.build.dockerfile.errors import (  # noqa: F401
    DockerfileError,
    DockerfileSyntaxError,
    ExpansionError,
    StageNotFound,
)
from dockyard.build.dockerfile.parser import ParseResult, parse  # noqa: F401
from dockyard.build.dockerfile.shell_lex import ShellLex  # noqa: F401
from dockyard.build.dockerfile.stages import Dockerfile, Stage, parse_dockerfile  # noqa: F401
