"""webhook_resend: the shared package of every function (the SAM layer `CommonLayer`)."""
