"""`webhook-resend`: the command-line client of the webhook-resend API, for users and operators.

Standard library only, so a plain `pip install` of the project runs it without the Lambda
dependencies: `client` speaks HTTP (urllib), `render` turns answers into lines (pure), `main`
maps arguments to requests.
"""

__version__ = "0.1.0"
