"""`python -m webhook_resend_cli`: the same as the `webhook-resend` script."""

import sys

from webhook_resend_cli.main import main

sys.exit(main())
