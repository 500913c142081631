"""Entry point for `pulumi up`: the language host runs this file with this directory on sys.path."""

import team_stack

team_stack.main()
