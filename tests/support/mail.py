"""Reading the mails an SMTP sink received: the product's own reader (drills/mailpit.py), which
`./run.sh drill` uses on a Docker host, so tests and drills read mail through one implementation."""

from drills.mailpit import Inbox, Mail

__all__ = ["Inbox", "Mail"]
